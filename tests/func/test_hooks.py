"""`mlvc install`: git hooks firing through real `git commit`, `git checkout` and `git push`."""

import json
import os
import subprocess

import pytest

from funcutil import object_path, one_line_error, read_lock, snapshot

from mlvc.scm.hooks import MARKER


def git(root, *args, check=True):
    p = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def head(root):
    return git(root, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def hooked(repo, mlvc):
    """A repository with data.csv and a folder, committed, and mlvc's hooks installed."""
    repo.root.gen({"data.csv": "v1", "imgs": {"a": "a1", "b": "b1"}})
    assert mlvc("add", "data.csv", "imgs").exit_code == 0
    repo.commit("v1")
    r = mlvc("install")
    assert r.exit_code == 0, r.output
    return repo


def test_install_writes_three_marked_hooks_and_is_idempotent(hooked, mlvc):
    folder = hooked.root / ".git/hooks"
    for name in ("pre-commit", "post-checkout", "pre-push"):
        text = (folder / name).read_text()
        assert text.startswith("#!/bin/sh\n") and MARKER in text and f"git-hook {name}" in text
        assert os.access(folder / name, os.X_OK)
        assert "exec mlvc git-hook" in text  # mlvc on PATH when the installing Python is gone
    r = mlvc("install")
    assert r.exit_code == 0 and r.stdout.count("unchanged") == 3


def test_a_hook_that_is_not_ours_is_kept_without_force(repo, mlvc):
    hook = repo.root / ".git/hooks/pre-push"
    hook.write_text("#!/bin/sh\necho mine\n")
    before = snapshot(repo.root, skip=())
    r = mlvc("install")
    assert r.exit_code == 3
    assert "was not written by mlvc" in one_line_error(r) and "--force" in r.stderr
    assert snapshot(repo.root, skip=()) == before  # nothing written, not even the other hooks
    r = mlvc("install", "--force")
    assert r.exit_code == 0 and "replaced" in r.stdout
    assert MARKER in hook.read_text()


def test_pre_commit_refuses_data_changed_without_the_lock(hooked, mlvc):
    root = hooked.root
    old = head(root)
    root.gen({"data.csv": "v2", "notes.txt": "n"})
    git(root, "add", "notes.txt")
    p = git(root, "commit", "-m", "notes", check=False)
    assert p.returncode != 0 and head(root) == old
    assert "data.csv: modified" in p.stderr and "`mlvc commit`" in p.stderr
    assert mlvc("commit").exit_code == 0
    p = git(root, "commit", "-m", "notes", check=False)  # mlvc.lock changed, not staged
    assert p.returncode != 0 and "mlvc.lock changed but the change is not staged" in p.stderr
    assert "`git add mlvc.lock`" in p.stderr and head(root) == old
    git(root, "add", "mlvc.lock")
    git(root, "commit", "-m", "notes and data")
    assert head(root) != old


def test_pre_commit_refuses_a_staged_lock_whose_data_is_not_in_the_cache(hooked, mlvc):
    root = hooked.root
    root.gen("data.csv", "v2")
    assert mlvc("commit").exit_code == 0
    oid = read_lock(root)["artifacts"]["data.csv"]["oid"]
    os.unlink(object_path(root, oid))
    os.unlink(root / "data.csv")
    git(root, "add", "mlvc.lock")
    old = head(root)
    p = git(root, "commit", "-m", "v2", check=False)
    assert p.returncode != 0 and head(root) == old
    assert "data.csv: " in p.stderr and "mlvc" in p.stderr.splitlines()[-1]


def test_a_clean_commit_goes_through(hooked):
    root = hooked.root
    root.gen("code.py", "print(1)")
    git(root, "add", "code.py")
    git(root, "commit", "-m", "code")
    assert git(root, "log", "-1", "--format=%s").stdout.strip() == "code"


def _branch_with_v2(root, mlvc):
    git(root, "checkout", "-q", "-b", "exp")
    root.gen({"data.csv": "v2", "imgs/c": "c2"})
    assert mlvc("commit").exit_code == 0
    git(root, "add", "mlvc.lock")
    git(root, "commit", "-q", "-m", "v2")


def test_post_checkout_checks_out_the_data_of_the_branch(hooked, mlvc):
    root = hooked.root
    _branch_with_v2(root, mlvc)
    p = git(root, "checkout", "main")
    assert "mlvc: checked out" in p.stdout + p.stderr
    assert (root / "data.csv").read_text() == "v1" and not (root / "imgs/c").exists()
    git(root, "checkout", "exp")
    assert (root / "data.csv").read_text() == "v2" and (root / "imgs/c").read_text() == "c2"


def test_post_checkout_does_nothing_on_a_file_checkout(hooked, mlvc):
    root = hooked.root
    _branch_with_v2(root, mlvc)
    git(root, "checkout", "main", "--", "mlvc.lock")  # flag 0: files, not a branch
    assert (root / "data.csv").read_text() == "v2"


def test_post_checkout_does_nothing_during_a_rebase(hooked, mlvc):
    root = hooked.root
    _branch_with_v2(root, mlvc)
    os.mkdir(root / ".git/rebase-merge")  # what git leaves while a rebase runs
    try:
        git(root, "checkout", "-q", "main")
        assert (root / "data.csv").read_text() == "v2"
    finally:
        os.rmdir(root / ".git/rebase-merge")
    git(root, "checkout", "-q", "exp")
    git(root, "checkout", "-q", "main")
    assert (root / "data.csv").read_text() == "v1"


def test_pre_push_sends_the_data_of_the_pushed_commits(hooked, mlvc, tmp_path_factory):
    root = hooked.root
    bare = tmp_path_factory.mktemp("bare")
    store = tmp_path_factory.mktemp("store")
    git(bare, "init", "-q", "--bare")
    git(root, "remote", "add", "origin", str(bare))
    assert mlvc("remote", "add", "--default", "store", str(store)).exit_code == 0
    git(root, "add", ".mlvc/config")
    git(root, "commit", "-q", "-m", "remote")
    p = git(root, "push", "-q", "origin", "main")
    assert "mlvc: pushed" in p.stdout + p.stderr
    oid = read_lock(root)["artifacts"]["data.csv"]["oid"]
    found = [os.path.join(d, f) for d, _, fs in os.walk(store) for f in fs]
    assert any(f.replace(os.sep, "").endswith(oid) for f in found), found
    assert git(bare, "rev-parse", "main").stdout.strip() == head(root)


def test_pre_push_without_a_remote_warns_and_lets_the_push_through(hooked, tmp_path_factory):
    root = hooked.root
    bare = tmp_path_factory.mktemp("bare")
    git(bare, "init", "-q", "--bare")
    git(root, "remote", "add", "origin", str(bare))
    p = git(root, "push", "-q", "origin", "main")
    assert "warning: no default mlvc remote is set, so the data was not pushed" in p.stderr
    assert git(bare, "rev-parse", "main").stdout.strip() == head(root)


def test_hooks_in_core_hooks_path_and_an_mlvc_root_below_the_git_top(scm, tmp_dir, mlvc_proc):
    sub = tmp_dir / "proj"
    sub.mkdir()
    git(tmp_dir, "config", "core.hooksPath", "githooks")
    assert mlvc_proc("init", cwd=sub).returncode == 0
    (sub / "d.txt").write_text("1")
    assert mlvc_proc("add", "d.txt", cwd=sub).returncode == 0
    scm.commit("init")
    r = mlvc_proc("install", cwd=sub)
    assert r.returncode == 0, r.stderr
    assert (tmp_dir / "githooks/pre-commit").is_file() and not (tmp_dir / ".git/hooks/pre-commit").exists()
    (sub / "d.txt").write_text("2")
    (tmp_dir / "x").write_text("x")
    git(tmp_dir, "add", "x")
    p = git(tmp_dir, "commit", "-m", "x", check=False)
    assert p.returncode != 0 and "d.txt: modified" in p.stderr


def test_install_registers_the_merge_driver_when_there_is_one(hooked):
    pytest.importorskip("mlvc.scm.merge")
    p = git(hooked.root, "check-attr", "merge", "mlvc.lock")
    assert p.stdout.strip().endswith("merge: mlvc")
    assert git(hooked.root, "config", "merge.mlvc.driver").stdout.strip()


def test_git_hook_pre_commit_exit_code(hooked, mlvc):
    root = hooked.root
    assert mlvc("git-hook", "pre-commit").exit_code == 0
    root.gen("imgs/a", "changed")
    r = mlvc("git-hook", "pre-commit")
    assert r.exit_code == 1 and "imgs: modified" in r.stderr
    assert json.loads(mlvc("status", "--json").stdout)["clean"] is False
