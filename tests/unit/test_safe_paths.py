"""mlvc's own folders and files are never followed through a symlink; bounded reads; the lock
locks the file at its path; env vars, secrets and config files (issue 7)."""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest

from mlvc import fs
from mlvc.config import Config, ConfigFiles, is_secret, masked, read_file, trusted_cache_dir
from mlvc.errors import ConfigError, FileFormatError, LockHeldError, UnsafeLinkError
from mlvc.formats import yamlio
from mlvc.fs.parallel import default_workers
from mlvc.repo import Repo, lock_wait_seconds


# ------------------------------------------------ safe_dir, check_own_file, check_no_links


def test_safe_dir_creates_real_folders(tmp_path):
    path = fs.safe_dir(str(tmp_path), ".mlvc/tmp/checkout")
    assert path == str(tmp_path / ".mlvc" / "tmp" / "checkout")
    assert os.path.isdir(path) and not os.path.islink(path)
    assert fs.safe_dir(str(tmp_path), ".mlvc/tmp/checkout") == path  # again: nothing to do


@pytest.mark.parametrize("link_at", [".mlvc", ".mlvc/tmp", ".mlvc/tmp/checkout"])
def test_safe_dir_refuses_a_symlink_anywhere_and_writes_nothing(tmp_path, link_at):
    victim = tmp_path / "victim"
    victim.mkdir()
    root = tmp_path / "repo"
    (root / link_at).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, root / link_at)
    with pytest.raises(UnsafeLinkError, match=f"'{link_at}'.*symlink"):
        fs.safe_dir(str(root), ".mlvc/tmp/checkout")
    with pytest.raises(UnsafeLinkError):
        fs.safe_dir(str(root), ".mlvc/tmp/checkout", create=False)
    assert os.listdir(victim) == []


def test_safe_dir_refuses_a_file_in_the_way_and_dotdot(tmp_path):
    (tmp_path / ".mlvc").write_text("x")
    with pytest.raises(UnsafeLinkError, match="not a folder"):
        fs.safe_dir(str(tmp_path), ".mlvc/tmp")
    with pytest.raises(Exception, match="leaves"):
        fs.safe_dir(str(tmp_path), "../elsewhere")


def test_safe_dir_without_create_returns_a_missing_path(tmp_path):
    assert fs.safe_dir(str(tmp_path), "a/b", create=False) == str(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()


def test_check_own_file(tmp_path):
    assert fs.check_own_file(str(tmp_path / "none")) is False
    (tmp_path / "f").write_text("x")
    assert fs.check_own_file(str(tmp_path / "f")) is True
    os.symlink(tmp_path / "f", tmp_path / "l")
    with pytest.raises(UnsafeLinkError, match="symlink"):
        fs.check_own_file(str(tmp_path / "l"), str(tmp_path))
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UnsafeLinkError, match="not a regular file"):
        fs.check_own_file(str(tmp_path / "fifo"))


