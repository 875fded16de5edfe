"""One conformance suite for every LogStore: MemoryLog and SegmentLog must behave the same.

SegmentLog runs with tiny segments (so reads and appends cross segment boundaries all the time) and both
with and without its tail cache (so the disk read path is covered on its own).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from replog.errors import StorageError
from replog.storage.base import LogStore
from replog.storage.memory import MemoryLog
from replog.storage.meta import write_meta
from replog.storage.segment import SegmentLog
from replog.types import Entry

StoreFactory = Callable[[], LogStore]


def make_entries(lo: int, hi: int, *, size: int = 10) -> list[Entry]:
    return [Entry(i, bytes([i % 256]) * (size + i % 7), None if i % 3 else f"req-{i}") for i in range(lo, hi + 1)]


def expected_read(entries: list[Entry], lo: int, hi: int, bytes_max: int) -> list[Entry]:
    """The reference semantics of read(): clamp, then stop before passing bytes_max, but at least one."""
    out: list[Entry] = []
    total = 0
    for entry in entries[max(lo, 1) - 1 : max(0, min(hi, len(entries)))]:
        if out and total + entry.size_bytes() > bytes_max:
            break
        out.append(entry)
        total += entry.size_bytes()
    return out


@pytest.fixture(params=["memory", "segment", "segment-nocache"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LogStore]:
    if request.param == "memory":
        yield MemoryLog()
        return
    cache_bytes_max = 0 if request.param == "segment-nocache" else 1024
    disk = SegmentLog.open(tmp_path / "data", segment_bytes_max=256, cache_bytes_max=cache_bytes_max)
    yield disk
    disk.close()


def test_a_new_store_is_empty(store: LogStore) -> None:
    assert (store.last_index, store.synced_index, store.log_id) == (0, 0, "")
    assert store.read(1, 10, 1000) == []
    assert store.sync() == 0


def test_append_then_sync_advances_synced_index(store: LogStore) -> None:
    store.append(make_entries(1, 3))
    assert store.last_index == 3
    assert store.synced_index <= 3
    assert store.sync() == 3
    assert store.synced_index == 3
    store.append(make_entries(4, 5))
    assert store.sync() == 5


def test_read_returns_what_was_appended(store: LogStore) -> None:
    entries = make_entries(1, 60)
    for lo in range(1, 61, 7):
        store.append(entries[lo - 1 : min(lo + 6, 60)])
    assert store.read(1, 60, 10**9) == entries
    assert store.read(17, 42, 10**9) == entries[16:42]


def test_read_clamps_its_range(store: LogStore) -> None:
    entries = make_entries(1, 5)
    store.append(entries)
    assert store.read(0, 100, 10**9) == entries
    assert store.read(4, 100, 10**9) == entries[3:]
    assert store.read(6, 10, 10**9) == []
    assert store.read(3, 2, 10**9) == []


def test_read_honours_bytes_max_but_returns_at_least_one(store: LogStore) -> None:
    entries = [Entry(1, b"a" * 500), Entry(2, b"b" * 10), Entry(3, b"c" * 10), Entry(4, b"d" * 10)]
    store.append(entries)
    assert store.read(1, 4, 1) == entries[:1]
    assert store.read(2, 4, 0) == entries[1:2]
    two = entries[1].size_bytes() + entries[2].size_bytes()
    assert store.read(2, 4, two) == entries[1:3]
    assert store.read(2, 4, two - 1) == entries[1:2]


def test_random_reads_match_the_reference(store: LogStore) -> None:
    rng = random.Random(7)
    entries = [
        Entry(i, rng.randbytes(rng.randrange(0, 120)), rng.choice([None, "", f"r{i}", f"ключ-{i}"]))
        for i in range(1, 201)
    ]
    position = 0
    while position < len(entries):
        batch = rng.randrange(1, 12)
        store.append(entries[position : position + batch])
        position += batch
    for _ in range(300):
        lo, hi = rng.randrange(0, 210), rng.randrange(0, 210)
        bytes_max = rng.choice([0, 50, 200, 1000, 10**9])
        assert store.read(lo, hi, bytes_max) == expected_read(entries, lo, hi, bytes_max), (lo, hi, bytes_max)


@pytest.mark.parametrize("first", [0, 2, 5])
def test_out_of_order_append_raises_and_changes_nothing(store: LogStore, first: int) -> None:
    store.append(make_entries(1, 3))
    with pytest.raises(AssertionError):
        store.append(make_entries(first, first + 1))
    assert store.last_index == 3
    store.append(make_entries(4, 4))
    assert store.read(1, 10, 10**9) == make_entries(1, 4)


def test_a_gap_inside_a_batch_raises(store: LogStore) -> None:
    with pytest.raises(AssertionError):
        store.append([Entry(1, b"a"), Entry(3, b"c")])
    assert store.last_index == 0


def test_appending_nothing_is_a_no_op(store: LogStore) -> None:
    store.append([])
    assert store.last_index == 0


def test_request_ids_round_trip(store: LogStore) -> None:
    entries = [Entry(1, b"x", None), Entry(2, b"", ""), Entry(3, b"y", "abc"), Entry(4, b"\x00\xff", "ид-✓")]
    store.append(entries)
    assert store.read(1, 4, 10**9) == entries


def test_an_entry_larger_than_a_segment(store: LogStore) -> None:
    entries = [Entry(1, b"s"), Entry(2, b"L" * 5000, "big"), Entry(3, b"t")]
    store.append(entries)
    assert store.read(1, 3, 0) == entries[:1]
    assert store.read(2, 3, 0) == entries[1:2]
    assert store.read(1, 3, 10**9) == entries


def test_set_log_id(store: LogStore) -> None:
    store.set_log_id("abc123")
    assert store.log_id == "abc123"


def test_set_log_id_persists_across_reopen(tmp_path: Path) -> None:
    with SegmentLog.open(tmp_path) as disk:
        disk.set_log_id("log-1")
    with SegmentLog.open(tmp_path) as disk:
        assert disk.log_id == "log-1"


def with_terms(entries: list[Entry], terms: list[int]) -> list[Entry]:
    return [entry._replace(term=term) for entry, term in zip(entries, terms, strict=True)]


def test_terms_round_trip_and_form_epochs(store: LogStore) -> None:
    entries = with_terms(make_entries(1, 40), [0] * 5 + [1] * 12 + [3] * 3 + [7] * 20)
    for lo in range(1, 41, 9):
        store.append(entries[lo - 1 : lo + 8])
    store.sync()
    assert store.read(1, 40, 10**9) == entries
    assert [e.term for e in store.read(1, 40, 10**9)] == [e.term for e in entries]
    assert store.epochs() == ((0, 1), (1, 6), (3, 18), (7, 21))
    assert [store.term_at(i) for i in range(41)] == [0] + [e.term for e in entries]


def test_an_empty_store_has_no_epochs(store: LogStore) -> None:
    assert store.epochs() == ()
    assert store.term_at(0) == 0
    with pytest.raises(AssertionError):
        store.term_at(1)


def test_one_batch_may_span_several_terms(store: LogStore) -> None:
    store.append(with_terms(make_entries(1, 6), [2, 2, 4, 5, 5, 5]))
    assert store.epochs() == ((2, 1), (4, 3), (5, 4))
    store.append(with_terms(make_entries(7, 8), [5, 5]))
    assert store.epochs() == ((2, 1), (4, 3), (5, 4))
    assert (store.term_at(6), store.term_at(8)) == (5, 5)


@pytest.mark.parametrize("terms", [[3, 2], [4, 4, 1], [0]])
def test_a_term_that_decreases_raises_and_changes_nothing(store: LogStore, terms: list[int]) -> None:
    store.append(with_terms(make_entries(1, 2), [1, 3]))
    with pytest.raises(AssertionError, match="term"):
        store.append(with_terms(make_entries(3, 2 + len(terms)), terms))
    assert (store.last_index, store.epochs()) == (2, ((1, 1), (3, 2)))
    store.append(with_terms(make_entries(3, 3), [3]))
    assert store.read(1, 10, 10**9) == with_terms(make_entries(1, 3), [1, 3, 3])


def test_terms_survive_reopen(tmp_path: Path) -> None:
    entries = with_terms(make_entries(1, 30), [1] * 10 + [2] * 10 + [9] * 10)
    with SegmentLog.open(tmp_path, segment_bytes_max=256) as disk:
        disk.append(entries[:15])
        disk.append(entries[15:])
    with SegmentLog.open(tmp_path, segment_bytes_max=256, cache_bytes_max=0) as disk:
        assert disk.read(1, 30, 10**9) == entries
        assert disk.epochs() == ((1, 1), (2, 11), (9, 21))
        assert disk.term_at(20) == 2
        disk.append(with_terms(make_entries(31, 31), [10]))
        assert disk.epochs()[-1] == (10, 31)


def test_truncate_after_drops_the_tail_and_the_log_continues(store: LogStore) -> None:
    entries = with_terms(make_entries(1, 30), [1] * 10 + [2] * 10 + [3] * 10)
    store.append(entries[:25])
    store.sync()
    store.append(entries[25:])
    store.truncate_after(15)
    assert (store.last_index, store.synced_index) == (15, 15)
    assert store.read(1, 30, 10**9) == entries[:15]
    assert store.epochs() == ((1, 1), (2, 11))
    with pytest.raises(AssertionError):
        store.term_at(16)
    # The new leader's entries replace the old tail; no stale byte of it may come back from a cache.
    fresh = [Entry(i, f"new-{i}".encode(), None, 5) for i in range(16, 21)]
    store.append(fresh)
    assert store.sync() == 20
    assert store.read(1, 30, 10**9) == entries[:15] + fresh
    assert store.read(16, 16, 0) == fresh[:1]
    assert store.epochs() == ((1, 1), (2, 11), (5, 16))


def test_truncate_after_lowers_synced_index_only_when_it_cuts_below_it(store: LogStore) -> None:
    store.append(make_entries(1, 10))
    store.sync()
    store.append(make_entries(11, 14))
    store.truncate_after(12)
    assert (store.last_index, store.synced_index) == (12, 10)
    store.truncate_after(4)
    assert (store.last_index, store.synced_index) == (4, 4)
    assert store.sync() == 4


def test_truncate_after_at_or_past_the_end_changes_nothing(store: LogStore) -> None:
    store.append(make_entries(1, 5))
    store.sync()
    store.truncate_after(5)
    store.truncate_after(99)
    assert (store.last_index, store.synced_index) == (5, 5)
    assert store.read(1, 9, 10**9) == make_entries(1, 5)


def test_truncate_after_0_empties_the_log(store: LogStore) -> None:
    store.append(with_terms(make_entries(1, 40), [1] * 40))
    store.truncate_after(0)
    assert (store.last_index, store.synced_index, store.epochs()) == (0, 0, ())
    assert store.read(1, 40, 10**9) == []
    store.append(with_terms(make_entries(1, 3), [4] * 3))
    assert store.read(1, 40, 10**9) == with_terms(make_entries(1, 3), [4] * 3)


def test_truncate_after_a_negative_index_raises(store: LogStore) -> None:
    store.append(make_entries(1, 2))
    with pytest.raises(AssertionError, match="-1"):
        store.truncate_after(-1)
    assert store.last_index == 2


def test_truncate_at_every_index_matches_the_reference(store: LogStore) -> None:
    """Cut, then regrow with a higher term, many times over: crosses every segment boundary of the disk store."""
    rng = random.Random(11)
    reference: list[Entry] = []
    term = 1
    for _ in range(40):
        grow = rng.randrange(1, 25)
        batch = [
            Entry(i, rng.randbytes(rng.randrange(0, 60)), None, term)
            for i in range(len(reference) + 1, len(reference) + grow + 1)
        ]
        store.append(batch)
        reference += batch
        if rng.random() < 0.5:
            store.sync()
        index = rng.randrange(0, len(reference) + 1)
        store.truncate_after(index)
        del reference[index:]
        term += rng.randrange(0, 2)
        assert store.last_index == len(reference)
        assert store.read(1, 10**6, 10**9) == reference
        lo = rng.randrange(0, len(reference) + 2)
        assert store.read(lo, lo + 5, 100) == expected_read(reference, lo, lo + 5, 100)
        assert [store.term_at(i) for i in range(len(reference) + 1)] == [0] + [e.term for e in reference]


def test_truncation_survives_reopen_and_removes_later_segments(tmp_path: Path) -> None:
    entries = with_terms(make_entries(1, 60), [1] * 30 + [2] * 30)
    with SegmentLog.open(tmp_path, segment_bytes_max=256) as disk:
        disk.append(entries)
        disk.sync()
        files_before = sorted((tmp_path / "segments").iterdir())
        disk.truncate_after(33)
        files_after = sorted((tmp_path / "segments").iterdir())
        assert files_after == [p for p in files_before if int(p.stem) <= 33]
        assert len(files_after) < len(files_before)
    with SegmentLog.open(tmp_path, segment_bytes_max=256, cache_bytes_max=0) as disk:
        assert (disk.last_index, disk.synced_index) == (33, 33)
        assert disk.read(1, 60, 10**9) == entries[:33]
        assert disk.epochs() == ((1, 1), (2, 31))
        disk.append([Entry(34, b"after", None, 3)])
    with SegmentLog.open(tmp_path, segment_bytes_max=256, cache_bytes_max=0) as disk:
        assert disk.read(1, 60, 10**9) == [*entries[:33], Entry(34, b"after", None, 3)]


def test_hard_state_starts_empty_and_follows_the_vote_rules(store: LogStore) -> None:
    assert store.hard_state == (0, None)
    store.set_hard_state(1, None)
    store.set_hard_state(1, 2)
    store.set_hard_state(1, 2)  # the same vote again is fine (a retried request)
    assert store.hard_state == (1, 2)
    with pytest.raises(AssertionError, match="already voted for 2"):
        store.set_hard_state(1, 0)
    with pytest.raises(AssertionError, match="already voted for 2"):
        store.set_hard_state(1, None)
    with pytest.raises(AssertionError, match="never goes down"):
        store.set_hard_state(0, 1)
    assert store.hard_state == (1, 2)
    store.set_hard_state(5, None)
    store.set_hard_state(7, 0)
    assert store.hard_state == (7, 0)


@pytest.mark.parametrize(("term", "voted_for"), [(-1, None), (True, None), (1.0, None), (1, -3), (1, "n1")])
def test_hard_state_of_the_wrong_type_raises(store: LogStore, term: object, voted_for: object) -> None:
    with pytest.raises(AssertionError):
        store.set_hard_state(term, voted_for)  # type: ignore[arg-type]
    assert store.hard_state == (0, None)


def test_hard_state_persists_next_to_the_log_id(tmp_path: Path) -> None:
    with SegmentLog.open(tmp_path) as disk:
        disk.set_log_id("log-1")
        disk.set_hard_state(3, 1)
        disk.set_log_id("log-1")
    with SegmentLog.open(tmp_path) as disk:
        assert (disk.log_id, disk.hard_state) == ("log-1", (3, 1))
        disk.set_hard_state(4, None)
    with SegmentLog.open(tmp_path) as disk:
        assert disk.hard_state == (4, None)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert (meta["term"], meta["voted_for"], meta["log_id"]) == (4, None, "log-1")


def test_metadata_from_before_failover_reads_as_term_0(tmp_path: Path) -> None:
    write_meta(tmp_path, {"format_version": 1, "log_id": "old"})
    with SegmentLog.open(tmp_path) as disk:
        assert disk.hard_state == (0, None)


@pytest.mark.parametrize(("field", "value"), [("term", -1), ("term", "3"), ("term", True), ("voted_for", 1.5)])
def test_a_damaged_hard_state_is_refused(tmp_path: Path, field: str, value: object) -> None:
    write_meta(tmp_path, {"format_version": 1, "log_id": "old", field: value})
    with pytest.raises(StorageError, match=field):
        SegmentLog.open(tmp_path)
