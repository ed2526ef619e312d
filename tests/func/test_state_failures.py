"""The stat cache is never required: a full disk, or a .mlvc/tmp that cannot be written,
makes it switch itself off with one warning, never an error (made to fail for real: a
tiny tmpfs mounted on .mlvc/tmp, an immutable folder)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml


def _mount_tiny_tmpfs(path) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(path)], capture_output=True)
    return r.returncode == 0


def _fill(folder) -> None:
    """Fill the file system of ``folder`` but for 16 KiB (the lock's pid still fits)."""
    filler = os.path.join(folder, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    os.truncate(filler, max(0, os.path.getsize(filler) - 16 * 1024))


def test_a_full_disk_under_the_stat_cache_is_one_warning_not_an_error(repo, mlvc_proc):
    tmp = repo.root / ".mlvc" / "tmp"
    if not _mount_tiny_tmpfs(tmp):
        pytest.skip("needs root and a mountable tmpfs")
    try:
        repo.root.gen("small", "x\n")
        r = mlvc_proc("add", "small", cwd=repo.root)
        assert r.returncode == 0, r.stderr
        assert (tmp / "state.db").exists()
        _fill(tmp)
        repo.root.gen({"data": {f"file_with_a_longish_name_{i}.txt": f"{i}\n" for i in range(600)}})
        r = mlvc_proc("add", "data", cwd=repo.root)
        assert r.returncode == 0, r.stderr  # was: internal error: OperationalError (exit 70)
        warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: the stat cache")]
        assert len(warnings) == 1, r.stderr
        assert "carrying on without it" in warnings[0]
        lock = yaml.safe_load((repo.root / "mlvc.lock").read_text())
        assert set(lock["artifacts"]) == {"small", "data"}
        r = mlvc_proc("status", "--check", cwd=repo.root)
        assert r.returncode == 0, r.stderr
        r = mlvc_proc("fsck", cwd=repo.root)
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(["umount", str(tmp)], check=True)


def _immutable(path, on: bool) -> bool:
    if not shutil.which("chattr"):
        return False
    r = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return r.returncode == 0


@pytest.mark.parametrize("db", ["kept", "none"])
def test_status_works_when_mlvc_tmp_cannot_be_written(repo, mlvc_proc, db):
    repo.root.gen({"data": {f"f{i}": f"{i}\n" for i in range(20)}, "model.bin": "m"})
    assert mlvc_proc("add", "data", "model.bin", cwd=repo.root).returncode == 0
    tmp = repo.root / ".mlvc" / "tmp"
    if db == "none":
        for name in os.listdir(tmp):
            if name.startswith("state.db"):
                os.unlink(tmp / name)
    if not _immutable(tmp, True):
        pytest.skip("needs chattr +i (root, a file system with attributes)")
    try:
        with pytest.raises(OSError):  # really unwritable, for root too
            (tmp / "probe").write_text("x")
        r = mlvc_proc("status", cwd=repo.root)
        assert r.returncode == 0, r.stderr  # was: "Operation not permitted" or an internal error
        assert "Up to date" in r.stdout
        if db == "none":  # with no database to read, the stat cache cannot start: said once
            assert r.stderr.count("warning: the stat cache") == 1, r.stderr
        (repo.root / "model.bin").write_text("changed")
        r = mlvc_proc("status", "--check", cwd=repo.root)
        assert r.returncode == 1, r.stderr
        assert "model.bin" in r.stdout
    finally:
        _immutable(tmp, False)
