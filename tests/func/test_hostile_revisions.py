"""Files read from git revisions are untrusted input (issue 7, section 1): `mlvc ls --rev`,
`params diff`, `metrics show --rev` and `metrics diff` read mlvc.lock, mlvc.yaml, params and
metrics files from git objects, with the rules of the workspace reads: regular files only
(a committed symlink, folder or submodule is refused, naming REV:path), at most the size the
workspace readers allow, and a revision is never taken as an option. Each case is built with
real git; every refusal is one line, exit 3, and leaves the repository as it was."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from funcutil import one_line_error, snapshot

# Imported before any test lowers yamlio's cap: each copies it when first imported, and a module
# first imported while the cap is patched would keep the lowered value after the test.
import mlvc.ops.ls  # noqa: E402,F401
import mlvc.pipeline.values  # noqa: E402,F401

PIPELINE = {"schema": 2, "stages": {"train": {"cmd": "true", "params": ["lr"],
                                              "metrics": [{"m.json": {"cache": False}}]}}}


@pytest.fixture
def project(repo):
    """A repository whose HEAD~1 holds a sound pipeline (params.yaml, m.json, mlvc.yaml)."""
    repo.root.gen({"mlvc.yaml": yaml.safe_dump(PIPELINE, sort_keys=False), "params.yaml": "lr: 0.1\n",
              "m.json": '{"acc": 0.5}'})
    repo.commit("pipeline")
    return repo


def remove(full) -> None:
    if full.is_dir() and not full.is_symlink():
        shutil.rmtree(full)
    elif full.exists() or full.is_symlink():
        full.unlink()


def replace(scm, path: str, how: str, message: str = "hostile") -> None:
    """Commit ``path`` as a symlink to /etc/passwd, a folder, or a submodule (a commit entry)."""
    scm.git("rm", "-q", "-r", "--cached", "--ignore-unmatch", path)
    full = scm.root / path
    remove(full)
    if how == "symlink":
        os.symlink("/etc/passwd", full)
        scm.git("add", path)
    elif how == "folder":
        full.mkdir()
        (full / "inside").write_text("x\n")
        scm.git("add", path)
    elif how == "submodule":
        sha = scm.git("rev-parse", "HEAD").strip()
        scm.git("update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
    scm.git("commit", "-q", "-m", message)


def restore(scm, path: str, text: str) -> None:
    """Give the workspace a sound ``path`` again (git still has the hostile one at HEAD)."""
    remove(scm.root / path)
    scm.root.gen(path, text)


def refused(mlvc, root, *args: str) -> str:
    """Run the CLI, check it refused with one line and exit 3, and changed nothing; the line."""
    before = snapshot(root, skip=(".git",))
    r = mlvc(*args)
    assert r.exit_code == 3, r.output
    if "--json" in args:
        assert json.loads(r.stdout)["exit_code"] == 3
    else:
        assert r.stdout == ""
    assert snapshot(root, skip=(".git",)) == before
    return one_line_error(r)


SYMLINK = "is a symlink in git (to '/etc/passwd'); mlvc reads only regular files"
FOLDER = "is a folder in git, expected a file"
SUBMODULE = "is a submodule in git (a commit, not a file); mlvc reads only regular files"


@pytest.mark.parametrize("how, problem", [("symlink", SYMLINK), ("folder", FOLDER), ("submodule", SUBMODULE)],
                         ids=["symlink", "folder", "submodule"])
def test_ls_rev_refuses_a_lock_that_is_no_regular_file(repo, mlvc, how, problem):
    replace(repo, "mlvc.lock", how)
    assert refused(mlvc, repo.root, "ls", "--rev", "HEAD") == f"error: HEAD:mlvc.lock: {problem}"
    assert refused(mlvc, repo.root, "ls", "--rev", "HEAD", "--json") == f"error: HEAD:mlvc.lock: {problem}"


@pytest.mark.parametrize("how, problem", [("symlink", SYMLINK), ("folder", FOLDER), ("submodule", SUBMODULE)],
                         ids=["symlink", "folder", "submodule"])
def test_params_diff_refuses_a_params_file_that_is_no_regular_file(project, mlvc, how, problem):
    replace(project, "params.yaml", how)
    restore(project, "params.yaml", "lr: 0.2\n")  # the workspace's own is sound
    assert refused(mlvc, project.root, "params", "diff", "HEAD") == f"error: HEAD:params.yaml: {problem}"
    assert mlvc("params", "diff", "HEAD~1").exit_code == 0  # the revision before is read as ever


@pytest.mark.parametrize("how, problem", [("symlink", SYMLINK), ("folder", FOLDER), ("submodule", SUBMODULE)],
                         ids=["symlink", "folder", "submodule"])
def test_metrics_refuse_a_metrics_file_that_is_no_regular_file(project, mlvc, how, problem):
    replace(project, "m.json", how)
    restore(project, "m.json", '{"acc": 0.6}')
    want = f"error: HEAD:m.json: {problem}"
    assert refused(mlvc, project.root, "metrics", "show", "--rev", "HEAD") == want
    assert refused(mlvc, project.root, "metrics", "diff", "HEAD~1", "HEAD") == want
    r = mlvc("metrics", "show", "--rev", "HEAD~1")
    assert r.exit_code == 0 and "0.5" in r.stdout


def test_a_project_file_that_is_a_symlink_in_git_is_refused(project, mlvc):
    replace(project, "mlvc.yaml", "symlink", "mlvc.yaml -> /etc/passwd")
    restore(project, "mlvc.yaml", yaml.safe_dump(PIPELINE, sort_keys=False))
    want = f"error: HEAD:mlvc.yaml: {SYMLINK}"
    assert refused(mlvc, project.root, "params", "diff", "HEAD") == want
    assert refused(mlvc, project.root, "metrics", "show", "--rev", "HEAD") == want


def test_a_symlinked_folder_on_the_way_is_refused_naming_the_link(project, mlvc):
    """mlvc.yaml names conf/p.yaml and git carries conf -> /etc: the link is named, not followed."""
    stages = {"train": {"cmd": "true", "params": [{"conf/p.yaml": None}]}}
    project.root.gen("mlvc.yaml", yaml.safe_dump({"schema": 2, "stages": stages}, sort_keys=False))
    os.symlink("/etc", project.root / "conf")
    project.commit("conf -> /etc")
    r = mlvc("params", "diff", "HEAD")
    assert one_line_error(r) == "error: HEAD:conf: is a symlink in git (to '/etc'); mlvc reads only regular files"
    assert r.exit_code == 3


def test_a_lock_larger_than_the_cap_is_refused_before_it_is_read(repo, mlvc, monkeypatch):
    """The cap of the workspace readers (yamlio.MAX_FILE_BYTES, lowered here as committing
    256 MiB would be slow) holds at a revision, from the size git records for the object."""
    repo.root.gen("data.txt", "x")
    assert mlvc("add", "data.txt").exit_code == 0
    repo.commit("data")
    size = (repo.root / "mlvc.lock").stat().st_size
    for module in ("mlvc.formats.yamlio", "mlvc.ops.ls"):
        monkeypatch.setattr(f"{module}.MAX_FILE_BYTES", size)
    assert mlvc("ls", "--rev", "HEAD").exit_code == 0  # exactly at the cap: read
    for module in ("mlvc.formats.yamlio", "mlvc.ops.ls"):
        monkeypatch.setattr(f"{module}.MAX_FILE_BYTES", size - 1)
    assert refused(mlvc, repo.root, "ls", "--rev", "HEAD") == (
        f"error: HEAD:mlvc.lock: is larger than {size - 1:,} bytes, too large to be an mlvc file")


def test_params_and_metrics_larger_than_the_cap_are_refused(project, mlvc, monkeypatch):
    cap = (project.root / "mlvc.yaml").stat().st_size  # mlvc.yaml has the same cap: it must fit
    monkeypatch.setattr("mlvc.pipeline.values.MAX_FILE_BYTES", cap)
    base = len('{"acc": 0.5, "pad": ""}')
    project.root.gen("m.json", '{"acc": 0.5, "pad": "%s"}' % ("x" * (cap - base)))  # exactly at the cap
    project.commit("metrics at the cap")
    assert mlvc("metrics", "show", "--rev", "HEAD").exit_code == 0
    project.root.gen("m.json", '{"acc": 0.5, "pad": "%s"}' % ("x" * (cap - base + 1)))
    project.commit("bigger metrics")
    want = f"error: HEAD:m.json: is larger than {cap:,} bytes, too large to be an mlvc file"
    assert refused(mlvc, project.root, "metrics", "show", "--rev", "HEAD") == want
    assert refused(mlvc, project.root, "metrics", "diff", "HEAD~1", "HEAD") == want
    project.root.gen("params.yaml", "lr: 0.1\n" + "#" * cap + "\n")
    project.commit("bigger params")
    want = f"error: HEAD:params.yaml: is larger than {cap:,} bytes, too large to be an mlvc file"
    assert refused(mlvc, project.root, "params", "diff", "HEAD") == want


def test_a_file_missing_at_a_revision_stays_missing(project, mlvc):
    """Absent (or below a path that is a file there) is not an error: callers say "missing"."""
    project.git("rm", "-q", "m.json")
    project.commit("no metrics")
    project.root.gen("m.json", '{"acc": 0.6}')
    r = mlvc("metrics", "diff", "HEAD")
    assert r.exit_code == 0, r.output
    assert "m.json" in r.output and "HEAD" in r.output
    r = mlvc("ls", "--rev", "HEAD~2")  # the `mlvc init` commit has no mlvc.lock
    assert r.exit_code == 0 and r.stdout == "No artifacts recorded at HEAD~2.\n"


BAD_REVS = ["--output=x", "-x", "--", "", "no-such-branch", "HEAD~99", "HEAD^{tree}", "HEAD:params.yaml"]


@pytest.mark.parametrize("rev", BAD_REVS)
def test_a_bad_revision_is_one_clear_line_and_never_an_option(project, mlvc, rev):
    want = f"error: unknown git revision {rev!r}; check the name with `git log --oneline`"
    root = project.root
    assert refused(mlvc, root, "ls", f"--rev={rev}") == want
    assert refused(mlvc, root, "params", "diff", "--", rev) == want
    assert refused(mlvc, root, "params", "diff", "--", "HEAD", rev) == want
    assert refused(mlvc, root, "metrics", "show", f"--rev={rev}") == want
    assert refused(mlvc, root, "metrics", "diff", "--", rev, "HEAD") == want
    assert not (root / "x").exists()


def test_an_option_like_revision_after_the_option_is_a_revision(project, mlvc):
    """`--rev --output=x`: the option's value, as git would take it; never git's own option."""
    want = "error: unknown git revision '--output=x'; check the name with `git log --oneline`"
    assert refused(mlvc, project.root, "ls", "--rev", "--output=x") == want
    assert refused(mlvc, project.root, "metrics", "show", "--rev", "--output=x") == want


def test_revisions_are_read_as_git_reads_them(project, mlvc):
    """The reflog and the previous branch: git's syntax for a revision still works."""
    project.root.gen("params.yaml", "lr: 0.2\n")
    project.commit("lr 0.2")
    r = mlvc("params", "diff", "HEAD@{1}", "HEAD")
    assert r.exit_code == 0, r.output
    assert "0.1" in r.stdout and "0.2" in r.stdout
    project.git("checkout", "-q", "-b", "other")
    project.git("checkout", "-q", "main")
    r = mlvc("metrics", "show", "--rev", "@{-1}")
    assert r.exit_code == 0, r.output
    assert "0.5" in r.stdout
