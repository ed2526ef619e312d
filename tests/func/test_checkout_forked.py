"""Checkout writing copies in forked workers (fs.forked): every file as recorded, the stat cache
rows right (status trusts them), a corrupt object refused as without workers, and no worker
where files are linked to the cache."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from funcutil import forked_workers, object_path, oid_of, one_line_error

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forked workers are Linux only")


@pytest.fixture
def forks(monkeypatch):
    """Workers for 2 batches and more, of 4 files; one item a worker forked."""
    from mlvc.ops import checkout

    return forked_workers(monkeypatch, checkout, "FORK_BATCH")


def _data(repo, mlvc, kind="copy", n=40):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    files = {f"data/{d}/f{i}.txt": f"file {d} {i}\n" * (i + 1) for d in "ab" for i in range(n // 2)}
    repo.root.gen(files)
    assert mlvc("add", "data").exit_code == 0
    repo.commit("data")
    shutil.rmtree(repo.root / "data")
    return files


def test_a_checkout_in_workers_writes_every_file_and_rows_status_trusts(repo, mlvc, forks):
    files = _data(repo, mlvc)
    r = mlvc("checkout", "--json")
    assert r.exit_code == 0, r.output
    assert len(forks) == 2
    assert {p: (repo.root / p).read_text() for p in files} == files
    from mlvc.repo import Repo

    state = Repo.find(str(repo.root)).state
    rows = state.rows("data")
    try:
        rows = {row[0]: row for row in rows}  # as checkout saved them (status would save its own)
    finally:
        state.close()
    assert len(rows) == len(files)
    for p in files:  # the rows the workers sent back are the files' own
        st = os.stat(repo.root / p)
        assert rows[p][1:5] == (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size), p
    import sqlite3

    from mlvc.workspace.scan import fingerprint, scan

    with sqlite3.connect(repo.root / ".mlvc" / "tmp" / "state.db") as db:  # made of the rows the workers sent
        saved = db.execute("SELECT fingerprint FROM dirs WHERE path='data'").fetchone()
    assert saved == (fingerprint(scan(str(repo.root), "data")),)
    r = mlvc("status", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["clean"] is True


def test_a_corrupt_object_is_refused_in_workers_as_without_them(repo, mlvc, forks):
    files = _data(repo, mlvc)
    bad = "data/b/f7.txt"
    obj = object_path(repo.root, oid_of(files[bad].encode()))
    os.chmod(obj, 0o644)
    with open(obj, "wb") as f:
        f.write(b"EVIL" * 10)
    r = mlvc("checkout")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "corrupt" in line and oid_of(files[bad].encode()) in line
    assert len(forks) == 2
    assert not (repo.root / bad).exists()
    for p in files:
        if (repo.root / p).exists():
            assert (repo.root / p).read_text() == files[p], p
    assert not [n for d, _, names in os.walk(repo.root / "data") for n in names if ".mlvc-tmp" in n]


def test_no_worker_where_files_are_links_to_the_cache(repo, mlvc, forks):
    files = _data(repo, mlvc, kind="hardlink")
    assert mlvc("checkout").exit_code == 0
    assert forks == []
    assert all(os.stat(repo.root / p).st_nlink >= 2 for p in files)


def test_a_pull_in_workers_never_writes_through_a_committed_symlink(repo, mlvc, forks, tmp_path, monkeypatch):
    """The attack, with real git: a clone carries data/b as a symlink to a folder outside it (forced
    past .gitignore); a pull that would write data/b's files in workers refuses before any worker
starts, and nothing outside changes."""
    from funcutil import git_clone, snapshot

    assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
    _data(repo, mlvc)
    assert mlvc("push").exit_code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "theirs.txt").write_text("someone's file")
    (repo.root / "data").mkdir()
    os.symlink(outside, repo.root / "data" / "b")
    repo.git("add", "-f", "data/b")
    repo.commit("a symlink out")
    clone = git_clone(repo, tmp_path)
    assert os.path.islink(clone / "data" / "b")
    before = snapshot(outside)
    monkeypatch.chdir(clone)
    r = mlvc("pull")
    assert r.exit_code == 3, r.output
    assert "data/b is a symlink" in one_line_error(r) and "Traceback" not in r.output
    assert forks == []  # refused before anything was fetched or written: no worker started
    assert snapshot(outside) == before


def test_a_worker_killed_midway_leaves_a_checkout_that_still_completes(repo, mlvc, forks, monkeypatch):
    """A worker dies (SIGKILL) after writing two files of a batch: the parent does that batch
    again, keeps the files the worker wrote whole (they hold the recorded content) and writes
    the rest; the checkout succeeds and status trusts every row. Before, the files the worker
    had written "appeared while checkout was writing" them and the checkout failed."""
    import signal

    from mlvc.workspace.cachelink import CacheLinker

    files = _data(repo, mlvc)
    parent = os.getpid()
    placed = []
    real = CacheLinker.place

    def place(self, *a, **k):
        out = real(self, *a, **k)
        if os.getpid() != parent:
            placed.append(1)
            if len(placed) == 2:  # in the middle of the worker's first batch
                os.kill(os.getpid(), signal.SIGKILL)
        return out

    monkeypatch.setattr(CacheLinker, "place", place)
    r = mlvc("checkout", "--json")
    assert r.exit_code == 0, r.output
    assert len(forks) == 2
    assert {p: (repo.root / p).read_text() for p in files} == files
    r = mlvc("status", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["clean"] is True


def test_a_file_that_is_not_the_recorded_one_where_a_killed_worker_wrote_is_refused(repo, mlvc, forks,
                                                                                     monkeypatch):
    """What the parent keeps of a killed worker's batch is only a file with the recorded content:
    a file put there meanwhile with other bytes is refused with its one line, and kept."""
    import signal

    from mlvc.workspace.cachelink import CacheLinker

    files = _data(repo, mlvc)
    parent = os.getpid()
    real = CacheLinker.place

    def place(self, oid, dest, *a, **k):
        out = real(self, oid, dest, *a, **k)
        if os.getpid() != parent:
            with open(dest, "r+b") as f:  # another program changed it right after
                f.write(b"X")
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    monkeypatch.setattr(CacheLinker, "place", place)
    r = mlvc("checkout")
    assert r.exit_code != 0
    assert "appeared while checkout was writing it" in one_line_error(r) and "Traceback" not in r.output
    changed = [p for p in files if (repo.root / p).exists() and (repo.root / p).read_text() != files[p]]
    assert changed and all((repo.root / p).read_text().startswith("X") for p in changed)
