"""A local-folder remote: what its fast paths keep (an upload is whole or has no name, a size the
tree gets wrong never cuts a copy short), the threads a transfer uses, and the durability
``core.fsync`` asks for (the files on disk before any tree that lists them, everything before
push reports success), seen on the disk itself (FIEMAP: an extent the file system has not
written yet is marked delayed)."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import threading

import pytest
from funcutil import oid_of, one_line_error

from mlvc import fs
from mlvc.odb import remote as remote_mod
from mlvc.odb import transfer
from mlvc.odb.backends import RemoteSpec, open_remote
from mlvc.odb.remote import SMALL_COPY, LocalFolder, RemoteObjectStore

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_EXTENT_DELALLOC = 0x4


def unwritten(path) -> bool:
    """Whether some of the file's data is still only in memory (a delayed-allocation extent)."""
    count = 16
    buf = bytearray(struct.pack("=QQIIII", 0, 2**64 - 1, 0, 0, count, 0) + bytes(56 * count))
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)  # no FIEMAP_FLAG_SYNC: that would write it first
    finally:
        os.close(fd)
    mapped = struct.unpack_from("=I", buf, 20)[0]
    return any(struct.unpack_from("=I", buf, 32 + 56 * i + 40)[0] & FIEMAP_EXTENT_DELALLOC for i in range(mapped))


@pytest.fixture
def delayed(tmp_path):
    """Skip where the file system cannot show data not yet written (no FIEMAP, no delayed
    allocation: tmpfs, ...)."""
    probe = tmp_path / "probe"
    probe.write_bytes(os.urandom(4096))
    try:
        shows = unwritten(probe)
    except OSError:
        shows = False
    if not shows:
        pytest.skip("this file system shows no delayed allocation through FIEMAP")
    return unwritten


