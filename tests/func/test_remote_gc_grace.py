"""`mlvc gc --remote` beside pushes from other clones: the grace period (objects written to the
remote, and what a push named, within it are kept) and the markers under <url>/locks/ that keep
a running gc and a running push apart."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from funcutil import one_line_error

from mlvc.objects.hashing import hash_bytes
from mlvc.odb.backends import open_remote
from test_remote_gc import _remote as _configure  # the remote, with gc.grace left as it is

DAY = 86400


def _two_versions(repo, mlvc):
    """v1 pushed, then data/sub/b.txt changed, v2 pushed: 3 objects only v1 references."""
    repo.root.gen({"data/a.txt": "alpha", "data/sub/b.txt": "bravo", "model.bin": "weights"})
    assert mlvc("add", "data", "model.bin").exit_code == 0
    repo.commit("v1")
    assert mlvc("push").exit_code == 0
    (repo.root / "data" / "sub" / "b.txt").write_text("bravo 2")
    assert mlvc("commit", "data").exit_code == 0
    repo.commit("v2")
    assert mlvc("push").exit_code == 0


def _age(folder, days: float, only: str = "") -> None:
    """Make every file under a local-folder remote (``only``: names starting so) look ``days`` old."""
    when = time.time() - days * DAY
    for dirpath, _, names in os.walk(folder):
        for n in names:
            if n.startswith(only):
                os.utime(os.path.join(dirpath, n), (when, when))


def _gc(mlvc, *args):
    r = mlvc("gc", "--remote", "store", "-f", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_what_was_pushed_within_the_grace_period_stays(repo, mlvc, tmp_path, kind, request):
    spec = _configure(mlvc, kind, tmp_path, request)
    _two_versions(repo, mlvc)
    store = open_remote(spec, str(repo.root))
    before = set(store.iter_oids())
    result = _gc(mlvc)  # 14 days by default: all of it was written a moment ago
    assert result["objects"] == [] and result["young"] == 3 and result["grace_seconds"] == 14 * DAY
    assert set(store.iter_oids()) == before
    r = mlvc("gc", "--remote", "store", "--dry-run")
    assert "referenced by 1 revision; 3 of them only because they were pushed within the grace period (14d)." \
        in r.stdout
    assert len(_gc(mlvc, "--grace", "0")["objects"]) == 3


def test_old_garbage_goes_after_the_grace_period(repo, mlvc, tmp_path):
    spec = _configure(mlvc, "folder", tmp_path, None)
    _two_versions(repo, mlvc)
    _age(tmp_path / "remote", 15)  # objects and the pushes' markers: 15 days old
    result = _gc(mlvc)
    assert len(result["objects"]) == 3 and result["young"] == 0
    assert hash_bytes(b"bravo") not in set(open_remote(spec, str(repo.root)).iter_oids())
    assert [n for n in os.listdir(tmp_path / "remote" / "locks")] == []  # expired markers went too
    assert mlvc("config", "gc.grace", "20d").exit_code == 0  # configurable
    (repo.root / "data" / "sub" / "b.txt").write_text("bravo 3")
    assert mlvc("commit", "data").exit_code == 0
    assert mlvc("push").exit_code == 0
    _age(tmp_path / "remote", 15)
    assert _gc(mlvc)["objects"] == []  # 15 days < 20 days


def test_a_recent_push_from_another_clone_keeps_the_old_objects_it_named(repo, mlvc, tmp_path, monkeypatch):
    """Clone B pushes v1 (a no-op: the remote holds every object, however old) and has not pushed
    its git commit yet; gc in A, whose revisions name only v2, must not take v1 for garbage."""
    _configure(mlvc, "folder", tmp_path, None)
    repo.commit("remote")
    _two_versions(repo, mlvc)
    clone = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", "HEAD~1"], cwd=clone, check=True)
    _age(tmp_path / "remote", 30)  # every object (and the pushes A made) a month old
    monkeypatch.chdir(clone)
    assert mlvc("pull").exit_code == 0
    r = mlvc("push", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["transferred"] == 0
    monkeypatch.chdir(repo.root)
    result = _gc(mlvc)
    assert result["objects"] == []  # B's push named them a moment ago
    _age(tmp_path / "remote" / "locks", 15)
    assert len(_gc(mlvc)["objects"]) == 3  # the grace period is over: what only v1 names goes


def test_gc_removes_nothing_while_a_push_from_another_clone_runs(repo, mlvc, tmp_path):
    from mlvc.odb.remotelock import PushMarker

    spec = _configure(mlvc, "folder", tmp_path, None)
    _two_versions(repo, mlvc)
    store = open_remote(spec, str(repo.root))
    before = set(store.iter_oids())
    other = PushMarker(store, [hash_bytes(b"elsewhere")]).start()  # another clone, in the middle of its push
    r = mlvc("gc", "--remote", "store", "-f", "--grace", "0")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: a push to remote 'store' is running (")
    assert "nothing was removed" in one_line_error(r)
    assert set(store.iter_oids()) == before
    assert sorted(os.listdir(tmp_path / "remote" / "locks")) == sorted(
        n for n in os.listdir(tmp_path / "remote" / "locks") if n.startswith("push-"))  # gc's marker went
    other.done()
    assert len(_gc(mlvc, "--grace", "0")["objects"]) == 3


def test_a_push_waits_for_no_one_but_stops_while_a_gc_runs(repo, mlvc, tmp_path):
    from mlvc.odb.remotelock import GcMarker

    spec = _configure(mlvc, "folder", tmp_path, None)
    store = open_remote(spec, str(repo.root))
    repo.root.gen({"a.txt": "alpha"})
    assert mlvc("add", "a.txt").exit_code == 0
    gc = GcMarker(store).start()  # another clone's gc --remote, in the middle of its run
    r = mlvc("push")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: remote 'store' is being garbage-collected (")
    assert list(store.iter_oids()) == [] and os.listdir(tmp_path / "remote" / "locks") == ["gc"]
    gc.release()
    r = mlvc("push", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["transferred"] == 1


def test_a_bad_grace_is_one_line(repo, mlvc, tmp_path):
    r = mlvc("config", "gc.grace", "soon")
    assert r.exit_code != 0 and "invalid duration 'soon'" in one_line_error(r)
    _configure(mlvc, "folder", tmp_path, None)
    r = mlvc("gc", "--remote", "store", "--grace", "soon", "-f")
    assert r.exit_code != 0 and "invalid duration 'soon'" in one_line_error(r)
    r = mlvc("gc", "--grace", "1d", "-f")
    assert r.exit_code == 2 and "--grace applies to a remote" in one_line_error(r)


@pytest.mark.slow
def test_a_real_push_from_another_clone_stops_a_gc_until_it_is_done(repo, mlvc, tmp_path):
    """Clone B pushes in another process (stopped with SIGSTOP in the middle, so it is surely
    running): gc -f --grace 0 in A removes nothing; once B's push is done, gc in A (whose
    revisions do not name B's new data) keeps that data for the grace period."""
    import signal
    import sys

    spec = _configure(mlvc, "folder", tmp_path, None)
    repo.commit("remote")
    _two_versions(repo, mlvc)
    store = open_remote(spec, str(repo.root))
    before = set(store.iter_oids())
    clone = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    (clone / "big").mkdir()
    for i in range(3000):
        (clone / "big" / f"f{i:04d}.txt").write_text(f"new file {i}")
    assert subprocess.run([sys.executable, "-m", "mlvc", "add", "big"], cwd=clone, capture_output=True).returncode == 0
    locks = tmp_path / "remote" / "locks"
    known = set(os.listdir(locks))
    proc = subprocess.Popen([sys.executable, "-m", "mlvc", "push", "-j", "1"], cwd=clone,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        # its marker is in place before it looks at the remote (a temp name first, then push-...:
        # stopped at the temp name, the push has not begun and gc may go on)
        while not [n for n in set(os.listdir(locks)) - known if n.startswith("push-")]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.001)
        proc.send_signal(signal.SIGSTOP)
        r = mlvc("gc", "--remote", "store", "-f", "--grace", "0")
        assert r.exit_code == 3 and "a push to remote 'store' is running" in one_line_error(r), r.output
        assert before <= set(store.iter_oids())
    finally:
        proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = _gc(mlvc)
    assert result["objects"] == [] and result["young"] == 3000 + 1 + 3  # B's files and tree, and v1's
    assert store.missing([hash_bytes(b"new file 7")]) == []
