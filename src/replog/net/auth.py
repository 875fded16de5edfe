"""How a token travels: `Authorization: Bearer <token>`, presented by clients and by nodes to each other."""

from __future__ import annotations

__all__ = ["AUTH_HEADER", "bearer"]

AUTH_HEADER = "Authorization"


def bearer(token: str) -> dict[str, str]:
    """The headers that present `token` (none when no token is configured)."""
    return {AUTH_HEADER: f"Bearer {token}"} if token else {}