def test_check_no_links(tmp_path):
    fs.check_no_links(str(tmp_path / "missing"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("x")
    fs.check_no_links(str(tmp_path / "d"))
    os.symlink("/", tmp_path / "d" / "ab")
    with pytest.raises(UnsafeLinkError, match="'d/ab'"):
        fs.check_no_links(str(tmp_path / "d"), str(tmp_path))


# ------------------------------------------------ read_regular and the files read with it


def test_read_regular(tmp_path):
    p = tmp_path / "f"
    assert fs.read_regular(str(p), "f", 10) is None
    p.write_bytes(b"0123456789")
    assert fs.read_regular(str(p), "f", 10) == b"0123456789"
    with pytest.raises(FileFormatError, match="larger than 9 bytes"):
        fs.read_regular(str(p), "f", 9)
    with pytest.raises(FileFormatError, match="is a folder"):
        fs.read_regular(str(tmp_path), "d", 10)


def test_read_regular_never_follows_a_link_or_reads_a_device(tmp_path):
    os.symlink("/dev/zero", tmp_path / "zero")
    with pytest.raises(UnsafeLinkError, match="symlink.*/dev/zero"):
        fs.read_regular(str(tmp_path / "zero"), "zero", 1 << 30)
    with pytest.raises(FileFormatError, match="not a regular file"):
        fs.read_regular("/dev/zero", "zero", 1 << 30)


def test_read_regular_does_not_wait_for_a_fifo_writer(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    t = time.monotonic()
    with pytest.raises(FileFormatError, match="not a regular file"):
        fs.read_regular(str(tmp_path / "fifo"), "fifo", 100)
    assert time.monotonic() - t < 5


def test_read_regular_stops_at_the_cap_when_the_size_lies():
    # /proc files say size 0 and have content: read no more than the cap + 1.
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc")
    with pytest.raises(FileFormatError, match="larger than 10 bytes"):
        fs.read_regular("/proc/self/status", "status", 10)


def test_yaml_read_text_caps_size(tmp_path, monkeypatch):
    (tmp_path / "mlvc.lock").write_text("x" * 100)
    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 50)
    with pytest.raises(FileFormatError, match="mlvc.lock: is larger than 50 bytes"):
        yamlio.read_text(str(tmp_path / "mlvc.lock"), "mlvc.lock")


def test_huge_integers_in_yaml_are_format_errors():
    from mlvc.formats.lock import parse_lock

    text = "schema: 2\nartifacts:\n  a:\n    oid: " + "0" * 32 + "\n    size: " + "9" * 5000 + "\n"
    with pytest.raises(FileFormatError, match="too large"):
        parse_lock(text)
    node = yamlio.load_yaml("mlvc.yaml", "x: " + "9" * 5000 + "\n")
    with pytest.raises(FileFormatError, match="invalid value"):
        yamlio.to_python("mlvc.yaml", node)


def test_config_read_file_refuses_links_and_caps_size(tmp_path, monkeypatch):
    import mlvc.config as config

    os.symlink("/dev/zero", tmp_path / "config")
    with pytest.raises(UnsafeLinkError, match="symlink"):
        read_file(str(tmp_path / "config"))
    (tmp_path / "big").write_text("[core]\nremote = " + "x" * 100 + "\n")
    monkeypatch.setattr(config, "MAX_CONFIG_BYTES", 50)
    with pytest.raises(FileFormatError, match="larger than 50"):
        read_file(str(tmp_path / "big"))


# ------------------------------------------------ config: cache.dir, secrets, modes, temp files


def _config(tmp_path) -> Config:
    dot = tmp_path / ".mlvc"
    (dot / "tmp").mkdir(parents=True, exist_ok=True)
    return Config(ConfigFiles(str(dot / "config"), str(dot / "config.local"), tmp=str(dot / "tmp")))


def test_committed_cache_dir_outside_needs_local_confirmation(tmp_path):
    root = str(tmp_path)
    (tmp_path / ".mlvc").mkdir()
    (tmp_path / ".mlvc" / "config").write_text("[cache]\ndir = /srv/elsewhere\n")
    c = _config(tmp_path)
    with pytest.raises(ConfigError, match="config.local") as info:
        trusted_cache_dir(c, root)
    assert "mlvc config --local cache.dir /srv/elsewhere" in info.value.hint
    c.set("cache.dir", "/srv/elsewhere", local=True)
    assert trusted_cache_dir(_config(tmp_path), root) == "/srv/elsewhere"


def test_committed_cache_dir_inside_needs_no_confirmation(tmp_path):
    (tmp_path / ".mlvc").mkdir()
    (tmp_path / ".mlvc" / "config").write_text("[cache]\ndir = ../cache2\n")
    assert trusted_cache_dir(_config(tmp_path), str(tmp_path)) == str(tmp_path / "cache2")


def test_cache_dir_nul_and_file(tmp_path):
    (tmp_path / ".mlvc").mkdir()
    (tmp_path / ".mlvc" / "config").write_bytes(b"[cache]\ndir = a\x00b\n")
    with pytest.raises(FileFormatError, match="NUL"):
        _config(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / ".mlvc" / "config").write_text("[cache]\ndir = ../afile\n")
    with pytest.raises(ConfigError, match="is a file"):
        trusted_cache_dir(_config(tmp_path), str(tmp_path))


def test_secret_keys_are_masked():
    for key in ("remote.s3.password", "remote.s3.secret_access_key", "remote.az.sas_token",
                "remote.gs.credentialpath", "remote.x.session_token"):
        assert is_secret(key), key
    for key in ("remote.s3.url", "remote.s3.access_key_id", "cache.dir", "remote.s3.user"):
        assert not is_secret(key), key
    assert masked({"remote.s3.password": "p", "remote.s3.url": "u", "remote.s3.token": ""}) == {
        "remote.s3.password": "***", "remote.s3.url": "u", "remote.s3.token": ""}


def test_config_local_is_0600_and_temp_files_live_in_tmp(tmp_path, monkeypatch):
    c = _config(tmp_path)
    seen = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (seen.append(os.path.dirname(a)), real(a, b)))
    old = os.umask(0o022)
    try:
        c.set("remote.s3.password", "hunter2", local=True)
        c.set("core.fsync", "never")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / ".mlvc" / "config.local").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / ".mlvc" / "config").st_mode) == 0o644
    assert seen == [str(tmp_path / ".mlvc" / "tmp")] * 2


