"""``mlvc.scm.git.Git``: files at a revision are read from git objects as untrusted input
(regular files only, capped by the size git records, before the data is read), and a
revision is never taken as an option. Real git repositories."""

from __future__ import annotations

import os
import subprocess

import pytest

from mlvc.errors import FileFormatError, ScmError
from mlvc.scm.git import Git, NoSCM

LIMIT = 1000


@pytest.fixture
def git_repo(scm):
    scm.root.gen({"a.txt": "hello\n", "d": {"b.yaml": "x: 1\n"}})
    os.chmod(scm.root / "a.txt", 0o755)
    scm.commit("files")
    return scm


def read(scm, rev: str, path: str, limit: int = LIMIT, **kw):
    return Git(str(scm.root), str(scm.root)).read_file(rev, path, limit=limit, **kw)


def error(scm, rev: str, path: str, limit: int = LIMIT, **kw) -> str:
    with pytest.raises(FileFormatError) as exc:
        read(scm, rev, path, limit, **kw)
    return str(exc.value)


def test_a_regular_file_is_read(git_repo):
    assert read(git_repo, "HEAD", "a.txt") == b"hello\n"  # executable too: a regular file
    assert read(git_repo, "HEAD", "d/b.yaml") == b"x: 1\n"


def test_a_missing_path_is_none(git_repo):
    assert read(git_repo, "HEAD", "nothing.yaml") is None
    assert read(git_repo, "HEAD", "nothing/b.yaml") is None
    assert read(git_repo, "HEAD", "a.txt/b.yaml") is None  # a file where a folder would be
    assert read(git_repo, "HEAD", "d/../a.txt") is None  # git has no '..' entry: never climbs


def test_a_symlink_is_refused_naming_its_target(git_repo):
    os.symlink("/etc/passwd", git_repo.root / "mlvc.lock")
    git_repo.commit("link")
    assert error(git_repo, "HEAD", "mlvc.lock", label="HEAD~0") == (
        "HEAD~0:mlvc.lock: is a symlink in git (to '/etc/passwd'); mlvc reads only regular files")


def test_a_symlink_with_a_huge_target_is_refused_without_reading_it(git_repo):
    """No OS makes a link that long, but git carries any blob with a link's mode."""
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], input=b"x" * 5000, cwd=git_repo.root,
                          check=True, capture_output=True).stdout.decode().strip()
    git_repo.git("update-index", "--add", "--cacheinfo", f"120000,{blob},long")
    git_repo.git("commit", "-q", "-m", "long link")
    assert error(git_repo, "HEAD", "long", label="R") == (
        "R:long: is a symlink in git; mlvc reads only regular files")


def test_a_symlink_on_the_way_is_refused(git_repo):
    os.symlink("/etc", git_repo.root / "conf")
    git_repo.commit("conf -> /etc")
    assert error(git_repo, "HEAD", "conf/passwd", label="R") == (
        "R:conf: is a symlink in git (to '/etc'); mlvc reads only regular files")


def test_a_folder_is_refused(git_repo):
    assert error(git_repo, "HEAD", "d", label="R") == "R:d: is a folder in git, expected a file"


def test_a_submodule_is_refused(git_repo):
    sha = git_repo.git("rev-parse", "HEAD").strip()
    git_repo.git("update-index", "--add", "--cacheinfo", f"160000,{sha},sub")
    git_repo.git("commit", "-q", "-m", "submodule")
    assert error(git_repo, "HEAD", "sub", label="R") == (
        "R:sub: is a submodule in git (a commit, not a file); mlvc reads only regular files")
    assert error(git_repo, "HEAD", "sub/x", label="R") == (  # a submodule on the way: named too
        "R:sub: is a submodule in git (a commit, not a file); mlvc reads only regular files")


def test_the_size_cap_is_checked_on_the_object(git_repo):
    assert read(git_repo, "HEAD", "a.txt", limit=6) == b"hello\n"
    assert error(git_repo, "HEAD", "a.txt", limit=5) == (
        "HEAD:a.txt: is larger than 5 bytes, too large to be an mlvc file")


def test_errors_name_the_revision_as_given(git_repo):
    sha = git_repo.git("rev-parse", "HEAD").strip()
    assert error(git_repo, sha, "d").startswith(f"{sha}:d: ")
    assert error(git_repo, sha, "d", label="main").startswith("main:d: ")


def test_an_mlvc_root_inside_the_git_root(scm):
    scm.root.gen({"proj": {"mlvc.lock": "schema: 2\n"}, "mlvc.lock": "outer\n"})
    scm.commit("nested")
    git = Git(str(scm.root), str(scm.root / "proj"))
    assert git.read_file("HEAD", "mlvc.lock", limit=LIMIT) == b"schema: 2\n"
    os.unlink(scm.root / "proj" / "mlvc.lock")
    os.symlink("../mlvc.lock", scm.root / "proj" / "mlvc.lock")
    scm.commit("nested link")
    with pytest.raises(FileFormatError, match=r"^R:mlvc.lock: is a symlink in git \(to '../mlvc.lock'\)"):
        git.read_file("HEAD", "mlvc.lock", limit=LIMIT, label="R")
    scm.git("rm", "-q", "-r", "proj")
    scm.commit("no proj")
    assert git.read_file("HEAD", "mlvc.lock", limit=LIMIT) is None  # no mlvc root at that revision


@pytest.mark.parametrize("rev", ["--output=out.txt", "-x", "--", "", "no-such-branch", "HEAD~9", "HEAD^{tree}",
                                 "HEAD:a.txt", "0" * 40, "HEAD\n", "a\0b"])
def test_a_bad_revision_is_an_scm_error_and_never_an_option(git_repo, rev):
    git = Git(str(git_repo.root), str(git_repo.root))
    for call in (lambda: git.resolve(rev), lambda: git.read_file(rev, "a.txt", limit=LIMIT)):
        with pytest.raises(ScmError) as exc:
            call()
        assert str(exc.value) == f"unknown git revision {rev!r}; check the name with `git log --oneline`"
    assert not (git_repo.root / "out.txt").exists()


def test_revisions_as_git_reads_them(git_repo):
    first = git_repo.git("rev-parse", "HEAD").strip()
    git_repo.root.gen("a.txt", "again\n")
    second = git_repo.commit("again")
    git = Git(str(git_repo.root), str(git_repo.root))
    assert git.resolve("HEAD") == second
    assert git.resolve("HEAD@{1}") == first  # the reflog
    assert git.resolve(first[:10]) == first
    assert git.read_file(git.resolve("HEAD~1"), "a.txt", limit=LIMIT) == b"hello\n"
    git_repo.git("tag", "-a", "-m", "v1", "v1", first)
    assert git.resolve("v1") == first  # an annotated tag: its commit


def test_outside_git_revisions_cannot_be_read():
    with pytest.raises(ScmError, match="not inside git"):
        NoSCM().read_file("HEAD", "mlvc.lock", limit=LIMIT)
    with pytest.raises(ScmError, match="not inside git"):
        NoSCM().resolve("HEAD")
