"""Network cuts between hosts, and the nftables rules that make them. Pure.

A cut is directed: `Cut("a", "b")` means b stops hearing a. It is made in b's namespace by an input
rule that drops every packet from a's address, so a's packets still leave a and are lost on the way,
as on a real network: TCP connections are not reset, they stall until someone's timeout notices. A
two-way cut is two cuts; a one-way cut is one (b hears nothing from a, a still hears b, but a TCP
connection that needs both directions stalls either way: what breaks is what a real one-way loss breaks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["TABLE", "Cut", "between", "isolate", "one_way", "ruleset"]

TABLE = "replog_cuts"  # one nftables table per namespace, replaced whole on every change


@dataclass(frozen=True, order=True, slots=True)
class Cut:
    source: str  # the host whose packets are lost
    destination: str  # the host that stops hearing it


def one_way(source: str, destination: str) -> frozenset[Cut]:
    """`destination` stops hearing `source`."""
    return frozenset({Cut(source, destination)})


def between(a: str, b: str) -> frozenset[Cut]:
    """Neither hears the other."""
    return one_way(a, b) | one_way(b, a)


def isolate(host: str, others: Iterable[str]) -> frozenset[Cut]:
    """`host` neither hears nor is heard by any of `others`."""
    cuts: frozenset[Cut] = frozenset()
    for other in others:
        if other != host:
            cuts |= between(host, other)
    return cuts


def ruleset(host: str, cuts: Iterable[Cut], addresses: Mapping[str, str]) -> str:
    """An `nft -f` script that makes `host`'s table drop exactly what `cuts` says it must not hear.

    The script declares the table (a no-op if it exists), deletes it, and declares it again with the
    rules: nft applies a file as one transaction, so there is never a moment with half the rules.
    """
    sources = sorted({addresses[cut.source] for cut in cuts if cut.destination == host})
    script = [f"table inet {TABLE} {{}}", f"delete table inet {TABLE}"]
    if sources:
        script += [
            f"table inet {TABLE} {{",
            "  chain input {",
            "    type filter hook input priority filter; policy accept;",
            f"    ip saddr {{ {', '.join(sources)} }} drop",
            "  }",
            "}",
        ]
    return "\n".join(script) + "\n"