def _project(repo, mlvc, tmp_path, files: int = 30):
    repo.root.gen({f"data/{d}/f{i}.txt": f"file {d} {i}" for d in "abc" for i in range(files // 3)})
    assert mlvc("add", "data").exit_code == 0
    assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
    repo.commit("data and remote")
    return tmp_path / "remote" / "files" / "xxh3"


def _objects(root) -> dict[str, str]:
    """id -> path of every object in a remote (or cache) folder; temp names left out."""
    found = {}
    for prefix in sorted(os.listdir(root)):
        for name in os.listdir(root / prefix):
            if not name.startswith(fs.TMP_PREFIX):
                found[prefix + name] = str(root / prefix / name)
    return found


def _temp_names(folder) -> list[str]:
    return [os.path.join(d, n) for d, dirs, files in os.walk(folder) for n in files + dirs
            if n.startswith(fs.TMP_PREFIX)]


# ---------------------------------------------------------------- an upload is whole or has no name

@pytest.mark.parametrize("tmpfile", [True, False], ids=["o_tmpfile", "temp-name"])
def test_a_failed_local_upload_leaves_no_name_and_a_rerun_sends_the_rest(repo, mlvc, tmp_path, monkeypatch,
                                                                            tmpfile):
    if not tmpfile:  # a file system without O_TMPFILE: a temp name, renamed once whole
        monkeypatch.setattr("mlvc.fs.open_tmpfile", lambda folder, mode=0o444: None)
    root = _project(repo, mlvc, tmp_path)
    broken = oid_of(b"file b 4")
    obj = repo.root / ".mlvc" / "cache" / "files" / "xxh3" / broken[:2] / broken[2:]
    keep = obj.read_bytes()
    os.chmod(obj.parent, 0o755)
    obj.unlink()
    obj.mkdir()  # the object cannot be read: its upload fails after the remote's file is open
    r = mlvc("push")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: push to remote 'store' failed:")
    assert _temp_names(tmp_path / "remote") == []
    there = _objects(root)
    assert broken not in there and not [o for o in there if o.endswith(".tree")]
    obj.rmdir()
    obj.write_bytes(keep)
    r = mlvc("push", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["transferred"] == 30 + 4 - len(there)
    assert _temp_names(tmp_path / "remote") == []
    assert len(_objects(root)) == 34


def test_a_copy_is_whole_whatever_size_the_caller_expects(tmp_path):
    store = open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")
    for n, told in [(5000, 4096), (5000, 9000), (5000, None), (SMALL_COPY + 5, 10), (SMALL_COPY + 5, SMALL_COPY + 5),
                    (0, 0), (0, 3)]:
        src = tmp_path / f"src-{n}-{told}"
        data = os.urandom(n)
        src.write_bytes(data)
        oid = oid_of(data) if n else oid_of(b"")
        store.put_file(oid, str(src), size=told)
        assert store.read_bytes(oid) == data, (n, told)
        os.unlink(store.path(oid))
    assert _temp_names(tmp_path / "remote") == []


def test_a_batch_of_small_files_is_whole_whatever_size_the_tree_records(tmp_path):
    """``put_small_local`` reads a file in one read of the size recorded (plus one byte); a file
    of another size goes the general way, so the object is the file, never cut short; one
    already on the remote (a short upload) is replaced."""
    store = open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")
    items, sources, expect = [], {}, {}
    for i, (n, told) in enumerate([(4096, 4096), (5000, 4096), (5000, 9000), (0, 0), (0, 3), (3, 0),
                                   (SMALL_COPY + 5, SMALL_COPY)]):
        data = os.urandom(n) + bytes([i])  # each content unique
        src = tmp_path / f"src-{i}"
        src.write_bytes(data)
        oid = oid_of(data)
        items.append((oid, told + 1 if told else told))
        sources[oid], expect[oid] = str(src), data
    short = items[0][0]
    os.makedirs(os.path.dirname(store.path(short)))
    with open(store.path(short), "wb") as f:
        f.write(b"short")
    assert store.put_small_local(items, sources.__getitem__) == sum(size for _, size in items)
    for oid, data in expect.items():
        assert store.read_bytes(oid) == data, oid
    assert _temp_names(tmp_path / "remote") == []


def test_a_batch_that_fails_says_how_many_of_its_files_are_done(tmp_path):
    store = open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")
    items, sources = [], {}
    for i in range(5):
        data = f"file {i}".encode()
        src = tmp_path / f"src-{i}"
        if i == 3:
            src.mkdir()  # cannot be read
        else:
            src.write_bytes(data)
        items.append((oid_of(data), len(data)))
        sources[items[-1][0]] = str(src)
    with pytest.raises(OSError) as err:
        store.put_small_local(items, sources.__getitem__)
    assert err.value.partial == 3
    assert sorted(_objects(tmp_path / "remote" / "files" / "xxh3")) == sorted(o for o, _ in items[:3])
    assert _temp_names(tmp_path / "remote") == []

    def fn(batch):  # _run counts a batch by its weight, and a failed one by what it did
        if batch[0] == 10:
            exc = OSError(5, "I/O error")
            exc.partial = 2
            raise exc
        return len(batch)

    batches = [list(range(i, i + 5)) for i in range(0, 30, 5)]
    with pytest.raises(OSError) as err:
        transfer._run(fn, batches, 1, transfer._NoTask(), weight=len)
    assert err.value.done == 12


def test_local_folder_reads_the_ranges_asked(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 7)
    path = tmp_path / "obj"
    path.write_bytes(data)
    for start, end in [(None, None), (0, 10), (0, len(data) + 1), (5, 4097), (1024 * 1024, None), (7, 7), (0, 0),
                       (len(data) - 3, len(data) + 100)]:
        assert LocalFolder().cat_file(str(path), start=start, end=end) == data[start or 0:end], (start, end)


# ---------------------------------------------------------------- threads

def _threads_of_uploads(monkeypatch):
    """The threads each local upload ran in (one name a file, whether it went alone or in a batch
    of small files), and the most uploads that ran at once."""
    seen: list[str] = []
    running = [0, 0]
    lock = threading.Lock()
    inside = threading.local()  # a batch's own put_file (a file of another size) is not counted again

    def spy(real, count):
        def upload(self, *args, **kw):
            if getattr(inside, "batch", False):
                return real(self, *args, **kw)
            with lock:
                running[0] += 1
                running[1] = max(running)
                seen.extend([threading.current_thread().name] * count(args))
            inside.batch = True
            try:
                return real(self, *args, **kw)
            finally:
                inside.batch = False
                with lock:
                    running[0] -= 1
        return upload

    monkeypatch.setattr(RemoteObjectStore, "put_file", spy(RemoteObjectStore.put_file, lambda args: 1))
    monkeypatch.setattr(RemoteObjectStore, "put_small_local",
                        spy(RemoteObjectStore.put_small_local, lambda args: len(args[0])))
    return seen, running


def test_a_local_push_runs_one_thread_a_core_and_jobs_sets_it(repo, mlvc, tmp_path, monkeypatch):
    from mlvc.fs.parallel import default_workers

    _project(repo, mlvc, tmp_path, files=90)
    seen, running = _threads_of_uploads(monkeypatch)
    assert mlvc("push").exit_code == 0
    assert len(seen) == 90 and running[1] <= default_workers()
    assert set(seen) <= {"MainThread"} | {f"mlvc-transfer-{i}" for i in range(default_workers() - 1)}
    assert transfer.default_jobs(open_remote(RemoteSpec("store", str(tmp_path / "remote")), "/")) == default_workers()

    for o in _objects(tmp_path / "remote" / "files" / "xxh3").values():
        os.unlink(o)
    seen.clear()
    running[1] = 0
    assert mlvc("push", "--full", "-j", "1").exit_code == 0
    assert len(seen) == 90 and set(seen) == {"MainThread"} and running[1] == 1


def test_a_remote_across_the_network_keeps_16_jobs():
    class Far:
        local = False

    assert transfer.default_jobs(Far()) == transfer.DEFAULT_JOBS == 16


def test_run_stops_at_the_first_error_and_counts_what_was_done():
    import time

    calls = []

    def fn(i):
        calls.append(i)
        if i == 5:
            raise OSError(5, "I/O error")
        return 1

    with pytest.raises(OSError) as err:
        transfer._run(fn, list(range(100)), 1, transfer._NoTask())
    assert err.value.done == 5 and calls == list(range(6))

    calls.clear()

    def slow(i):
        calls.append(i)
        if i == 0:
            raise OSError(5, "I/O error")
        time.sleep(0.002)
        return 1

    with pytest.raises(OSError) as err:
        transfer._run(slow, list(range(200)), 2, transfer._NoTask())
    assert err.value.done == len(calls) - 1 and len(calls) < 100
    assert transfer._run(lambda i: i, list(range(300)), 3, transfer._NoTask()) == 300


# ---------------------------------------------------------------- durability: core.fsync

@pytest.mark.parametrize("workers", ["threads", "forked"])
def test_push_makes_the_files_durable_before_the_first_tree_and_all_before_it_is_done(repo, mlvc, tmp_path,
                                                                                      monkeypatch, delayed, workers):
    if workers == "forked":  # the small files in batches, in forked workers (fs.forked)
        from funcutil import forked_workers

        forked_workers(monkeypatch, transfer, "TRANSFER_BATCH")
    root = _project(repo, mlvc, tmp_path)
    at_first_tree: list[bool] = []
    real = RemoteObjectStore._put
    lock = threading.Lock()

    def put(self, oid, data):
        with lock:  # the trees of a level go up in parallel
            if oid.endswith(".tree") and not at_first_tree:
                at_first_tree.extend(delayed(p) for o, p in _objects(root).items() if not o.endswith(".tree"))
        return real(self, oid, data)

    monkeypatch.setattr(RemoteObjectStore, "_put", put)
    assert mlvc("push").exit_code == 0
    assert len(at_first_tree) == 30 and not any(at_first_tree)
    objects = _objects(root)
    assert len(objects) == 34 and not any(delayed(p) for p in objects.values())


def test_push_with_core_fsync_always_syncs_each_object_as_it_is_written(repo, mlvc, tmp_path, monkeypatch,
                                                                       delayed):
    root = _project(repo, mlvc, tmp_path)
    assert mlvc("config", "core.fsync", "always").exit_code == 0
    synced: list[bool] = []
    real = remote_mod._publish

    def publish(fd, folder, dest):  # the moment each object (file or tree) gets its name
        real(fd, folder, dest)
        synced.append(not delayed(dest))

    monkeypatch.setattr(remote_mod, "_publish", publish)
    assert mlvc("push").exit_code == 0
    assert len(synced) == 34 and all(synced)
    assert len(_objects(root)) == 34


@pytest.mark.parametrize("setting, syncs", [("batch", 2), ("never", 0)])
def test_push_syncs_the_remote_as_core_fsync_says(repo, mlvc, tmp_path, monkeypatch, setting, syncs):
    _project(repo, mlvc, tmp_path)
    assert mlvc("config", "core.fsync", setting).exit_code == 0
    called: list[str] = []
    real = fs.syncfs
    monkeypatch.setattr("mlvc.fs.syncfs", lambda path: called.append(path) or real(path))  # a spy: it syncs
    assert mlvc("push").exit_code == 0
    remote = str(tmp_path / "remote")
    assert len([p for p in called if p.startswith(remote)]) == syncs


def test_a_large_transfer_syncs_ahead_in_the_background(repo, mlvc, tmp_path, monkeypatch):
    """Every SYNC_AHEAD_OBJECTS objects a background syncfs starts (one at a time), push and
    fetch alike; the one push waits for at the end is still made."""
    import subprocess

    _project(repo, mlvc, tmp_path)
    monkeypatch.setattr(transfer, "SYNC_AHEAD_OBJECTS", 4)
    called: list[tuple[str, str]] = []
    real = fs.syncfs
    monkeypatch.setattr("mlvc.fs.syncfs",
                        lambda path: called.append((threading.current_thread().name, path)) or real(path))
    assert mlvc("push", "-j", "1").exit_code == 0
    remote = str(tmp_path / "remote")
    ahead = [p for t, p in called if t == "mlvc-sync-ahead"]
    assert ahead and all(p.startswith(remote) for p in ahead)
    assert len([p for t, p in called if t == "MainThread" and p.startswith(remote)]) == 2
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    called.clear()
    monkeypatch.chdir(clone)
    assert mlvc("fetch", "-j", "1").exit_code == 0
    cache = str(clone / ".mlvc" / "cache")
    assert [p for t, p in called if t == "mlvc-sync-ahead"] and all(p.startswith(cache) for _, p in called)


def test_a_large_file_counts_towards_the_sync_ahead_as_it_is_copied(repo, mlvc, tmp_path, monkeypatch):
    """The bytes of one large file count towards the next background syncfs as they are copied
    (told in 1 MiB steps), not only once it is whole."""
    size = 5 * 1024 * 1024 + 3
    (repo.root / "big.bin").write_bytes(os.urandom(size))
    assert mlvc("add", "big.bin").exit_code == 0
    assert mlvc("remote", "add", "--default", "store", str(tmp_path / "remote")).exit_code == 0
    repo.commit("big")
    told: list[tuple[int, int]] = []
    real = transfer._SyncAhead.wrote
    monkeypatch.setattr(transfer._SyncAhead, "wrote",
                        lambda self, nbytes, objects=0: told.append((nbytes, objects)) or real(self, nbytes, objects))
    assert mlvc("push").exit_code == 0
    assert len([n for n, o in told if o == 0 and n]) >= 5  # as it went
    assert sum(n for n, _ in told) == size and sum(o for _, o in told) == 1


# ---------------------------------------------------------------- forked workers

def test_a_push_and_a_fetch_in_forked_workers_are_whole_counted_and_durable(repo, mlvc, tmp_path, monkeypatch,
                                                                           delayed):
    """Small files go in batches to forked workers (fs.forked) where there are enough of them: the
    objects all arrive, are counted, and are on disk when the command is done (the workers' writes
    are synced by the parent)."""
    from funcutil import forked_workers, git_clone

    forks = forked_workers(monkeypatch, transfer, "TRANSFER_BATCH")
    root = _project(repo, mlvc, tmp_path)
    r = mlvc("push", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["transferred"] == 34
    assert len(forks) == 2
    objects = _objects(root)
    assert len(objects) == 34 and not any(delayed(p) for p in objects.values())

    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    forks.clear()
    r = mlvc("pull", "--json")
    assert r.exit_code == 0, r.output
    assert len(forks) == 2
    cache = clone / ".mlvc" / "cache" / "files" / "xxh3"
    got = _objects(cache)
    assert sorted(got) == sorted(objects) and not any(delayed(p) for p in got.values())
    assert all((clone / "data" / d / f"f{i}.txt").read_text() == f"file {d} {i}" for d in "abc" for i in range(10))
    assert mlvc("status", "--json").exit_code == 0


def test_a_push_that_fails_still_makes_what_it_wrote_durable(repo, mlvc, tmp_path, delayed):
    """A rerun trusts the objects a failed push left (they are there, whole); they are synced when
    the push fails, since the rerun has nothing to write and so nothing to sync."""
    root = _project(repo, mlvc, tmp_path)
    broken = oid_of(b"file c 9")
    obj = repo.root / ".mlvc" / "cache" / "files" / "xxh3" / broken[:2] / broken[2:]
    os.chmod(obj.parent, 0o755)
    obj.unlink()
    obj.mkdir()  # cannot be read: the push fails after the other files
    r = mlvc("push", "-j", "1")
    assert r.exit_code == 3
    there = _objects(root)
    assert there and broken not in there
    assert not any(delayed(p) for p in there.values())


def test_a_tampered_object_fetched_in_a_worker_never_enters_the_cache(repo, mlvc, tmp_path, monkeypatch):
    """A remote serving bad bytes: the object a forked worker refuses is fetched again here (the
    fallback), refused with its one line, and is in neither the cache nor the workspace."""
    from funcutil import forked_workers, git_clone, one_line_error

    forks = forked_workers(monkeypatch, transfer, "TRANSFER_BATCH")
    root = _project(repo, mlvc, tmp_path)
    assert mlvc("push").exit_code == 0
    bad = oid_of(b"file b 4")
    path = root / bad[:2] / bad[2:]
    os.chmod(path, 0o644)
    path.write_bytes(b"file b 5")  # the same size, other bytes
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    forks.clear()
    r = mlvc("pull")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "corrupted" in line and bad in line and "'store'" in line
    assert len(forks) == 2
    assert bad not in _objects(clone / ".mlvc" / "cache" / "files" / "xxh3")
    assert not (clone / "data" / "b" / "f4.txt").exists()
