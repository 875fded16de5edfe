"""Catch-up ships records as they lie on disk (RecordRun): read on the leader, checked on the wire, written as is.

Two real SegmentLogs on disk stand for the leader and the follower; frames go through the real codec.
"""

from __future__ import annotations

import struct
import zlib
from array import array
from pathlib import Path

import pytest

from replog.core.follower import Follower
from replog.core.messages import Append, Welcome
from replog.core.outputs import Persist
from replog.errors import ProtocolError
from replog.storage import records
from replog.storage.memory import MemoryLog
from replog.storage.runs import check_run, run_entries
from replog.storage.segment import SegmentLog
from replog.types import Entry, RecordRun
from replog.wire import codec


def make_entries(lo: int, hi: int, term_of: dict[int, int] | None = None) -> list[Entry]:
    """Payloads of varied sizes, request ids of every kind (none, empty, non-ASCII), terms rising in runs."""
    terms = term_of or {}
    ids = [None, "", "req-кл", None, "r"]
    term = 1
    out = []
    for i in range(lo, hi + 1):
        term = max(term, terms.get(i, term))
        out.append(Entry(i, bytes([i % 251]) * (1 + i % 37), ids[i % 5], term))
    return out


def leader_log(path: Path, entries: list[Entry], **settings: int) -> SegmentLog:
    # No tail cache: every read comes from disk, as it does for a follower far behind.
    store = SegmentLog.open(path, cache_bytes_max=0, **settings)
    store.append(entries)
    store.sync()
    return store


def ship(leader: SegmentLog, follower: SegmentLog, lo: int, bytes_max: int = 1 << 20) -> list[RecordRun]:
    """Stream lo..leader's end as a leader would: read, encode, decode, append_run. Returns the runs sent."""
    sent = []
    while lo <= leader.last_index:
        run = leader.read_for_follower(lo, leader.last_index, bytes_max)
        assert isinstance(run, RecordRun)
        message = codec.decode(codec.encode(Append(lo - 1, run, term=run.last_term)))
        assert isinstance(message, Append) and isinstance(message.entries, RecordRun)
        follower.append_run(message.entries)
        sent.append(run)
        lo = run.last_index + 1
    follower.sync()
    return sent


def test_a_shipped_log_reads_back_the_same_and_survives_a_restart(tmp_path: Path) -> None:
    entries = make_entries(1, 2_000, {700: 3, 701: 4, 1_500: 9})
    leader = leader_log(tmp_path / "leader", entries)
    follower = SegmentLog.open(tmp_path / "follower")
    runs = ship(leader, follower, 1, bytes_max=16_384)
    assert len(runs) > 5  # bounded by bytes_max, so several frames
    assert follower.read(1, 2_000, 1 << 30) == entries
    assert follower.epochs() == leader.epochs() == ((1, 1), (3, 700), (4, 701), (9, 1_500))
    follower.close()
    reopened = SegmentLog.open(tmp_path / "follower")
    assert reopened.read(1, 2_000, 1 << 30) == entries
    assert reopened.epochs() == leader.epochs()
    reopened.append(make_entries(2_001, 2_010, {2_001: 9}))  # and the log goes on from there
    assert reopened.last_index == 2_010


def test_a_run_stops_at_its_segment_and_the_follower_rolls_its_own(tmp_path: Path) -> None:
    entries = make_entries(1, 600)
    leader = leader_log(tmp_path / "leader", entries, segment_bytes_max=4_096)
    follower = SegmentLog.open(tmp_path / "follower", segment_bytes_max=4_096)
    runs = ship(leader, follower, 1)
    segments = sorted((tmp_path / "leader" / "segments").iterdir())
    assert len(runs) == len(segments) > 3  # one run per leader segment, however large bytes_max is
    assert follower.read(1, 600, 1 << 30) == entries
    assert sorted(p.name for p in (tmp_path / "follower" / "segments").iterdir()) == [p.name for p in segments]


def test_a_follower_joins_mid_log(tmp_path: Path) -> None:
    entries = make_entries(1, 300, {120: 5})
    leader = leader_log(tmp_path / "leader", entries)
    follower = SegmentLog.open(tmp_path / "follower")
    follower.append(entries[:100])
    ship(leader, follower, 101, bytes_max=2_000)
    assert follower.read(1, 300, 1 << 30) == entries
    assert follower.epochs() == ((1, 1), (5, 120))


