"""A hostile repository stays inside itself (issue 7): each attack is committed with real git,
cloned, and the real CLI runs in the clone. A victim folder outside must not change by a byte,
and the command must fail with one line naming what it refused."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
from funcutil import one_line_error, snapshot

from conftest import git

MLVC = [sys.executable, "-m", "mlvc"]


def run(cwd, *args, timeout=60, **env):
    return subprocess.run([*MLVC, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "MLVC_NO_PROGRESS": "1", **env})


@pytest.fixture
def victim(tmp_path_factory):
    """A folder outside every repository, with files worth keeping."""
    v = tmp_path_factory.mktemp("victim")
    (v / "file").write_text("precious\n")
    (v / "empty").write_bytes(b"")
    (v / "sub").mkdir()
    (v / "sub" / "x.bin").write_bytes(b"\x00\x01" * 100)
    return v


def hostile_clone(repo, tmp_path_factory, plant, data: bool = True):
    """Commit what ``plant(root)`` makes (forced past .gitignore) in the ``repo`` fixture, clone it."""
    root = repo.root
    if data:
        root.gen({"data": {"a.txt": "a\n", "b.txt": "b\n"}})
        r = run(root, "add", "data")
        assert r.returncode == 0, r.stderr
    import shutil

    for own in (".mlvc/tmp", ".mlvc/cache"):  # what mlvc made itself stays out of the commit
        shutil.rmtree(root / own, ignore_errors=True)
    plant(root)
    git("add", "-A", "-f", ".", cwd=root)
    git("commit", "-q", "-m", "hostile", cwd=root)
    clone = tmp_path_factory.mktemp("clone") / "c"
    git("clone", "-q", str(root), str(clone))
    return clone


def refused(r, *names) -> str:
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    line = one_line_error(r)
    for name in names:
        assert name in line, line
    return line


# ------------------------------------------------ links in .mlvc and .mlvc/tmp


def test_committed_lock_symlink_never_truncates_its_target(repo, tmp_path_factory, victim):
    def plant(root):
        (root / ".mlvc" / "tmp").mkdir(exist_ok=True)
        os.symlink(victim / "file", root / ".mlvc" / "tmp" / "lock")

    clone = hostile_clone(repo, tmp_path_factory, plant)
    assert os.path.islink(clone / ".mlvc" / "tmp" / "lock")
    before = snapshot(victim, skip=())
    clone.joinpath("new.txt").write_text("n\n")
    for args in (["add", "new.txt"], ["checkout"], ["commit"], ["config", "core.fsync", "never"]):
        refused(run(clone, *args), ".mlvc/tmp/lock", "symlink")
    assert snapshot(victim, skip=()) == before


def test_committed_tmp_symlink_is_never_used(repo, tmp_path_factory, victim):
    def plant(root):
        os.symlink(victim, root / ".mlvc" / "tmp")

    clone = hostile_clone(repo, tmp_path_factory, plant)
    before = snapshot(victim, skip=())
    clone.joinpath("new.txt").write_text("n\n")
    for args in (["add", "new.txt"], ["checkout"], ["status"]):
        refused(run(clone, *args), ".mlvc/tmp", "symlink")
    assert snapshot(victim, skip=()) == before


def test_committed_mlvc_folder_symlink_is_refused(repo, tmp_path_factory, victim):
    fake = victim / "fake"  # looks like an .mlvc folder: a state db and objects would land here

    def plant(root):
        import shutil

        shutil.copytree(root / ".mlvc", fake)
        shutil.rmtree(root / ".mlvc")
        os.symlink(fake, root / ".mlvc")

    clone = hostile_clone(repo, tmp_path_factory, plant, data=False)
    before = snapshot(victim, skip=())
    clone.joinpath("new.txt").write_text("n\n")
    for args in (["add", "new.txt"], ["status"], ["checkout"]):
        refused(run(clone, *args), ".mlvc", "symlink")
    refused(run(clone, "init", "--force"), ".mlvc", "symlink")
    assert snapshot(victim, skip=()) == before


def test_committed_checkout_staging_symlink_deletes_nothing(repo, tmp_path_factory, victim):
    def plant(root):
        (root / ".mlvc" / "tmp").mkdir(exist_ok=True)
        os.symlink(victim, root / ".mlvc" / "tmp" / "checkout")

    clone = hostile_clone(repo, tmp_path_factory, plant, data=False)
    before = snapshot(victim, skip=())
    refused(run(clone, "checkout"), ".mlvc/tmp/checkout", "symlink")
    refused(run(clone, "checkout", "--force"), ".mlvc/tmp/checkout", "symlink")
    assert snapshot(victim, skip=()) == before


@pytest.mark.parametrize("name", ["state.db", "state.db-wal", "state.db-journal"])
def test_committed_state_db_symlink_is_never_opened(repo, tmp_path_factory, victim, name):
    def plant(root):
        (root / ".mlvc" / "tmp").mkdir(exist_ok=True)
        os.symlink(victim / "empty", root / ".mlvc" / "tmp" / name)  # sqlite would make a database in it

    clone = hostile_clone(repo, tmp_path_factory, plant)
    before = snapshot(victim, skip=())
    for args in (["status"], ["checkout"]):
        refused(run(clone, *args), f".mlvc/tmp/{name}", "symlink")
    assert snapshot(victim, skip=()) == before


@pytest.mark.parametrize("where", [".mlvc/cache", ".mlvc/cache/files", ".mlvc/cache/files/xxh3/ab"])
def test_committed_cache_symlink_gets_no_objects(repo, tmp_path_factory, victim, where):
    def plant(root):
        (root / where).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(victim, root / where)

    clone = hostile_clone(repo, tmp_path_factory, plant, data=False)
    before = snapshot(victim, skip=())
    clone.joinpath("new.txt").write_text("n\n")
    refused(run(clone, "add", "new.txt"), where, "symlink")
    assert snapshot(victim, skip=()) == before


# ------------------------------------------------ cache.dir from the committed config


def _plant_config(text: str | bytes):
    def plant(root):
        p = root / ".mlvc" / "config"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())

    return plant


@pytest.mark.parametrize("relative", [False, True])
def test_committed_cache_dir_outside_needs_confirmation(repo, tmp_path_factory, victim, relative):
    target = victim / "cache"
    # relative to the clone's .mlvc (clone0/c/.mlvc, beside the victim folder)
    value = f"../../../{victim.name}/cache" if relative else str(target)
    clone = hostile_clone(repo, tmp_path_factory, _plant_config(f"[cache]\ndir = {value}\n"))
    before = snapshot(victim, skip=())
    clone.joinpath("new.txt").write_text("n\n")
    r = run(clone, "add", "new.txt")
    line = refused(r, "cache.dir", "outside", "config.local", "mlvc config --local cache.dir")
    assert snapshot(victim, skip=()) == before
    # The user confirms it, as the error says; then it is used.
    confirmed = os.path.normpath(os.path.join(clone, ".mlvc", value))
    assert run(clone, "config", "--local", "cache.dir", confirmed).returncode == 0
    r = run(clone, "add", "new.txt")
    assert r.returncode == 0, r.stderr
    assert any((target / "files" / "xxh3").iterdir())
    assert line


def test_cache_dir_inside_through_committed_symlink_is_refused(repo, tmp_path_factory, victim):
    def plant(root):
        os.symlink(victim, root / "shared")
        _plant_config("[cache]\ndir = ../shared/cache\n")(root)

    clone = hostile_clone(repo, tmp_path_factory, plant, data=False)
    before = snapshot(victim, skip=())
    clone.joinpath("new.txt").write_text("n\n")
    refused(run(clone, "add", "new.txt"), "shared", "symlink")
    assert snapshot(victim, skip=()) == before


def test_user_set_cache_dir_outside_is_confirmed_by_setting_it(repo, tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared") / "cache"
    assert run(repo.root, "config", "cache.dir", str(shared)).returncode == 0
    assert f"dir = {shared}" in (repo.root / ".mlvc" / "config.local").read_text()
    repo.root.gen("a.txt", "a")
    assert run(repo.root, "add", "a.txt").returncode == 0
    assert (shared / "files" / "xxh3").is_dir()
    assert run(repo.root, "config", "--unset", "cache.dir").returncode == 0
    assert "dir" not in (repo.root / ".mlvc" / "config.local").read_text()


def test_nul_in_committed_cache_dir_is_a_config_error(repo, tmp_path_factory):
    clone = hostile_clone(repo, tmp_path_factory, _plant_config(b"[cache]\ndir = ab\x00cd\n"), data=False)
    clone.joinpath("new.txt").write_text("n\n")
    refused(run(clone, "add", "new.txt"), ".mlvc/config", "NUL")


def test_cache_dir_naming_a_file_is_a_config_error(repo):
    repo.root.gen("afile", "x")
    r = run(repo.root, "config", "cache.dir", "afile")
    refused(r, "cache.dir", "file")
    (repo.root / ".mlvc" / "config").write_text("[cache]\ndir = ../afile\n")
    refused(run(repo.root, "add", "afile"), "cache.dir", "file")


# ------------------------------------------------ bounded reads of mlvc.lock, mlvc.yaml, config


@pytest.mark.parametrize("name", ["mlvc.lock", "mlvc.yaml", ".mlvc/config"])
def test_committed_symlink_to_dev_zero_is_refused(repo, tmp_path_factory, name):
    def plant(root):
        os.unlink(root / name)
        os.symlink("/dev/zero", root / name)

    clone = hostile_clone(repo, tmp_path_factory, plant)
    refused(run(clone, "status", timeout=30), name, "symlink")


def test_fifo_as_mlvc_lock_does_not_hang_status(repo):
    repo.root.gen("a.txt", "a")
    assert run(repo.root, "add", "a.txt").returncode == 0
    os.unlink(repo.root / "mlvc.lock")
    os.mkfifo(repo.root / "mlvc.lock")
    refused(run(repo.root, "status", timeout=30), "mlvc.lock", "not a regular file")


def test_huge_integer_in_mlvc_lock_is_a_format_error(repo, tmp_path_factory):
    def plant(root):
        text = (root / "mlvc.lock").read_text()
        import re

        (root / "mlvc.lock").write_text(re.sub(r"size: \d+", "size: " + "9" * 5000, text, count=1))

    clone = hostile_clone(repo, tmp_path_factory, plant)
    refused(run(clone, "status"), "mlvc.lock", "too large")
    refused(run(clone, "checkout"), "mlvc.lock", "too large")


def test_oversized_mlvc_yaml_is_refused(repo, monkeypatch):
    from mlvc.formats import yamlio

    monkeypatch.setattr(yamlio, "MAX_FILE_BYTES", 1000)
    (repo.root / "mlvc.yaml").write_text("schema: 2\n" + "#" * 2000 + "\n")
    from mlvc.errors import FileFormatError
    from mlvc.formats.project import read_project

    with pytest.raises(FileFormatError, match="too large"):
        read_project(str(repo.root))


@pytest.mark.parametrize("env, name", [({"MLVC_LOCK_TIMEOUT": "abc"}, "MLVC_LOCK_TIMEOUT"),
                                       ({"MLVC_LOCK_TIMEOUT": "-1"}, "MLVC_LOCK_TIMEOUT"),
                                       ({"MLVC_JOBS": ""}, "MLVC_JOBS"),
                                       ({"MLVC_JOBS": "many"}, "MLVC_JOBS")])
def test_bad_environment_is_a_clear_error(repo, env, name):
    repo.root.gen({"data": {f"f{i}": str(i) for i in range(300)}})
    r = run(repo.root, "add", "data", **env)
    refused(r, name)
    assert run(repo.root, "status").returncode == 0  # status needs neither


# ------------------------------------------------ secrets


def test_config_list_masks_secrets(repo):
    root = repo.root
    for key, value in (("remote.s3.password", "hunter2"), ("remote.s3.secret_access_key", "AKSECRET"),
                       ("remote.s3.session_token", "TOKVAL"), ("remote.s3.user", "alice")):
        assert run(root, "config", "--local", key, value).returncode == 0
    for args in (["config", "--list"], ["config"], ["config", "--list", "--json"]):
        r = run(root, *args)
        assert r.returncode == 0, r.stderr
        for secret in ("hunter2", "AKSECRET", "TOKVAL"):
            assert secret not in r.stdout
        assert "alice" in r.stdout
    data = json.loads(run(root, "config", "--list", "--json").stdout)
    assert data["remote.s3.password"]["value"] == "***" and data["remote.s3.secret_access_key"]["value"] == "***"
    assert run(root, "config", "remote.s3.password").stdout.strip() == "hunter2"  # asked by name: shown


def test_config_local_is_private(repo):
    assert run(repo.root, "config", "--local", "remote.s3.password", "hunter2").returncode == 0
    assert stat.S_IMODE(os.stat(repo.root / ".mlvc" / "config.local").st_mode) == 0o600
    (repo.root / ".mlvc" / "config.local").chmod(0o644)  # made by an older mlvc
    assert run(repo.root, "config", "--local", "remote.s3.user", "alice").returncode == 0
    assert stat.S_IMODE(os.stat(repo.root / ".mlvc" / "config.local").st_mode) == 0o600


def test_bad_config_line_does_not_echo_a_secret(repo):
    (repo.root / ".mlvc" / "config.local").write_text('[remote "s3"]\nurl = s3://b\nhunter2-is-my-password\n')
    repo.root.gen("a.txt", "a")
    r = run(repo.root, "add", "a.txt")
    line = refused(r, ".mlvc/config.local")
    assert "hunter2" not in r.stdout + r.stderr, line


def test_config_unset_with_a_value_is_a_usage_error(repo):
    assert run(repo.root, "config", "core.fsync", "never").returncode == 0
    r = run(repo.root, "config", "--unset", "core.fsync", "never")
    assert r.returncode == 2, r.stderr
    one_line_error(r)
    assert run(repo.root, "config", "core.fsync").stdout.strip() == "never"


# ------------------------------------------------ nested init, the lock


def test_init_inside_a_repository_is_refused(repo):
    sub = repo.root / "sub"
    sub.mkdir()
    for args in (["init"], ["init", "--force"]):
        line = refused(run(sub, *args), "inside the mlvc repository", str(repo.root))
    assert not (sub / ".mlvc").exists()
    assert line
    # Its own git repository inside a tracked folder is no different.
    git("init", "-q", str(sub))
    refused(run(sub, "init"), "inside the mlvc repository")
    assert not (sub / ".mlvc").exists()


HOLD = """
import sys, time
from mlvc.repo import Repo
with Repo(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(60)
"""


def test_removing_the_lock_file_does_not_let_a_second_writer_in(repo):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(repo.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        os.unlink(repo.root / ".mlvc" / "tmp" / "lock")
        repo.root.gen("a.txt", "a")
        t = time.monotonic()
        r = run(repo.root, "add", "a.txt", MLVC_LOCK_TIMEOUT="0.5")
        assert r.returncode == 4, (r.returncode, r.stderr)
        assert "locked" in one_line_error(r)
        assert time.monotonic() - t < 20
        assert not (repo.root / "mlvc.lock").exists()
    finally:
        p.kill()
        p.wait()
    r = run(repo.root, "add", "a.txt")
    assert r.returncode == 0, r.stderr


# ------------------------------------------- links on the way to an artifact


def test_committed_symlink_above_an_artifact_is_refused(repo, tmp_path_factory, victim):
    # mlvc.yaml lists data/x and git carries data -> /victim: commit used to write
    # /victim/.gitignore and record /victim/x.
    def plant(root):
        (root / "mlvc.yaml").write_text("schema: 2\nartifacts:\n- data/x\n")
        (root / "mlvc.lock").write_text("schema: 2\nartifacts: {}\n")
        os.symlink(victim, root / "data")

    clone = hostile_clone(repo, tmp_path_factory, plant, data=False)
    before = snapshot(victim)
    for args in (["commit"], ["add", "data/x"], ["unprotect", "data/x"]):
        r = run(clone, *args)
        assert r.returncode == 3, (args, r.stderr)
        assert "outside the repository" in one_line_error(r), args
    assert snapshot(victim) == before
    assert not (victim / ".gitignore").exists()


@pytest.mark.parametrize("kind", ["folder", "file"])
@pytest.mark.parametrize("cache_type", ["copy", "hardlink"])
def test_an_artifact_that_is_a_link_out_is_refused(repo, tmp_path_factory, victim, kind, cache_type):
    # In hardlink mode a commit used to link the victim's files into the cache and make
    # them read-only before refusing.
    def plant(root):
        (root / "mlvc.yaml").write_text("schema: 2\nartifacts:\n- vdata\n")
        (root / "mlvc.lock").write_text("schema: 2\nartifacts: {}\n")
        os.symlink(victim if kind == "folder" else victim / "file", root / "vdata")

    clone = hostile_clone(repo, tmp_path_factory, plant, data=False)
    assert run(clone, "config", "cache.type", cache_type).returncode == 0
    before = snapshot(victim)
    modes = {p: os.stat(victim / p).st_mode for p in ("file", "sub/x.bin")}
    for args in (["commit"], ["add", "vdata"]):
        r = run(clone, *args)
        assert r.returncode == 3, (args, r.stderr)
        assert "outside the repository" in one_line_error(r), args
    assert snapshot(victim) == before
    assert {p: os.stat(victim / p).st_mode for p in modes} == modes
