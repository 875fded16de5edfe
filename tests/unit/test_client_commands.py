"""The CLI subcommands' pure parts: parsing, batching stdin, the health table, exit codes without a server."""

from __future__ import annotations

import argparse
import json

import pytest

from replog.client import MasterHealth, PeerStatus, RetryPolicy, SecondaryHealth
from replog.client.results import Faults
from replog.commands import _common, build_parser, main, register
from replog.commands.append import batches
from replog.commands.faults import describe
from replog.commands.health import render
from tests.e2e.cluster import free_port


def test_register_adds_every_subcommand_with_a_handler() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    for argv in (["append", "m"], ["list"], ["tail", "-f"], ["health"], ["faults", "127.0.0.1:8000"]):
        args = parser.parse_args([*argv, "--json"])
        assert callable(args.handler) and args.as_json


def test_options_parse() -> None:
    args = build_parser().parse_args(["append", "-", "--w", "3", "--request-id", "r", "--timeout-ms", "50"])
    assert (args.msg, args.w, args.request_id, args.timeout_ms, args.url) == ("-", 3, "r", 50, None)
    args = build_parser().parse_args(["faults", "h:1", "--delay-ms", "5", "10", "--error-after-append", "0.5"])
    assert args.delay_ms == [5, 10] and args.error_after_append == 0.5 and args.internal_looping is None
    args = build_parser().parse_args(["list", "--from", "3", "--limit", "2", "--node", "h:8000"])
    assert (args.from_, args.limit, args.node) == (3, 2, "h:8000")


def test_short_w_is_the_same_as_long_w() -> None:
    assert build_parser().parse_args(["append", "hello", "-w", "2"]).w == 2


@pytest.mark.parametrize("argv", [["append"], ["append", "x", "--w", "zero"], ["list", "--from", "0"], ["nope"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_bad_url_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["health", "--url", "ftp://host"]) == 2
    assert capsys.readouterr().err == "replog: not an http(s) URL of a replog node: 'ftp://host'\n"


def test_unreachable_node_exits_1_with_json_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_common, "RETRY", RetryPolicy(attempts=2, base_delay=0.01))
    assert main(["faults", f"127.0.0.1:{free_port()}", "--json"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("replog: cannot reach http://127.0.0.1:") and "Connection refused" in err
    assert out.startswith('{"error": "cannot reach') and '"status": null' in out


@pytest.mark.parametrize(
    ("argv", "option"), [(["faults", "a:1,b:2"], "URL"), (["list", "--node", "a:1,b:2"], "--node")]
)
def test_commands_aimed_at_one_node_refuse_several(
    argv: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err == f"replog: {option} must be one node's URL, got 2: http://a:1,http://b:2\n"


def test_url_takes_several_nodes_and_the_give_up_names_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["append", "--help"]) == 0
    assert "a node's URL, or several comma-separated" in " ".join(capsys.readouterr().out.split())
    monkeypatch.setattr(_common, "RETRY", RetryPolicy(base_delay=0.01, max_delay=0.02))
    monkeypatch.setattr(_common, "FAILOVER_TIMEOUT", 0.2)
    first, second = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("REPLOG_URL", f"{first},{second}")
    assert main(["append", "x", "--json"]) == 1
    out, err = capsys.readouterr()
    assert err.startswith("replog: no node took the request within failover_timeout=0.2 s (")
    assert f"attempts on http://{first}, http://{second}); last error: cannot reach http://" in err
    assert json.loads(out)["status"] is None


def test_batches_strip_line_breaks_and_bound_count_and_bytes() -> None:
    assert list(batches(["a\n", "\n", "b"])) == [["a", "", "b"]]
    assert [len(b) for b in batches([f"{i}\n" for i in range(25)], max_messages=10)] == [10, 10, 5]
    sized = list(batches(["x" * 40 + "\n"] * 5, max_messages=100, max_bytes=100))
    assert [len(b) for b in sized] == [2, 2, 1]
    assert list(batches([])) == []


HEALTH = MasterHealth(
    log_id="L",
    read_only=False,
    quorum_alive=2,
    quorum_needed=2,
    last_index=9,
    waiting=0,
    secondaries=(
        PeerStatus(0, "http://h:8000", "Healthy", "stream", 9, 0, 12, 1, ""),
        PeerStatus(1, "http://h:9000", "Suspected", "stream", 8, 1, 700, 1, ""),
        PeerStatus(2, "http://h:9100", "Unhealthy", "down", 3, 6, None, 4, "connection refused"),
    ),
)


def test_health_table_plain() -> None:
    lines = render(HEALTH, "http://h:7000", colour=False).splitlines()
    assert lines[0].split() == ["NODE", "URL", "STATUS", "INDEX", "LAG", "LAST", "HEARD", "NOTE"]
    assert lines[1].split()[:4] == ["master", "http://h:7000", "read-write", "9"]
    assert "quorum: 2 of 4 alive, 2 needed" in lines[1]
    assert lines[4].split()[2:] == ["http://h:9100", "Unhealthy", "3", "6", "never", "connection", "refused"]
    assert "\x1b" not in "\n".join(lines)
    column = lines[0].index("STATUS")
    assert [line[column:].split()[0] for line in lines] == ["STATUS", "read-write", "Healthy", "Suspected", "Unhealthy"]


def test_health_table_colours_only_the_status() -> None:
    text = render(HEALTH, "http://h:7000", colour=True)
    assert "\x1b[32mread-write" in text and "\x1b[32mHealthy" in text
    assert "\x1b[33mSuspected" in text and "\x1b[31mUnhealthy" in text
    assert "\x1b[" not in text.splitlines()[0]
    read_only = render(
        MasterHealth("L", True, 1, 2, 9, 3, HEALTH.secondaries[2:]), "http://h:7000", colour=True
    ).splitlines()
    assert "\x1b[31mread-only" in read_only[1] and "3 appends waiting" in read_only[1]


def test_health_of_a_secondary() -> None:
    text = render(SecondaryHealth(1, "L", 5, False, "foreign log"), "http://h:9000", colour=False)
    assert text.splitlines()[1].split() == [
        "secondary",
        "1",
        "http://h:9000",
        "not",
        "connected",
        "5",
        "foreign",
        "log",
    ]


def test_faults_description() -> None:
    text = describe(Faults(0.25, (10, 50), 0.0, 3.21))
    assert text.splitlines() == [
        "error_after_append  0.25",
        "delay_ms            10..50",
        "internal_looping    off",
        "server_unavailable  3.2 s left",
    ]
