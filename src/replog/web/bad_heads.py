"""One warning line, not an ERROR traceback, for a request aiohttp could not even parse.

A malformed request head (a bad header, a NUL in the path, a 20 kB line) is answered 400 by aiohttp
before any handler runs, and aiohttp logs it at ERROR with a parser traceback. It is the client's
mistake, not ours: an operator needs the peer and the reason on one line, at WARNING.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

__all__ = ["quiet_bad_request_heads"]

_REASON_CHARS_MAX = 200


class _BadHeadFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            # aiohttp's own message already names the peer: "Error handling request from 127.0.0.1".
            peer = record.getMessage().rpartition(" from ")[2] or "?"
            reason = " ".join(line.strip() for line in str(exc.message).splitlines() if line.strip(" ^"))
            record.msg, record.args = "bad request from %s: %s %s", (peer, exc.code, reason[:_REASON_CHARS_MAX])
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


def quiet_bad_request_heads() -> None:
    logging.getLogger("aiohttp.server").addFilter(_BadHeadFilter())
