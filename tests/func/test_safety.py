"""Safety, with real processes: the repository lock, SIGKILL at random moments, symlinks, '../' paths."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from funcutil import bad_objects, object_path, oid_of, read_lock, snapshot, tree_lines, workspace_files

from conftest import git

HOLD = """
import sys, time
from mlvc.repo import Repo
with Repo(sys.argv[1]).lock():
    print("locked", flush=True)
    time.sleep(120)
"""


def _env(**extra):
    return {**os.environ, "MLVC_NO_PROGRESS": "1", **extra}


def _run(root, *args, **kw):
    return subprocess.run([sys.executable, "-m", "mlvc", *args], cwd=root, capture_output=True, text=True,
                          env=_env(**kw))


@pytest.fixture
def holder(repo):
    """A process that holds the repository lock until it is killed."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(repo.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        yield p
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()


# ------------------------------------------------------------- the lock


@pytest.mark.slow
def test_second_writer_fails_with_holder_pid(repo, holder):
    repo.root.gen({"a.bin": "a", "data": {"x": "x"}})
    before = snapshot(repo.root)
    for args in (["add", "a.bin"], ["commit"], ["checkout"], ["remove", "a.bin"], ["config", "cache.type", "copy"]):
        p = _run(repo.root, *args, MLVC_LOCK_TIMEOUT="0.5")
        assert p.returncode == 4, (args, p.stderr)
        assert f"process {holder.pid}" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1
    assert snapshot(repo.root) == before


def test_readers_do_not_need_the_lock(repo, holder):
    p = _run(repo.root, "status", "--check", MLVC_LOCK_TIMEOUT="0.5")
    assert p.returncode == 0, p.stderr
    p = _run(repo.root, "fsck", MLVC_LOCK_TIMEOUT="0.5")
    assert p.returncode == 0, p.stderr


def test_lock_of_a_killed_process_is_taken_over(repo, holder):
    repo.root.gen("a.bin", "a")
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (repo.root / ".mlvc" / "tmp" / "lock").exists()  # the file stays; the flock went with the process
    p = _run(repo.root, "add", "a.bin", MLVC_LOCK_TIMEOUT="0.5")
    assert p.returncode == 0, p.stderr
    assert "a.bin" in read_lock(repo.root)["artifacts"]


