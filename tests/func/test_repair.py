"""fsck --repair drops corrupted objects so that a commit can store good copies again."""

import json
import os

import xxhash


def _obj(root, data: bytes):
    oid = xxhash.xxh3_128_hexdigest(data)
    return root / ".mlvc" / "cache" / "files" / "xxh3" / oid[:2] / oid[2:]


def test_fsck_repair_then_commit_restores_a_good_object(repo, mlvc):
    repo.root.gen({"data": {"a.txt": "good a", "b.txt": "good b"}})
    assert mlvc("add", "data").exit_code == 0
    obj = _obj(repo.root, b"good a")
    os.chmod(obj, 0o644)
    obj.write_bytes(b"rotten")
    r = mlvc("fsck", "--repair", "--json")
    assert r.exit_code == 1
    report = json.loads(r.stdout)
    assert report["removed"] == report["corrupted"] and len(report["removed"]) == 1
    assert not obj.exists()
    assert (repo.root / "data" / "a.txt").read_text() == "good a"  # the workspace is untouched
    assert mlvc("status", "--check").exit_code == 1  # not in cache
    assert mlvc("commit").exit_code == 0
    assert obj.read_bytes() == b"good a"
    assert mlvc("fsck").exit_code == 0
    assert mlvc("status", "--check").exit_code == 0


def test_fsck_without_repair_removes_nothing(repo, mlvc):
    repo.root.gen("m.bin", "model")
    assert mlvc("add", "m.bin").exit_code == 0
    obj = _obj(repo.root, b"model")
    os.chmod(obj, 0o644)
    obj.write_bytes(b"bad")
    assert mlvc("fsck").exit_code == 1
    assert obj.read_bytes() == b"bad"


def test_process_dying_before_the_lock_rename_leaves_nothing_for_git(repo):
    """A process that dies between writing mlvc.lock's temp file and renaming it
    (os.replace exits the process here) leaves its temp file in .mlvc/tmp, which git ignores."""
    import subprocess
    import sys

    repo.root.gen("m.bin", "model")
    script = (
        "import os, sys\n"
        "real = os.replace\n"
        "def dying(src, dst, *a, **k):\n"
        "    if dst.endswith('mlvc.lock'):\n"
        "        os._exit(9)\n"
        "    return real(src, dst, *a, **k)\n"
        "os.replace = dying\n"
        "from mlvc import api\n"
        "api.add(['m.bin'])\n"
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=repo.root, capture_output=True, text=True)
    assert r.returncode == 9, r.stderr
    assert not (repo.root / "mlvc.lock").exists()
    assert (repo.root / "m.bin").read_text() == "model"
    assert [p for p in os.listdir(repo.root) if p.startswith(".mlvc-tmp")] == []
    status = repo.git("status", "--porcelain", "--untracked-files=all")
    assert ".mlvc-tmp" not in status and ".mlvc/tmp" not in status


def test_fsck_repair_removes_old_temp_files_of_a_killed_add(repo, mlvc):
    repo.root.gen("m.bin", "model")
    assert mlvc("add", "m.bin").exit_code == 0
    folder = repo.root / ".mlvc" / "cache" / "files" / "xxh3" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    old = folder / ".mlvc-tmp-123-dead-0"
    young = folder / ".mlvc-tmp-456-live-0"
    old.write_bytes(b"half an obj")
    young.write_bytes(b"being written")
    os.utime(old, (1_000_000_000, 1_000_000_000))
    r = mlvc("fsck", "--json")  # no writer is running (the cache lock is free): both are garbage
    assert r.exit_code == 0 and json.loads(r.stdout)["stale_temp_files"] == 2
    assert old.exists()
    assert mlvc("fsck", "--repair").exit_code == 0
    assert not old.exists() and not young.exists()  # with a writer alive, see test_cache_lock.py
