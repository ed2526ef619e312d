"""checkout --relink after a change of cache.type; global flags after the command."""

import os

from mlvc.cli import hoist_global_flags


def test_checkout_relink_turns_copies_into_hardlinks(repo, mlvc):
    repo.root.gen({"d": {"a.txt": "a", "b.txt": "b"}})
    assert mlvc("add", "d").exit_code == 0
    assert os.stat(repo.root / "d" / "a.txt").st_nlink == 1
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    assert "already matches" in mlvc("checkout").stdout  # content is the same: nothing to do
    r = mlvc("checkout", "--relink")
    assert r.exit_code == 0, r.output
    for name in ("a.txt", "b.txt"):
        st = os.stat(repo.root / "d" / name)
        assert st.st_nlink == 2 and not st.st_mode & 0o222
    assert (repo.root / "d" / "a.txt").read_text() == "a"
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("fsck").exit_code == 0


def test_relink_still_refuses_to_lose_local_changes(repo, mlvc):
    repo.root.gen("m.bin", "v1")
    assert mlvc("add", "m.bin").exit_code == 0
    (repo.root / "m.bin").write_text("local edit")
    assert mlvc("checkout", "--relink").exit_code == 3
    assert (repo.root / "m.bin").read_text() == "local edit"


def test_global_flags_may_follow_the_command(repo, mlvc_proc):
    assert hoist_global_flags(["status", "-q", "--check"]) == ["-q", "status", "--check"]
    assert hoist_global_flags(["add", "--", "-q"]) == ["add", "--", "-q"]
    r = mlvc_proc("status", "-q", cwd=repo.root)
    assert r.returncode == 0 and r.stdout == "", r.stderr
