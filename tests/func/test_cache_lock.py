"""The cache lock: writers of every repository sharing a cache hold it SHARED, a garbage
collection EXCLUSIVE; temp files killed writers left are removed once no writer is alive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import git
from funcutil import one_line_error, snapshot

HOLD = """
import sys
from mlvc.repo import Repo
repo = Repo(sys.argv[1])
with repo.lock() if sys.argv[2] == "writer" else repo.cache_lock(exclusive=True):
    if sys.argv[2] == "writer":
        repo.odb  # a writer's first use of the cache takes the cache lock, shared
    print("held", flush=True)
    sys.stdin.read()
"""


class Holder:
    """A process holding the cache lock (``exclusive``: as a gc would) until stopped."""

    def __init__(self, root, kind: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root), kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line == "held\n", self.proc.stderr.read()

    def stop(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(10) == 0, self.proc.stderr.read()


def _clone_sharing(repo, tmp_path_factory, cache):
    b = tmp_path_factory.mktemp("clone") / "b"
    git("clone", "-q", str(repo.root), str(b))
    return b


def _shared_pair(repo, tmp_path_factory, mlvc_proc):
    cache = tmp_path_factory.mktemp("shared") / "cache"
    assert mlvc_proc("config", "--local", "cache.dir", str(cache), cwd=repo.root).returncode == 0
    repo.commit("init")
    b = _clone_sharing(repo, tmp_path_factory, cache)
    assert mlvc_proc("config", "--local", "cache.dir", str(cache), cwd=b).returncode == 0
    return cache, b


def test_an_exclusive_cache_lock_makes_add_wait_then_exit_4(repo, mlvc_proc, tmp_path_factory):
    cache, b = _shared_pair(repo, tmp_path_factory, mlvc_proc)
    b_dir = type(repo.root)(b)
    b_dir.gen("model.bin", "weights")
    holder = Holder(repo.root, "gc")  # a gc in the other clone
    try:
        before = snapshot(b)
        started = time.monotonic()
        r = mlvc_proc("add", "model.bin", cwd=b, env={**os.environ, "MLVC_LOCK_TIMEOUT": "0.6"})
        waited = time.monotonic() - started
        assert r.returncode == 4, r.stderr
        line = one_line_error(r)
        assert str(cache) in line and "garbage collection" in line and "MLVC_LOCK_TIMEOUT" in line, line
        assert waited >= 0.6  # it waited for the lock before giving up
        assert snapshot(b) == before
    finally:
        holder.stop()
    r = mlvc_proc("add", "model.bin", cwd=b)
    assert r.returncode == 0, r.stderr


def test_writers_of_two_clones_share_the_cache_lock(repo, mlvc_proc, tmp_path_factory):
    cache, b = _shared_pair(repo, tmp_path_factory, mlvc_proc)
    b_dir = type(repo.root)(b)
    holder = Holder(repo.root, "writer")  # a writer in the other clone, mid-run
    try:
        b_dir.gen("m1.bin", "one")
        r = mlvc_proc("add", "m1.bin", cwd=b, env={**os.environ, "MLVC_LOCK_TIMEOUT": "0"})
        assert r.returncode == 0, r.stderr  # a shared hold does not make another writer wait
    finally:
        holder.stop()
    # And two real adds at once, one in each clone, of files large enough to overlap.
    repo.root.gen({"a.bin": os.urandom(64 << 20)})
    b_dir.gen({"b.bin": os.urandom(64 << 20)})
    env = {**os.environ, "MLVC_LOCK_TIMEOUT": "0"}
    procs = [subprocess.Popen([sys.executable, "-m", "mlvc", "add", name], cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cwd, name in ((repo.root, "a.bin"), (b, "b.bin"))]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for cwd in (repo.root, b):
        assert mlvc_proc("fsck", cwd=cwd).returncode == 0
        assert mlvc_proc("status", "--check", cwd=cwd).returncode == 0


def _plant(cache, age: float):
    folder = cache / "files" / "xxh3" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".mlvc-tmp-99999-dead-{age:g}"
    path.write_bytes(b"half an object")
    if age:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def test_temp_files_are_removed_by_the_next_writer_when_none_is_alive(repo, mlvc_proc):
    repo.root.gen("a.bin", "a")
    assert mlvc_proc("add", "a.bin", cwd=repo.root).returncode == 0
    cache = repo.root / ".mlvc" / "cache"
    young, old = _plant(cache, 0), _plant(cache, 7200)
    top = cache / ".mlvc-tmp-1-x-0"
    top.write_bytes(b"x")
    time.sleep(0.05)
    repo.root.gen("b.bin", "b")
    r = mlvc_proc("add", "b.bin", cwd=repo.root)  # was: left there for an hour (young) or for ever
    assert r.returncode == 0, r.stderr
    assert not young.exists() and not old.exists() and not top.exists()


def test_with_a_writer_alive_only_temp_files_older_than_an_hour_go(repo, mlvc_proc, tmp_path_factory):
    cache, b = _shared_pair(repo, tmp_path_factory, mlvc_proc)
    b_dir = type(repo.root)(b)
    b_dir.gen("a.bin", "a")
    assert mlvc_proc("add", "a.bin", cwd=b).returncode == 0
    holder = Holder(repo.root, "writer")  # a writer of the other clone (it cleans up as it starts, alone)
    try:
        young, old = _plant(cache, 0), _plant(cache, 7200)
        r = mlvc_proc("fsck", "--json", cwd=b)
        assert r.returncode == 0 and json.loads(r.stdout)["stale_temp_files"] == 1, r.stdout
        b_dir.gen("b.bin", "b")
        assert mlvc_proc("add", "b.bin", cwd=b).returncode == 0
        assert not old.exists() and young.exists()  # the young one may be the running writer's
    finally:
        holder.stop()
    # The writer is gone: its young temp file is garbage now.
    r = mlvc_proc("fsck", "--json", cwd=b)
    assert json.loads(r.stdout)["stale_temp_files"] == 1
    r = mlvc_proc("fsck", "--repair", cwd=b)
    assert r.returncode == 0 and "removed" in r.stdout, r.stdout
    assert not young.exists()


def _cache_temp_files(cache) -> list[str]:
    found = []
    for dirpath, _, names in os.walk(cache):
        found.extend(os.path.join(dirpath, n) for n in names if n.startswith(".mlvc-tmp-"))
    return found


@pytest.mark.slow
def test_a_sigkilled_add_leaves_a_temp_file_that_the_rerun_removes(repo, mlvc_proc):
    cache = repo.root / ".mlvc" / "cache"
    size = 200 << 20
    landed = False
    for attempt in range(6):
        repo.root.gen({"big.bin": os.urandom(1 << 20) * (size >> 20) + bytes([attempt])})
        proc = subprocess.Popen([sys.executable, "-m", "mlvc", "add", "big.bin"], cwd=repo.root,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _cache_temp_files(cache):
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        proc.wait()
        if proc.returncode == -signal.SIGKILL and _cache_temp_files(cache):
            landed = True
            break
    assert landed, "the SIGKILL never landed while a temp file was in the cache"
    r = mlvc_proc("add", "big.bin", cwd=repo.root)
    assert r.returncode == 0, r.stderr
    assert _cache_temp_files(cache) == []  # was: left for an hour, and fsck said nothing of it
    assert mlvc_proc("fsck", cwd=repo.root).returncode == 0


def test_a_cache_lock_that_is_a_symlink_is_refused_and_never_followed(repo, mlvc_proc, tmp_path_factory):
    cache = tmp_path_factory.mktemp("shared") / "cache"
    cache.mkdir()
    victim = tmp_path_factory.mktemp("victim") / "notes.txt"
    victim.write_text("precious")
    os.symlink(victim, cache / "lock")
    assert mlvc_proc("config", "--local", "cache.dir", str(cache), cwd=repo.root).returncode == 0
    repo.root.gen("a.bin", "a")
    r = mlvc_proc("add", "a.bin", cwd=repo.root)
    assert r.returncode == 3, r.stderr
    line = one_line_error(r)
    assert "lock" in line and "symlink" in line, line
    assert victim.read_text() == "precious" and oct(victim.stat().st_mode & 0o777) == "0o644"
    assert not (repo.root / "mlvc.lock").exists()
