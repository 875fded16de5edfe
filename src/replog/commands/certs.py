"""`replog certs DIR [--hosts master,secondary-0,secondary-1,10.0.0.5,...]`: a CA and a certificate per node.

Writes `ca.pem` and `ca-key.pem` (a fresh CA: two runs make two CAs that do not trust each other), then
`<name>.pem` and `<name>-key.pem` for each name in --hosts and for `client` (a client certificate for
clusters with `tls_client_auth: true`). Each node certificate is valid for its name, localhost, 127.0.0.1,
::1 and every IP address in --hosts. Keys are written readable by their owner only (0600). This is for
trying TLS and for tests; with a real PKI, point the tls_* settings at its files instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from replog.commands._common import EXIT_OK, emit_json, guarded

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "certs", help="write a fresh CA and a TLS certificate per node (for trying TLS)", description=__doc__
    )
    parser.add_argument("directory", metavar="DIR", type=Path, help="where to write the files (made if missing)")
    parser.add_argument(
        "--hosts",
        default="master,secondary-0,secondary-1",
        help="comma-separated node names (one certificate each) and IP addresses (in every certificate)",
    )
    parser.add_argument("--json", dest="as_json", action="store_true", help="print the files written as JSON")
    parser.set_defaults(handler=run)


@guarded
def run(args: argparse.Namespace) -> int:
    from replog.net.certs import write_certs  # cryptography is imported only by this command

    written = write_certs(args.directory, args.hosts.split(","))
    if args.as_json:
        certs = {name: {"cert": str(cert), "key": str(key)} for name, (cert, key) in written.certs.items()}
        emit_json({"ca": str(written.ca_file), "ca_key": str(written.ca_key_file), "certs": certs})
        return EXIT_OK
    print(f"CA: {written.ca_file} (its key {written.ca_key_file}: keep it private, or delete it)")
    for name, (cert, key) in written.certs.items():
        print(f"{name}: {cert} {key}")
    return EXIT_OK
