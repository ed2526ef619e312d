"""The stat cache: saved rows come back, prefixes select one artifact, a
damaged database is rebuilt, and racily clean rows are not trusted."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from mlvc.workspace.state import RACY_NS, State, StateNoop

OID = "06b05ab6733a618578af5f94892f3950"
OLD = time.time_ns() - 10**12  # a mtime well in the past


@pytest.fixture
def state(tmp_path):
    s = State(str(tmp_path / "tmp" / "state.db"))
    yield s
    s.close()


def _rows(*paths: str) -> list[tuple[str, int, int, int, int, str]]:
    # path, inode, mtime_ns, ctime_ns, size, oid
    return [(p, 1000 + i, OLD + i, OLD + 2 * i, 10 * i, f"{i:032x}") for i, p in enumerate(paths)]


def test_roundtrip(state, tmp_path):
    rows = _rows("a", "data/x.csv", "données/é")
    state.save(rows)
    expected = {r[0]: r[1:] for r in rows}
    assert state.load() == expected
    state.close()
    assert State(str(tmp_path / "tmp" / "state.db")).load() == expected  # persisted


def test_save_replaces_a_row(state):
    state.save([("a", 1, OLD, OLD, 3, OID)])
    state.save([("a", 2, OLD + 5, OLD + 6, 4, "f" * 32)])
    assert state.load() == {"a": (2, OLD + 5, OLD + 6, 4, "f" * 32)}


def test_prefix_load_returns_only_that_artifact(state):
    state.save(_rows("data", "data/a", "data/sub/b", "data2/c", "data.csv", "data-x/y", "dat", "datb/z", "z"))
    assert set(state.load("data")) == {"data", "data/a", "data/sub/b"}
    assert set(state.load("data/sub")) == {"data/sub/b"}
    assert set(state.load("dat")) == {"dat"}
    assert state.load("nothing") == {}
    assert len(state.load("")) == 9


def test_forget_a_prefix(state):
    state.save(_rows("data", "data/a", "data2/c", "data.csv"))
    state.save_dir("data", "fp1", "a" * 32 + ".tree")
    state.save_dir("data2", "fp2", "b" * 32 + ".tree")
    state.forget("data")
    assert set(state.load()) == {"data2/c", "data.csv"}
    assert state.get_dir("data") is None
    assert state.get_dir("data2") == ("fp2", "b" * 32 + ".tree", None)


def test_folder_fingerprints(state, tmp_path):
    assert state.get_dir("data") is None
    state.save_dir("data", "fp1", "a" * 32 + ".tree")
    state.save_dir("data", "fp2", "b" * 32 + ".tree", "sig")
    assert state.get_dir("data") == ("fp2", "b" * 32 + ".tree", "sig")
    state.close()
    assert State(str(tmp_path / "tmp" / "state.db")).get_dir("data") == ("fp2", "b" * 32 + ".tree", "sig")


def test_racily_clean_rows_are_not_saved(state):
    now = time.time_ns()
    old = now - 2 * RACY_NS
    state.save([
        ("racy", 1, now, now, 3, OID),
        ("almost", 2, now - RACY_NS // 2, old, 3, OID),
        ("future", 3, now + 10**9, old, 3, OID),
        ("racy-ctime", 4, old, now, 3, OID),  # mtime put back after an edit: the ctime is recent
        ("old", 5, old, old, 3, OID),
    ])
    assert set(state.load()) == {"old"}


def test_a_damaged_database_is_rebuilt(state, tmp_path):
    db = tmp_path / "tmp" / "state.db"
    state.save(_rows("a", "b"))
    state.close()
    db.write_bytes(os.urandom(8192))  # garbage, not a sqlite file
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(db) + suffix):
            os.unlink(str(db) + suffix)
    fresh = State(str(db))
    assert fresh.load() == {}  # rebuilt, cold
    fresh.save(_rows("c"))
    assert set(fresh.load()) == {"c"}
    fresh.close()


def test_a_database_damaged_while_open_is_rebuilt(state, tmp_path):
    db = str(tmp_path / "tmp" / "state.db")
    state.save(_rows("a"))
    # Overwrite the open database, its WAL and its shared-memory index in place (the header
    # alone is not enough: the open connection reads pages from the WAL and never sees it).
    for suffix in ("", "-wal", "-shm"):
        size = os.path.getsize(db + suffix)
        with open(db + suffix, "r+b") as f:
            f.write((b"garbage!" * (size // 8 + 1))[:size])
    with pytest.raises(sqlite3.DatabaseError):  # the damage is seen by a plain query ...
        state._load("")
    state.save(_rows("b"))  # ... and the guarded save rebuilds the database, cold
    assert set(state.load()) == {"b"}  # 'a' went with the damaged database
    with open(db, "rb") as f:
        assert f.read(16) == b"SQLite format 3\0"


def test_a_database_of_another_version_is_rebuilt(state, tmp_path):
    db = str(tmp_path / "tmp" / "state.db")
    state.save(_rows("a"))
    state.close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value='999' WHERE key='version'")
    conn.commit()
    conn.close()
    assert State(db).load() == {}


def test_the_noop_state_remembers_nothing():
    s = StateNoop()
    s.save(_rows("a"))
    assert s.load() == {} and s.load("a") == {}
    s.forget("a")
    s.save_dir("a", "fp", OID)
    assert s.get_dir("a") is None
    s.close()
