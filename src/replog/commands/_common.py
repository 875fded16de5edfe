"""What every client subcommand shares: options, the client, output, errors and exit codes.

Exit codes: 0 done, 1 the server (or the network) said no, 2 the command line is wrong, 130 interrupted.
Errors go to stderr as `replog: <the server's message>`; with --json a JSON object
`{"error", "status", ...}` is also printed on stdout, so a script reading stdout always gets JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from replog.client import Client, ReplogClientError, RetryPolicy, WriteConcernTimeout
from replog.client._http import DEFAULT_URL, ENV_TOKEN, ENV_URL
from replog.client.tls import ENV_CA_FILE, ENV_CERT_FILE, ENV_KEY_FILE

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Handler",
    "Progress",
    "UsageError",
    "client_for",
    "emit_json",
    "guarded",
    "one_line",
    "output_options",
    "positive_int",
    "target_options",
    "use_colour",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
Handler = Callable[[argparse.Namespace], int]
# The client's default: rides out a master restart of about three seconds before giving up.
RETRY = RetryPolicy()
# With several nodes in --url: the client's default deadline (None), 10 s to ride out a failover.
FAILOVER_TIMEOUT: float | None = None


class UsageError(Exception):
    """The command line is wrong in a way argparse cannot see (e.g. a malformed URL): exit 2."""


def output_options() -> argparse.ArgumentParser:
    """--json and --token, for every command (a parent parser, since the top-level parser is not ours)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", dest="as_json", action="store_true", help="print JSON for scripts")
    parent.add_argument("--token", default=None, help=f"Bearer token, if the node requires one (default: ${ENV_TOKEN})")
    parent.add_argument(
        "--ca-file",
        default=None,
        help=f"PEM CA to verify https nodes against (default: ${ENV_CA_FILE}, else the system's trust store)",
    )
    parent.add_argument(
        "--cert-file",
        default=None,
        help=f"client certificate, for clusters with tls_client_auth (default: ${ENV_CERT_FILE})",
    )
    parent.add_argument("--key-file", default=None, help=f"the key of --cert-file (default: ${ENV_KEY_FILE})")
    return parent


def target_options() -> argparse.ArgumentParser:
    """--url of the master, or of several nodes to fail over between, for commands that talk to the master."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--url",
        default=None,
        help=(
            f"a node's URL, or several comma-separated (default: ${ENV_URL}, else {DEFAULT_URL}); host:port is enough; "
            "with several, a request moves on to the next while one is down or electing a leader, for up to 10 s"
        ),
    )
    return parent


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def client_for(
    url: str | None,
    token: str | None = None,
    *,
    one_node: str | None = None,
    tls: argparse.Namespace | None = None,
) -> Client:
    """The client for `url` (one node, or several comma-separated).

    `one_node` names the option when it must name exactly one node (`faults URL`, `--node`): those talk to
    that node, and going on to another would act on, or read from, a node the user did not name. `tls` is
    the parsed command line, for --ca-file, --cert-file and --key-file.
    """
    files = {name: getattr(tls, name, None) for name in ("ca_file", "cert_file", "key_file")}
    try:
        client = Client(url, token=token, retry=RETRY, failover_timeout=FAILOVER_TIMEOUT, **files)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if one_node is not None and len(client.urls) > 1:
        raise UsageError(f"{one_node} must be one node's URL, got {len(client.urls)}: {','.join(client.urls)}")
    return client


def emit_json(data: Any, stream: TextIO | None = None) -> None:
    print(json.dumps(data, ensure_ascii=False), file=stream or sys.stdout, flush=True)


def one_line(text: str) -> str:
    """A message on one terminal line: line breaks shown as \\n so one line is one message."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def guarded(handler: Handler) -> Handler:
    """Turn every expected failure into its message on stderr and its exit code, never a traceback."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except ReplogClientError as exc:
            _report(exc, as_json=getattr(args, "as_json", False))
            return EXIT_FAILED
        except UsageError as exc:
            print(f"replog: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            # The reader went away (`replog list | head`): stop quietly, as the Python docs advise.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return EXIT_FAILED

    return run


def _report(exc: ReplogClientError, *, as_json: bool) -> None:
    print(f"replog: {exc}", file=sys.stderr, flush=True)
    if as_json:
        body: dict[str, Any] = {"error": str(exc), "status": exc.status}
        if isinstance(exc, WriteConcernTimeout):
            body.update(index=exc.index, w=exc.w)
        emit_json(body)


class Progress:
    """A progress line on stderr: redrawn in place on a terminal, an occasional plain line otherwise.

    Rate-limited so that progress never costs more than the work it reports.
    """

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True) -> None:
        self._stream = stream or sys.stderr
        self._enabled = enabled
        self._tty = self._stream.isatty()
        self._every = 0.1 if self._tty else 2.0
        self._last = time.monotonic()
        self._drawn = False

    def update(self, text: str) -> None:
        now = time.monotonic()
        if not self._enabled or now - self._last < self._every:
            return
        self._last = now
        if self._tty:
            self._stream.write(f"\r\x1b[K{text}")
            self._drawn = True
        else:
            self._stream.write(text + "\n")
        self._stream.flush()

    def done(self) -> None:
        """Erase the in-place line so the final result stands alone."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False