def test_atomic_write_never_puts_its_temp_file_through_a_linked_tmp_dir(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    os.symlink(victim, tmp_path / "tmp")
    seen = []
    real = os.open

    def spy(path, *a, **kw):
        seen.append(str(path))
        return real(path, *a, **kw)

    import mlvc.fs.atomic as atomic

    orig = atomic.os.open
    atomic.os.open = spy
    try:
        fs.atomic_write(str(tmp_path / "f"), b"x", tmp_dir=str(tmp_path / "tmp"))
    finally:
        atomic.os.open = orig
    assert not any(p.startswith(str(tmp_path / "tmp")) or p.startswith(str(victim)) for p in seen), seen
    assert (tmp_path / "f").read_bytes() == b"x"


def test_bad_line_error_does_not_quote_the_line(tmp_path):
    (tmp_path / "config.local").write_text('[remote "s3"]\nhunter2secret\n')
    with pytest.raises(FileFormatError) as info:
        read_file(str(tmp_path / "config.local"))
    assert "hunter2" not in str(info.value) and info.value.line == 2


# ------------------------------------------------ environment variables


@pytest.mark.parametrize("raw", ["abc", "-1", "nan", ""])
def test_lock_timeout_must_be_a_number(monkeypatch, raw):
    monkeypatch.setenv("MLVC_LOCK_TIMEOUT", raw)
    with pytest.raises(ConfigError, match="MLVC_LOCK_TIMEOUT"):
        lock_wait_seconds()


def test_lock_timeout_default_and_value(monkeypatch):
    monkeypatch.delenv("MLVC_LOCK_TIMEOUT", raising=False)
    assert lock_wait_seconds() == 3.0
    monkeypatch.setenv("MLVC_LOCK_TIMEOUT", "0.25")
    assert lock_wait_seconds() == 0.25


@pytest.mark.parametrize("raw", ["", "abc", "-2", "1.5"])
def test_jobs_must_be_a_whole_number(monkeypatch, raw):
    monkeypatch.setenv("MLVC_JOBS", raw)
    with pytest.raises(ConfigError, match="MLVC_JOBS"):
        default_workers()


def test_jobs_values(monkeypatch):
    monkeypatch.setenv("MLVC_JOBS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("MLVC_JOBS", "0")
    assert default_workers() >= 1


def test_importing_with_bad_environment_does_not_crash(monkeypatch):
    import subprocess
    import sys

    env = {**os.environ, "MLVC_LOCK_TIMEOUT": "abc", "MLVC_JOBS": ""}
    r = subprocess.run([sys.executable, "-c", "import mlvc.repo, mlvc.fs.parallel, mlvc.cli"], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------ the repository lock


def _repo(tmp_path) -> Repo:
    (tmp_path / ".mlvc" / "tmp").mkdir(parents=True)
    return Repo(str(tmp_path))


def test_lock_refuses_a_symlinked_lock_file(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    repo = _repo(tmp_path / "r")
    os.symlink(victim, tmp_path / "r" / ".mlvc" / "tmp" / "lock")
    with pytest.raises(UnsafeLinkError, match="lock.*symlink"):
        with repo.lock():
            pass
    assert victim.read_text() == "precious"


def test_lock_refuses_a_fifo_as_lock_file(tmp_path):
    repo = _repo(tmp_path)
    os.mkfifo(tmp_path / ".mlvc" / "tmp" / "lock")
    with pytest.raises(UnsafeLinkError, match="lock"):
        with repo.lock():
            pass


@pytest.mark.slow
def test_lock_rechecks_the_file_at_its_path(tmp_path, monkeypatch):
    """B waits on the old lock file; meanwhile it is replaced by a new one that C holds. When A
    lets go, B must see that the file it locked is no longer the lock, and wait for C."""
    import fcntl

    monkeypatch.setenv("MLVC_LOCK_TIMEOUT", "1.5")
    repo = _repo(tmp_path)
    lock_path = tmp_path / ".mlvc" / "tmp" / "lock"
    got = []
    a_in, release_a = threading.Event(), threading.Event()

    def writer_a():
        with repo.lock():
            a_in.set()
            release_a.wait(10)

    def writer_b():
        try:
            with Repo(str(tmp_path)).lock():
                got.append("B")
        except LockHeldError:
            got.append("held")

    ta = threading.Thread(target=writer_a)
    ta.start()
    assert a_in.wait(10)
    tb = threading.Thread(target=writer_b)
    tb.start()
    time.sleep(0.3)  # B now waits on the old file
    new = tmp_path / ".mlvc" / "tmp" / "lock.new"
    new.write_text("")
    c_fd = os.open(new, os.O_RDWR)
    fcntl.flock(c_fd, fcntl.LOCK_EX)
    os.replace(new, lock_path)  # C's lock is now the file at the path
    try:
        release_a.set()
        ta.join(10)
        tb.join(10)
    finally:
        os.close(c_fd)
    assert got == ["held"]