def test_writer_waits_for_a_lock_that_is_released(repo):
    """A holder that finishes within MLVC_LOCK_TIMEOUT does not make the second writer fail."""
    repo.root.gen("a.bin", "a")
    code = HOLD.replace("time.sleep(120)", "time.sleep(0.3)")
    p = subprocess.Popen([sys.executable, "-c", code, str(repo.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        r = _run(repo.root, "add", "a.bin", MLVC_LOCK_TIMEOUT="30")
        assert r.returncode == 0, r.stderr
    finally:
        p.kill()
        p.wait()


def test_concurrent_writers_lose_no_update(repo):
    """Four `mlvc add` processes at once, each on its own path: every one lands in mlvc.lock."""
    names = [f"f{i}.bin" for i in range(4)]
    for n in names:
        repo.root.gen(n, n * 1000)
    procs = [subprocess.Popen([sys.executable, "-m", "mlvc", "add", n], cwd=repo.root, env=_env(MLVC_LOCK_TIMEOUT="60"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for n in names]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    lock = read_lock(repo.root)["artifacts"]
    assert sorted(lock) == names
    assert all(lock[n]["oid"] == oid_of((n * 1000).encode()) for n in names)
    assert sorted((repo.root / ".gitignore").read_text().splitlines()) == [f"/{n}" for n in names]
    assert _run(repo.root, "status", "--check").returncode == 0


# ------------------------------------------------------ SIGKILL at random


SEED = int(os.environ.get("MLVC_KILL_SEED", "1234"))
FRACTIONS = (0.1, 0.4, 0.7, 0.95)


def _make_files(n: int, size: int, rng: random.Random, prefix: str = "") -> dict[str, bytes]:
    return {f"d{i % 17}/{prefix}f{i}.bin": rng.randbytes(size) for i in range(n)}


def _write(folder, files):
    for rel, data in files.items():
        p = os.path.join(folder, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if os.path.lexists(p):
            os.unlink(p)
        with open(p, "wb") as f:
            f.write(data)


def _new_repo(path):
    os.makedirs(path)
    git("init", "-q", "-b", "main", cwd=path)
    subprocess.run([sys.executable, "-m", "mlvc", "init"], cwd=path, check=True, capture_output=True)
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "init", cwd=path)


def _kill_after(root, delay, *args) -> int:
    """Start `mlvc ARGS`, SIGKILL it after ``delay`` seconds; its return code (-SIGKILL if the kill landed)."""
    p = subprocess.Popen([sys.executable, "-m", "mlvc", *args], cwd=root, env=_env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        return p.wait()


def _kill_mid_run(root, delay, args, again, ctx) -> float:
    """SIGKILL `mlvc ARGS` after ``delay`` s; when it finished first, call ``again()`` (undo its work)
    and retry with a shorter delay. Fails unless a kill lands mid-run; returns the delay that landed."""
    for _ in range(8):
        code = _kill_after(root, delay, *args)
        if code == -signal.SIGKILL:
            return delay
        assert code == 0, f"{ctx}: exited {code} before the kill after {delay:.3f}s"
        again()
        delay *= 0.6
    pytest.fail(f"{ctx}: every kill came after the command had finished")


def _timed(root, *args) -> float:
    t = time.monotonic()
    r = _run(root, *args)
    assert r.returncode == 0, r.stderr
    return time.monotonic() - t


def _assert_lock_sound(root, old_lock: bytes | None):
    """mlvc.lock is the old file (or absent) or a complete one whose objects are all in the cache."""
    path = os.path.join(root, "mlvc.lock")
    if not os.path.exists(path):
        assert old_lock is None
        return
    with open(path, "rb") as f:
        data = f.read()
    if data == old_lock:
        return
    lock = yaml.safe_load(data)  # parses
    assert lock["schema"] == 2
    for path_, entry in lock["artifacts"].items():
        assert os.path.exists(object_path(root, entry["oid"])), f"{path_}: lock written before its objects"
        if entry["oid"].endswith(".tree"):
            files = tree_lines(root, entry["oid"])
            assert len(files) == entry["nfiles"]
            assert all(os.path.exists(object_path(root, o)) for o in files.values())


def _reset_add(root):
    """Forget everything `mlvc add` did, keeping the user's files (so the next kill starts afresh)."""
    for name in ("mlvc.lock", "mlvc.yaml", ".gitignore"):
        if os.path.exists(os.path.join(root, name)):
            os.unlink(os.path.join(root, name))
    shutil.rmtree(os.path.join(root, ".mlvc", "cache"), ignore_errors=True)
    shutil.rmtree(os.path.join(root, ".mlvc", "tmp"), ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["copy", "hardlink"])
def test_kill_add(tmp_path, kind):
    rng = random.Random(SEED + len(kind))
    root = str(tmp_path / "repo")
    _new_repo(root)
    files = _make_files(800, 4096, rng)
    _write(os.path.join(root, "data"), files)
    big = rng.randbytes(16 * 1024 * 1024)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(big)
    assert _run(root, "config", "cache.type", kind).returncode == 0
    duration = _timed(root, "add", "data", "big.bin")
    for i, frac in enumerate(FRACTIONS):
        _reset_add(root)
        delay = duration * frac * rng.uniform(0.8, 1.2)
        delay = _kill_mid_run(root, delay, ["add", "data", "big.bin"], lambda: _reset_add(root),
                              f"add kind={kind} (seed {SEED})")
        ctx = f"kind={kind} killed after {delay:.3f}s of {duration:.3f}s (seed {SEED})"
        assert bad_objects(root) == [], ctx
        _assert_lock_sound(root, None)
        assert workspace_files(os.path.join(root, "data")) == files, ctx  # nothing deleted or truncated
        with open(os.path.join(root, "big.bin"), "rb") as f:
            assert f.read() == big, ctx
        if i % 2 == 0:  # a second run finishes the job
            r = _run(root, "add", "data", "big.bin")
            assert r.returncode == 0, (ctx, r.stderr)
            assert _run(root, "status", "--check").returncode == 0, ctx
            assert _run(root, "fsck").returncode == 0, ctx


@pytest.mark.slow
def test_kill_checkout(tmp_path):
    """Back and forth between two recorded versions, killing each checkout once, then finishing it."""
    rng = random.Random(SEED + 2)
    root = str(tmp_path / "repo")
    _new_repo(root)
    v1 = _make_files(800, 4096, rng)
    _write(os.path.join(root, "data"), v1)
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("the user's own file")
    assert _run(root, "add", "data").returncode == 0
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "v1", cwd=root)
    sha1 = git("rev-parse", "HEAD", cwd=root).strip()
    v2 = {p: (rng.randbytes(3000) if i % 3 == 0 else d) for i, (p, d) in enumerate(v1.items()) if i % 5}
    v2.update(_make_files(150, 2048, rng, prefix="new"))
    shutil.rmtree(os.path.join(root, "data"))
    _write(os.path.join(root, "data"), v2)
    assert _run(root, "commit").returncode == 0
    git("commit", "-q", "-am", "v2", cwd=root)
    sha2 = git("rev-parse", "HEAD", cwd=root).strip()
    git("checkout", "-q", sha1, cwd=root)
    duration = _timed(root, "checkout")
    assert workspace_files(os.path.join(root, "data")) == v1
    for i, frac in enumerate(FRACTIONS):
        target, want = (sha2, v2) if i % 2 == 0 else (sha1, v1)
        git("checkout", "-q", target, cwd=root)
        with open(os.path.join(root, "mlvc.lock"), "rb") as f:
            lock_bytes = f.read()
        back = sha1 if target == sha2 else sha2

        def again():  # it finished first: back to the other version, then to the target again
            git("checkout", "-q", back, cwd=root)
            assert _run(root, "checkout").returncode == 0
            git("checkout", "-q", target, cwd=root)

        delay = duration * frac * rng.uniform(0.8, 1.2)
        delay = _kill_mid_run(root, delay, ["checkout"], again, f"checkout (seed {SEED})")
        ctx = f"checkout killed after {delay:.3f}s of {duration:.3f}s (seed {SEED})"
        assert bad_objects(root) == [], ctx
        with open(os.path.join(root, "mlvc.lock"), "rb") as f:
            assert f.read() == lock_bytes, ctx
        with open(os.path.join(root, "notes.txt")) as f:
            assert f.read() == "the user's own file", ctx
        # every file is whole: one version or the other, never half of one
        for rel, data in workspace_files(os.path.join(root, "data")).items():
            assert data in (v1.get(rel), v2.get(rel)), (ctx, rel)
        r = _run(root, "checkout")
        assert r.returncode == 0, (ctx, r.stderr)
        assert workspace_files(os.path.join(root, "data")) == want, ctx


# --------------------------------------------------------------- symlinks


@pytest.fixture
def outside(tmp_path_factory):
    return tmp_path_factory.mktemp("outside")


def _tracked_images(repo):
    repo.root.gen({"data": {"images": {"a.png": "a", "sub": {"b.png": "b"}}}})
    assert _run(repo.root, "add", "data/images").returncode == 0


@pytest.mark.parametrize("args", [["checkout"], ["checkout", "--force"], ["checkout", "data/images"]])
def test_checkout_refuses_to_write_through_a_symlinked_parent(repo, outside, args):
    _tracked_images(repo)
    shutil.rmtree(repo.root / "data")
    os.symlink(outside, repo.root / "data")
    r = _run(repo.root, *args)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "outside the repository" in r.stderr and "Traceback" not in r.stderr
    assert os.listdir(outside) == []


def test_checkout_refuses_a_tracked_folder_that_is_a_symlink_out(repo, outside):
    """data/images itself replaced by a symlink to an outside folder holding someone's file."""
    _tracked_images(repo)
    shutil.rmtree(repo.root / "data" / "images")
    (outside / "theirs.txt").write_text("not in the cache")
    os.symlink(outside, repo.root / "data" / "images")
    before = snapshot(outside)
    r = _run(repo.root, "checkout")
    assert r.returncode == 3
    assert snapshot(outside) == before


def test_checkout_force_never_deletes_outside_through_symlinked_artifact(repo, outside):
    _tracked_images(repo)
    shutil.rmtree(repo.root / "data" / "images")
    (outside / "theirs.txt").write_text("not in the cache")
    os.symlink(outside, repo.root / "data" / "images")
    before = snapshot(outside)
    r = _run(repo.root, "checkout", "--force")
    assert snapshot(outside) == before
    assert r.returncode == 3


@pytest.mark.parametrize("bad", ["../escape-{n}", "a/../../escape-{n}", "/tmp/escape-{n}", "./x/../../escape-{n}"])
def test_lock_with_escaping_path_is_refused(repo, bad):
    n = os.urandom(4).hex()
    bad = bad.format(n=n)
    repo.root.gen("a.bin", "a")
    assert _run(repo.root, "add", "a.bin").returncode == 0
    text = (repo.root / "mlvc.lock").read_text().replace("  a.bin:", f"  {bad!r}:".replace("'", '"'))
    (repo.root / "mlvc.lock").write_text(text)
    r = _run(repo.root, "checkout")
    assert r.returncode == 3
    assert "mlvc.lock:3:" in r.stderr and "Traceback" not in r.stderr
    for base in (repo.root.parent, repo.root.parent.parent, "/tmp"):
        assert not os.path.lexists(os.path.join(base, f"escape-{n}"))


@pytest.mark.parametrize("bad", ["../escape-{n}", "sub/../../escape-{n}", "/tmp/escape-{n}", "sub//escape-{n}"])
def test_tree_with_escaping_path_is_refused(repo, bad):
    n = os.urandom(4).hex()
    bad = bad.format(n=n)
    payload = b"evil"
    tree = f"mlvc-tree 1\n{bad}\0{oid_of(payload)} - {len(payload)}\n".encode()
    tree_oid = oid_of(tree) + ".tree"
    for oid, data in ((tree_oid, tree), (oid_of(payload), payload)):
        path = object_path(repo.root, oid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    (repo.root / "mlvc.lock").write_text(
        f"schema: 1\nartifacts:\n  data:\n    oid: {tree_oid}\n    size: {len(payload)}\n    nfiles: 1\n")
    for args in (["checkout"], ["checkout", "--force"]):
        r = _run(repo.root, *args)
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert f"tree {tree_oid}" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1
    for base in (repo.root.parent, repo.root.parent.parent, "/tmp", repo.root / "data"):
        assert not os.path.lexists(os.path.join(base, f"escape-{n}"))
    assert not (repo.root / "data").exists()


@pytest.mark.slow
def test_ctrl_c_during_add(tmp_path):
    """SIGINT mid-run: exit 130 and one line 'interrupted'; the repository stays sound."""
    rng = random.Random(SEED + 3)
    root = str(tmp_path / "repo")
    _new_repo(root)
    files = _make_files(600, 4096, rng)
    _write(os.path.join(root, "data"), files)
    duration = _timed(root, "add", "data")
    for frac in (0.4, 0.8):
        delay = duration * frac
        for _ in range(8):
            _reset_add(root)
            p = subprocess.Popen([sys.executable, "-m", "mlvc", "add", "data"], cwd=root, env=_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=60)
            assert bad_objects(root) == []
            _assert_lock_sound(root, None)
            assert workspace_files(os.path.join(root, "data")) == files
            if p.returncode == 130:
                assert err == "interrupted\n"
                break
            if p.returncode == 0:  # it finished first: interrupt sooner
                delay *= 0.6
            elif p.returncode == -signal.SIGINT:  # came while the interpreter was starting: later
                delay *= 1.3
            else:
                pytest.fail(f"SIGINT after {delay:.3f}s: exit {p.returncode}: {err}")
        else:
            pytest.fail(f"SIGINT never landed mid-run (started at {duration * frac:.3f}s of {duration:.3f}s)")
    assert _run(root, "add", "data").returncode == 0
    assert _run(root, "status", "--check").returncode == 0
