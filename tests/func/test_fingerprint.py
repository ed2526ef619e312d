"""The folder fingerprint that makes a clean status instant must never hide a change."""

import os
import shutil
import sqlite3
import time

import pytest
from funcutil import umask


def _edit_keeping_size_and_mtime(path, data: bytes):
    st = os.stat(path)
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def tracked(repo, mlvc):
    repo.root.gen({"data": {f"d{i}": {f"f{j}.txt": f"{i}-{j}" for j in range(5)} for i in range(4)}})
    time.sleep(0.05)  # older than the racy window, as real data is
    assert mlvc("add", "data").exit_code == 0
    return repo


@pytest.mark.parametrize("after", ["add", "status", "checkout", "checkout-whole"])
def test_in_place_edit_is_seen_after_the_fingerprint_was_saved(tracked, mlvc, after):
    root = tracked.root
    if after == "status":
        assert mlvc("status", "--check").exit_code == 0
    elif after == "checkout":
        (root / "data" / "d0" / "f0.txt").unlink()
        assert mlvc("checkout").exit_code == 0
        time.sleep(0.05)
    elif after == "checkout-whole":  # the folder written whole: its fingerprint from the rows written
        shutil.rmtree(root / "data")
        assert mlvc("checkout").exit_code == 0
        time.sleep(0.05)
    state = root / ".mlvc" / "tmp" / "state.db"
    with sqlite3.connect(state) as db:
        assert db.execute("SELECT count(*) FROM dirs WHERE path='data'").fetchone()[0] == 1
    assert mlvc("status", "--check").exit_code == 0
    _edit_keeping_size_and_mtime(root / "data" / "d1" / "f2.txt", b"X-X")
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "data/d1/f2.txt" in r.stdout


@pytest.mark.parametrize("change", ["add", "delete", "rename"])
def test_added_deleted_renamed_files_are_seen(tracked, mlvc, change):
    root = tracked.root
    assert mlvc("status", "--check").exit_code == 0
    if change == "add":
        (root / "data" / "d2" / "new.txt").write_text("n")
    elif change == "delete":
        (root / "data" / "d2" / "f1.txt").unlink()
    else:
        os.rename(root / "data" / "d2" / "f1.txt", root / "data" / "d2" / "g1.txt")
    assert mlvc("status", "--check").exit_code == 1


def test_fingerprint_of_another_tree_is_not_trusted(tracked, mlvc):
    """After `git checkout` of an older mlvc.lock, the saved fingerprint names the newer tree."""
    root = tracked.root
    tracked.commit("v1")
    (root / "data" / "d3" / "f4.txt").write_text("v2!")
    assert mlvc("commit").exit_code == 0
    time.sleep(0.05)
    assert mlvc("status", "--check").exit_code == 0
    tracked.git("checkout", "-q", "HEAD", "--", "mlvc.lock")
    r = mlvc("status", "--check")
    assert r.exit_code == 1 and "data/d3/f4.txt" in r.stdout


def test_an_object_deleted_from_the_cache_is_seen_after_a_clean_status(tracked, mlvc):
    """The saved cache signature must not hide an object that went missing since."""
    import xxhash

    time.sleep(0.05)
    assert mlvc("status", "--check").exit_code == 0  # saves the signature with the fingerprint
    assert mlvc("status", "--check").exit_code == 0  # the fast path
    oid = xxhash.xxh3_128_hexdigest(b"2-3")
    obj = tracked.root / ".mlvc" / "cache" / "files" / "xxh3" / oid[:2] / oid[2:]
    obj.unlink()
    r = mlvc("status", "--check")
    assert r.exit_code == 1 and "not in cache" in r.stdout


def test_checkout_does_not_vouch_for_objects_it_did_not_need(tracked, mlvc):
    """An unchanged file whose object is gone from the cache: checkout has nothing to write
    for it, and the next status must still say the cache lacks it."""
    import xxhash

    time.sleep(0.05)
    oid = xxhash.xxh3_128_hexdigest(b"3-3")
    (tracked.root / ".mlvc" / "cache" / "files" / "xxh3" / oid[:2] / oid[2:]).unlink()
    (tracked.root / "data" / "d0" / "f0.txt").unlink()
    assert mlvc("checkout").exit_code == 0
    time.sleep(0.05)
    r = mlvc("status", "--check")
    assert r.exit_code == 1 and "not in cache" in r.stdout


def _saved(root):
    with sqlite3.connect(root / ".mlvc" / "tmp" / "state.db") as db:
        return db.execute("SELECT fingerprint, oid FROM dirs WHERE path='data'").fetchone()


@pytest.mark.parametrize("cache_type", ["copy", "hardlink"])
@pytest.mark.parametrize("replaced", ["absent", "a file"])
def test_a_folder_checked_out_whole_gets_the_fingerprint_a_scan_finds(tracked, mlvc, cache_type, replaced):
    """Made from the rows written (copies) or by a rescan (links): either way the very digest a
    scan of the folder gives, so the next status takes the fast path."""
    from mlvc.workspace.scan import fingerprint, scan

    root = tracked.root
    (root / "data" / "d2" / "f1.txt").chmod(0o755)
    assert mlvc("commit", "data").exit_code == 0
    assert mlvc("config", "cache.type", cache_type).exit_code == 0
    shutil.rmtree(root / "data")
    if replaced == "a file":
        (root / "data").write_text("in the way")
    r = mlvc("checkout", "--force")
    assert r.exit_code == 0, r.output
    fp, oid = _saved(root)
    assert fp == fingerprint(scan(str(root), "data"))
    import yaml

    assert oid == yaml.safe_load((root / "mlvc.lock").read_text())["artifacts"]["data"]["oid"]
    if cache_type == "copy":  # a link has the object's mode
        assert os.access(root / "data" / "d2" / "f1.txt", os.X_OK)


def test_no_fingerprint_when_a_written_file_lacks_its_recorded_bit(tracked, mlvc):
    """A umask without the owner's x: the folder is not as recorded, and status must say so."""
    root = tracked.root
    (root / "data" / "d2" / "f1.txt").chmod(0o755)
    assert mlvc("commit", "data").exit_code == 0
    shutil.rmtree(root / "data")
    with umask(0o177):
        assert mlvc("checkout").exit_code == 0
    from mlvc.workspace.scan import fingerprint, scan

    saved = _saved(root)  # (none, or the one commit saved before the folder was deleted)
    assert saved is None or saved[0] != fingerprint(scan(str(root), "data"))
    r = mlvc("status", "--check")
    assert r.exit_code == 1 and "data/d2/f1.txt" in r.stdout