def test_the_tail_cache_still_serves_entries_and_refills_after_a_run(tmp_path: Path) -> None:
    entries = make_entries(1, 50)
    store = SegmentLog.open(tmp_path / "leader")  # the default cache holds all of them
    store.append(entries)
    assert store.read_for_follower(10, 50, 1 << 20) == entries[9:]
    follower = SegmentLog.open(tmp_path / "follower")
    follower.append_run(leader_log(tmp_path / "other", entries).read_for_follower(1, 50, 1 << 20))  # type: ignore[arg-type]
    follower.append(make_entries(51, 60))
    assert follower.read_for_follower(51, 60, 1 << 20) == make_entries(51, 60)  # from the cache again
    assert isinstance(follower.read_for_follower(1, 60, 1 << 20), RecordRun)  # the run's part is on disk only
    assert follower.read(1, 60, 1 << 30) == make_entries(1, 60)


def test_a_memory_store_decodes_a_run(tmp_path: Path) -> None:
    entries = make_entries(1, 40, {20: 2})
    run = leader_log(tmp_path / "leader", entries).read_for_follower(1, 40, 1 << 20)
    assert isinstance(run, RecordRun)
    memory = MemoryLog("x")
    memory.append_run(run)
    assert memory.read(1, 40, 1 << 30) == entries
    assert run_entries(run) == entries


def test_after_cuts_records_and_terms_off_the_front(tmp_path: Path) -> None:
    entries = make_entries(1, 30, {10: 2, 20: 3})
    run = leader_log(tmp_path / "leader", entries).read_for_follower(1, 30, 1 << 20)
    assert isinstance(run, RecordRun)
    assert run.after(0) is run
    assert run.after(30) is None
    for index in (1, 9, 10, 15, 19, 20, 29):
        rest = run.after(index)
        assert rest is not None
        assert run_entries(rest) == entries[index:]
        assert (rest.first_index, rest.last_index, rest.last_term) == (index + 1, 30, 3)
        runs = ((1, 1, 9), (2, 10, 19), (3, 20, 30))  # term, first, last
        assert rest.epochs == tuple((t, max(f, index + 1)) for t, f, last in runs if index + 1 <= last)


def test_a_follower_core_persists_only_the_records_it_lacks(tmp_path: Path) -> None:
    entries = make_entries(1, 20)
    run = leader_log(tmp_path / "leader", entries).read_for_follower(1, 20, 1 << 20)
    assert isinstance(run, RecordRun)
    core = Follower(1, log_id="log-A", synced_index=12, last_term=1)
    core.on_connected()
    core.take_outputs()
    core.on_message(Welcome("log-A", 20, 1, 0, 12))
    core.on_message(Append(0, run, term=1))
    (persist,) = [o for o in core.take_outputs() if isinstance(o, Persist)]
    assert isinstance(persist.entries, RecordRun)
    assert run_entries(persist.entries) == entries[12:]
    assert core.appended_index == 20


def _frame(data: bytes, prev_index: int = 0, term: int = 9) -> bytes:
    run = RecordRun(prev_index + 1, data, array("Q", [len(data)]), ((1, prev_index + 1),))
    return codec.encode(Append(prev_index, run, term=term))


def _records(entries: list[Entry]) -> bytes:
    return b"".join(r.head + r.payload for r in records.encode_records(entries))


def _record(index: int, term: int, request_id: bytes | None, payload: bytes) -> bytes:
    """A record with a correct crc over whatever it holds, even a request id that is not UTF-8."""
    rid = b"" if request_id is None else request_id
    covered = struct.pack("<QQH", index, term, 0xFFFF if request_id is None else len(rid)) + rid + payload
    return struct.pack("<II", 2 + len(rid) + len(payload), zlib.crc32(covered)) + covered


@pytest.mark.parametrize(
    ("data", "prev_index", "words"),
    [
        (b"", 0, "no records"),
        (_records(make_entries(1, 3))[:-1], 0, "record 3: runs 1 bytes past the end"),
        (_records(make_entries(1, 3))[:10], 0, "record 1: 10 bytes, shorter than a record header"),
        (_records(make_entries(1, 3)), 5, "has index 1 where 6 belongs"),
        (_records(make_entries(1, 1)) + _records(make_entries(3, 3)), 0, "has index 3 where 2 belongs"),
        (_record(1, 4, None, b"x") + _record(2, 3, None, b"y"), 0, "record 2: term 3 after term 4"),
        (_record(1, 1, b"\xff\xfe", b"x"), 0, "record 1: request id is not UTF-8"),
        (_record(1, 1, None, b"x")[:-1] + b"y", 0, "record 1: crc mismatch"),
        (_record(1, 12, None, b"x"), 0, "entry of a later term 12"),
    ],
)
def test_a_bad_record_is_a_protocol_error_that_names_it(data: bytes, prev_index: int, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        codec.decode(_frame(data, prev_index))


def test_every_flipped_byte_of_a_run_is_found() -> None:
    data = _records(make_entries(1, 4))
    for position in range(len(data)):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        assert isinstance(check_run(bytes(damaged), 1), str), position
    assert isinstance(check_run(data, 1), RecordRun)
