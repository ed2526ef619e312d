"""scm.worktree: a temporary git worktree that goes away whatever happens, in a real git repository."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from mlvc.errors import ScmError
from mlvc.scm import worktree


@pytest.fixture
def git_repo(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    (root / "a.txt").write_text("one")
    subprocess.run(["git", "add", "a.txt"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "one"], cwd=root, check=True)
    return root


def test_resolve_commit(git_repo):
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True, text=True).stdout.strip()
    assert worktree.resolve_commit(str(git_repo), "HEAD") == sha
    assert worktree.resolve_commit(str(git_repo), "main") == sha
    for bad in ("nope", "HEAD~5", "--all", ""):
        with pytest.raises(ScmError, match="unknown git revision"):
            worktree.resolve_commit(str(git_repo), bad)


def test_the_worktree_is_removed_after_an_error(git_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    sha = worktree.resolve_commit(str(git_repo), "HEAD")
    with pytest.raises(RuntimeError):
        with worktree.temporary_worktree(str(git_repo), sha) as top:
            assert (open(os.path.join(top, "a.txt")).read()) == "one"
            assert len(worktree.list_worktrees(str(git_repo))) == 2
            os.makedirs(os.path.join(top, "ro", "sub"))
            open(os.path.join(top, "ro", "sub", "f"), "w").close()
            os.chmod(os.path.join(top, "ro", "sub"), stat.S_IRUSR | stat.S_IXUSR)  # read-only (root: no matter)
            raise RuntimeError("boom")
    assert worktree.list_worktrees(str(git_repo)) == [str(git_repo)]
    assert os.listdir(tmp_path / "tmp") == []


def test_rmtree_changes_nothing_above_its_folder(tmp_path):
    outer = tmp_path / "outer"
    inner = outer / "t"
    (inner / "ro").mkdir(parents=True)
    (inner / "ro" / "f").write_text("x")
    os.chmod(inner / "ro", stat.S_IRUSR | stat.S_IXUSR)
    os.chmod(outer, 0o755)
    worktree._rmtree(str(inner))
    assert not inner.exists()
    assert stat.S_IMODE(os.stat(outer).st_mode) == 0o755
    worktree._rmtree(str(inner))  # gone already: nothing to do, nothing changed
    assert stat.S_IMODE(os.stat(outer).st_mode) == 0o755
