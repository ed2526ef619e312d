"""hardlink and symlink cache modes: files that change while they are added, the file
system's link limit, root writing through read-only links, checkout's temp folder, and a
cache on another file system."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
import uuid

import pytest

from funcutil import bad_objects, cache_oids, object_path, oid_of, one_line_error, read_lock, snapshot, tree_lines

ROOT = os.geteuid() == 0
LINKS = ["hardlink", "symlink"]


def _linked_to(path, oid, root) -> bool:
    return os.path.samefile(path, object_path(root, oid))


def _staging(root) -> list[str]:
    folder = os.path.join(root, ".mlvc", "tmp", "checkout")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


# ------------------------------------------------- 1. a file that changes while it is added


@pytest.mark.parametrize("kind", LINKS)
def test_a_file_changed_while_it_is_added_is_never_stored_under_a_wrong_id(repo, mlvc, kind, monkeypatch):
    # The store hashes the file and then links it into the cache: a write between the two
    # used to give an object whose content is not its id, named by mlvc.lock.
    from mlvc.workspace import cachelink

    assert mlvc("config", "cache.type", kind).exit_code == 0
    data = os.urandom(6 * 1024 * 1024)
    repo.root.gen("big.bin", data)
    real = cachelink.hash_file
    calls = []

    def hash_then_append(path, *args, **kw):
        result = real(path, *args, **kw)
        if not calls:
            calls.append(path)
            with open(repo.root / "big.bin", "ab") as f:  # another program still writing
                f.write(b"more")
        return result

    monkeypatch.setattr(cachelink, "hash_file", hash_then_append)
    r = mlvc("add", "big.bin")
    assert calls
    assert r.exit_code == 3, r.output
    assert "big.bin changed while it was being added" in one_line_error(r)
    assert "add it again" in r.stderr
    assert not (repo.root / "mlvc.lock").exists()
    assert cache_oids(repo.root) == [] and bad_objects(repo.root) == []
    assert (repo.root / "big.bin").read_bytes() == data + b"more"  # the user's file is left as it is
    assert os.stat(repo.root / "big.bin").st_mode & 0o200  # and still writable
    assert not any(n.startswith(".mlvc-tmp-") for _, _, ns in os.walk(repo.root / ".mlvc" / "cache") for n in ns)

    monkeypatch.setattr(cachelink, "hash_file", real)
    r = mlvc("add", "big.bin")  # once it is written, it adds
    assert r.exit_code == 0, r.output
    assert read_lock(repo.root)["artifacts"]["big.bin"]["oid"] == oid_of(data + b"more")
    assert bad_objects(repo.root) == []


def test_a_file_changed_after_the_stat_cache_vouched_for_it_is_refused_in_hardlink_mode(repo, mlvc, monkeypatch):
    # commit with an object gone from the cache: the id comes from the stat cache, and the
    # file linked in must still hash to it (here another program writes to it as it is linked).
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen({"d": {"a.bin": b"a" * 100, "b.bin": b"b" * 100}})
    assert mlvc("add", "d").exit_code == 0
    oid = oid_of(b"a" * 100)
    assert mlvc("unprotect", "d").exit_code == 0
    time.sleep(0.05)  # past the racy window: status saves the copies' rows
    assert mlvc("status", "d").exit_code == 0  # the stat cache vouches for the copies
    os.chmod(object_path(repo.root, oid), 0o644)
    os.unlink(object_path(repo.root, oid))
    real = os.link
    src = str(repo.root / "d" / "a.bin")
    written = []

    def link_then_write(a, b, *args, **kw):
        real(a, b, *args, **kw)
        if os.fspath(a) == src and not written:
            written.append(b)
            with open(src, "r+b") as f:
                f.write(b"X")

    monkeypatch.setattr(os, "link", link_then_write)
    before = read_lock(repo.root)
    r = mlvc("commit", "d")
    assert written
    assert r.exit_code == 3, r.output
    assert "d/a.bin changed while it was being added" in r.stderr
    assert read_lock(repo.root) == before
    assert bad_objects(repo.root) == []


@pytest.mark.parametrize("kind", LINKS)
def test_a_symlink_inside_a_folder_is_stored_as_the_file_it_points_to(repo, mlvc, kind):
    # os.link on a symlink links the symlink itself on Linux: the object would be a link
    # (here a relative one, broken inside the cache).
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"d": {"real.txt": "content\n"}})
    os.symlink("real.txt", repo.root / "d" / "a-link.txt")
    r = mlvc("add", "d")
    assert r.exit_code == 0, r.output
    obj = object_path(repo.root, oid_of(b"content\n"))
    assert stat.S_ISREG(os.lstat(obj).st_mode)
    assert (repo.root / "d" / "a-link.txt").read_text() == "content\n"
    assert mlvc("fsck").exit_code == 0
    assert mlvc("status", "--check").exit_code == 0


@pytest.mark.parametrize("kind", LINKS)
def test_a_symlink_to_a_file_outside_is_read_never_linked_into_the_cache(repo, mlvc, kind, tmp_path_factory):
    # The file it points to is not the repository's: it must not become a cache object
    # (a hardlink, made read-only) nor have its mode changed.
    victim = tmp_path_factory.mktemp("outside") / "victim.txt"
    victim.write_text("theirs\n")
    before = os.stat(victim)
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"d": {"a.txt": "a"}})
    os.symlink(victim, repo.root / "d" / "v.txt")
    r = mlvc("add", "d")
    assert r.exit_code == 0, r.output
    after = os.stat(victim)
    assert (after.st_ino, after.st_nlink, after.st_mode, after.st_mtime_ns) == \
        (before.st_ino, before.st_nlink, before.st_mode, before.st_mtime_ns)
    assert victim.read_text() == "theirs\n"
    obj = object_path(repo.root, oid_of(b"theirs\n"))
    assert stat.S_ISREG(os.lstat(obj).st_mode) and not os.path.samefile(obj, victim)
    assert mlvc("fsck").exit_code == 0


# ------------------------------------------------------------ 2. the link limit (EMLINK)


def _link_limit(monkeypatch, limit: int) -> None:
    """Make os.link behave as a file system whose files take at most ``limit`` names."""
    real = os.link

    def link(src, dst, *args, **kw):
        try:
            nlink = os.stat(src, dir_fd=kw.get("src_dir_fd")).st_nlink
        except OSError:
            nlink = 0
        if nlink >= limit:
            raise OSError(errno.EMLINK, os.strerror(errno.EMLINK), src)
        return real(src, dst, *args, **kw)

    monkeypatch.setattr(os, "link", link)


def test_more_identical_files_than_the_link_limit_are_kept_as_copies(repo, mlvc, monkeypatch):
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    files = {f"f{i:02}.txt": "same\n" for i in range(10)}
    files["run.sh"] = "same\n"
    repo.root.gen({"d": files})
    os.chmod(repo.root / "d" / "run.sh", 0o755)
    _link_limit(monkeypatch, 4)
    r = mlvc("add", "d")
    assert r.exit_code == 0, r.output
    warnings = [x for x in r.stderr.splitlines() if "link limit" in x]
    assert warnings == ["warning: 8 files kept as copies: the file system's link limit was reached"], r.stderr
    oid = oid_of(b"same\n")
    obj = object_path(repo.root, oid)
    assert os.stat(obj).st_nlink == 4
    linked = [n for n in sorted(files) if _linked_to(repo.root / "d" / n, oid, repo.root)]
    assert len(linked) == 3
    for name in files:
        p = repo.root / "d" / name
        assert p.read_text() == "same\n"
        if name not in linked:  # a copy of its own, writable (and executable where it was)
            assert os.stat(p).st_nlink == 1 and os.stat(p).st_mode & 0o200
    if "run.sh" not in linked:
        assert os.stat(repo.root / "d" / "run.sh").st_mode & 0o100
    assert set(tree_lines(repo.root, read_lock(repo.root)["artifacts"]["d"]["oid"]).values()) == {oid}
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("fsck").exit_code == 0


def test_checkout_past_the_link_limit_keeps_copies(repo, mlvc, monkeypatch):
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    files = {f"f{i:02}.txt": "same\n" for i in range(11)}
    repo.root.gen({"d": files})
    assert mlvc("add", "d").exit_code == 0
    obj = object_path(repo.root, oid_of(b"same\n"))
    shutil.rmtree(repo.root / "d")
    _link_limit(monkeypatch, 4)
    r = mlvc("checkout")  # as on add: the files past the limit are copies, said once
    assert r.exit_code == 0, r.output
    assert [x for x in r.stderr.splitlines() if "link limit" in x] == [
        "warning: 8 files kept as copies: the file system's link limit was reached"]
    assert all((repo.root / "d" / n).read_text() == "same\n" for n in files)
    assert os.stat(obj).st_nlink == 4
    assert _staging(repo.root) == []
    assert mlvc("status", "--check").exit_code == 0


def test_one_file_kept_as_a_copy_is_said_in_the_singular(repo, mlvc, monkeypatch):
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen({"d": {"a": "x", "b": "x"}})
    _link_limit(monkeypatch, 2)
    r = mlvc("add", "d")
    assert r.exit_code == 0, r.output
    assert "warning: 1 file kept as a copy: the file system's link limit was reached" in r.stderr


# ------------------------------------------- 3. root writes through a read-only link


@pytest.mark.skipif(not ROOT, reason="only root writes through a read-only file")
@pytest.mark.parametrize("kind", LINKS)
def test_root_writing_through_a_link_is_reported_and_never_recorded_under_the_old_id(repo, mlvc, kind):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"data": {"f1.txt": "hello\n", "f2.txt": "two\n"}})
    r = mlvc("add", "data")
    assert r.exit_code == 0, r.output
    assert "warning: running as root: read-only cache links do not stop writes" in r.stderr
    old = oid_of(b"hello\n")
    f1 = repo.root / "data" / "f1.txt"
    with open(f1, "a") as f:  # echo x >> data/f1.txt: root is not stopped by the read-only mode
        f.write("x\n")
    assert bad_objects(repo.root) == [old]  # it wrote into the cache object

    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "modified  data/f1.txt" in r.stdout
    assert f"warning: cache object {old} is damaged: data/f1.txt is linked to it and was changed in place" \
        in r.stderr

    before = snapshot(repo.root)
    r = mlvc("checkout", "--force")
    assert r.exit_code == 3, r.output
    line = one_line_error(r)
    assert f"cache object {old} is damaged: data/f1.txt is linked to it and was changed in place" in line
    assert "mlvc commit data" in line and "mlvc fsck --repair" in line
    assert snapshot(repo.root) == before
    assert _staging(repo.root) == []
    assert mlvc("status", "--check").exit_code == 1  # still modified: nothing claimed it was restored

    r = mlvc("commit")
    assert r.exit_code == 0, r.output
    assert f"cache object {old} was damaged" in r.stderr
    files = tree_lines(repo.root, read_lock(repo.root)["artifacts"]["data"]["oid"])
    assert files["f1.txt"] == oid_of(b"hello\nx\n")  # the id of the bytes recorded
    assert read_lock(repo.root)["artifacts"]["data"]["size"] == len("hello\nx\ntwo\n")
    assert old not in cache_oids(repo.root)  # the damaged object is gone
    assert bad_objects(repo.root) == []
    assert mlvc("fsck").exit_code == 0
    assert mlvc("status", "--check").exit_code == 0
    assert _linked_to(f1, oid_of(b"hello\nx\n"), repo.root)


@pytest.mark.skipif(not ROOT, reason="only root writes through a read-only file")
def test_root_writing_through_a_linked_single_file_artifact(repo, mlvc):
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen("model.bin", "v1")
    assert mlvc("add", "model.bin").exit_code == 0
    old = oid_of(b"v1")
    with open(repo.root / "model.bin", "a") as f:
        f.write("+")
    r = mlvc("checkout", "--force", "model.bin")
    assert r.exit_code == 3
    assert f"cache object {old} is damaged: model.bin is linked to it" in one_line_error(r)
    r = mlvc("commit", "model.bin")
    assert r.exit_code == 0, r.output
    assert read_lock(repo.root)["artifacts"]["model.bin"]["oid"] == oid_of(b"v1+")
    assert read_lock(repo.root)["artifacts"]["model.bin"]["size"] == 3
    assert mlvc("fsck").exit_code == 0


@pytest.mark.skipif(not ROOT, reason="only root writes through a read-only file")
def test_a_damaged_object_never_replaces_a_good_workspace_file(repo, mlvc):
    # f2 has the right content of an object that f1's in-place edit damaged: adding it must
    # not turn f2 into a link to the damaged object.
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen("f1.txt", "same\n")
    assert mlvc("add", "f1.txt").exit_code == 0
    with open(repo.root / "f1.txt", "a") as f:
        f.write("x\n")
    repo.root.gen("f2.txt", "same\n")
    r = mlvc("add", "f2.txt")
    assert r.exit_code == 3, r.output
    assert f"cache object {oid_of(b'same' + bytes([10]))} is damaged" in one_line_error(r)
    assert "mlvc fsck --repair" in r.stderr
    assert (repo.root / "f2.txt").read_text() == "same\n"
    assert os.stat(repo.root / "f2.txt").st_nlink == 1
    assert os.stat(repo.root / "f2.txt").st_mode & 0o200
    assert mlvc("fsck", "--repair").exit_code == 1
    r = mlvc("add", "f2.txt")
    assert r.exit_code == 0, r.output
    assert (repo.root / "f2.txt").read_text() == "same\n"
    assert bad_objects(repo.root) == []


@pytest.mark.skipif(not ROOT, reason="only root writes through a read-only file")
@pytest.mark.parametrize("kind", LINKS)
def test_checkout_never_links_a_damaged_object_into_the_workspace(repo, mlvc, kind):
    # The damaged object's file is gone from the workspace, so only the object knows: a link
    # is not verified as a copy is, but an object of the wrong size is refused the same way.
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"data": {"f1.txt": "hello\n", "f2.txt": "two\n"}})
    assert mlvc("add", "data").exit_code == 0
    old = oid_of(b"hello\n")
    with open(repo.root / "data" / "f1.txt", "a") as f:
        f.write("x\n")
    os.unlink(repo.root / "data" / "f1.txt")
    r = mlvc("checkout")
    assert r.exit_code == 3, r.output
    line = one_line_error(r)
    assert f"cache object {old} is corrupted" in line and "mlvc fsck --repair" in line
    assert not os.path.lexists(repo.root / "data" / "f1.txt")
    assert mlvc("status", "--check").exit_code == 1  # no stat row claims the damaged content is the recorded one
    assert _staging(repo.root) == []


@pytest.mark.skipif(not ROOT, reason="the warning is for root")
@pytest.mark.parametrize("kind", LINKS)
def test_root_is_warned_once_that_read_only_links_do_not_stop_its_writes(repo, mlvc, kind):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"d": {"a": "a", "b": "b", "c": "c"}})
    r = mlvc("add", "d")
    assert r.exit_code == 0, r.output
    assert [x for x in r.stderr.splitlines() if "root" in x] == [
        "warning: running as root: read-only cache links do not stop writes; "
        "run `mlvc unprotect PATH` before editing a linked file"]


def test_no_root_warning_in_copy_mode(repo, mlvc):
    repo.root.gen("a.txt", "a")
    r = mlvc("add", "a.txt")
    assert r.exit_code == 0 and "running as root" not in r.stderr


# ------------------------------------------------ 4. checkout's temp folder is left empty


@pytest.mark.parametrize("exchange", [True, False])
@pytest.mark.parametrize("kind", LINKS)
def test_checkout_force_in_link_modes_leaves_no_temp_files(repo, mlvc, monkeypatch, kind, exchange):
    from mlvc.fs import atomic

    if not exchange:  # a file system or kernel without renameat2's exchange: a plain rename
        monkeypatch.setattr(atomic, "_renameat2", lambda: None)
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"d": {"a.txt": "a", "b.txt": "b", "c.txt": "c"}, "m.bin": "m"})
    assert mlvc("add", "d", "m.bin").exit_code == 0
    for name in ("d/a.txt", "m.bin"):  # replaced (never written in place: that would be the cache object)
        os.unlink(repo.root / name)
        repo.root.gen(name, "edited")
    for args in (["checkout", "--force"], ["checkout", "--force", "--relink"], ["checkout", "--relink"]):
        r = mlvc(*args)
        assert r.exit_code == 0, r.output
        assert _staging(repo.root) == [], args
        for name, data in (("d/a.txt", b"a"), ("d/b.txt", b"b"), ("m.bin", b"m")):
            assert _linked_to(repo.root / name, oid_of(data), repo.root)
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("fsck").exit_code == 0


# ------------------------------------------------------ 5. a cache on another file system


@pytest.fixture
def other_fs_cache(repo, mlvc):
    base = "/dev/shm"
    if not os.path.isdir(base) or os.stat(base).st_dev == os.stat(repo.root).st_dev:
        pytest.skip("needs /dev/shm on another file system than the repository")
    cache = os.path.join(base, f"mlvc-test-cache-{uuid.uuid4().hex}")
    os.mkdir(cache)
    try:
        assert mlvc("config", "--local", "cache.dir", cache).exit_code == 0
        yield cache
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@pytest.mark.parametrize("kinds", ["symlink", "symlink,copy"])
def test_symlink_mode_with_the_cache_on_another_file_system(repo, mlvc, other_fs_cache, kinds):
    assert mlvc("config", "cache.type", kinds).exit_code == 0
    repo.root.gen({"d": {"a.txt": "a", "b.bin": os.urandom(5 * 1024 * 1024)}, "m.bin": "m"})
    data = {n: (repo.root / n).read_bytes() for n in ("d/a.txt", "d/b.bin", "m.bin")}
    r = mlvc("add", "d", "m.bin")
    assert r.exit_code == 0, r.output
    for name, content in data.items():
        p = repo.root / name
        assert p.is_symlink(), name  # never left as a copy
        target = os.readlink(p)
        assert target.startswith(other_fs_cache + "/files/xxh3/")
        assert p.read_bytes() == content
        assert not stat.S_IMODE(os.stat(target).st_mode) & 0o222
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("fsck").exit_code == 0
    shutil.rmtree(repo.root / "d")
    os.unlink(repo.root / "m.bin")
    assert mlvc("checkout").exit_code == 0
    assert all((repo.root / n).is_symlink() and (repo.root / n).read_bytes() == c for n, c in data.items())
    assert not any(n.startswith(".mlvc-tmp-") for _, _, ns in os.walk(other_fs_cache) for n in ns)


def test_hardlink_mode_across_file_systems_suggests_adding_copy_to_the_users_choice(repo, mlvc, other_fs_cache):
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen("a.txt", "a")
    before = snapshot(repo.root)
    r = mlvc("add", "a.txt")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "none of the link types hardlink works" in line
    assert "`mlvc config cache.type hardlink,copy`" in line
    assert snapshot(repo.root) == before
    assert not any(n for _, _, n in os.walk(os.path.join(other_fs_cache, "files")))  # no object, no temp file
    assert mlvc("config", "cache.type", "hardlink,copy").exit_code == 0
    r = mlvc("add", "a.txt")
    assert r.exit_code == 0, r.output
    assert not (repo.root / "a.txt").is_symlink() and (repo.root / "a.txt").read_text() == "a"


@pytest.mark.slow
def test_66000_identical_files_on_ext4_past_its_real_link_limit(repo, mlvc):
    # ext4 gives a file at most 65,000 names: the files past that stay copies.
    probe = repo.root / "probe"
    probe.write_text("")
    try:
        for i in range(65_000):
            os.link(probe, repo.root / f"probe-{i}")
    except OSError as exc:
        if exc.errno != errno.EMLINK:
            raise
        limit = os.stat(probe).st_nlink
    else:
        pytest.skip("this file system allows more than 65,000 links to a file")
    finally:
        for name in os.listdir(repo.root):
            if name.startswith("probe"):
                os.unlink(repo.root / name)
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    n = limit + 1000
    (repo.root / "d").mkdir()
    for i in range(n):
        (repo.root / "d" / f"{i:05}").touch()
    r = mlvc("add", "d")
    assert r.exit_code == 0, r.output
    obj = object_path(repo.root, oid_of(b""))
    assert os.stat(obj).st_nlink == limit
    assert f"warning: {n - limit + 1} files kept as copies: the file system's link limit was reached" in r.stderr
    assert mlvc("status", "--check").exit_code == 0
