"""The merge driver for mlvc.lock and mlvc.yaml, through real `git merge` in temp repositories."""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
import yaml

from funcutil import read_lock, workspace_files
from mlvc.scm.merge import install_driver

PY = shlex.quote(sys.executable)


def git(root, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)


def ok(mlvc, *args):
    r = mlvc(*args)
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture
def merging(repo):
    install_driver(str(repo.root))
    repo.commit("merge driver", ".gitattributes")
    return repo


def branch(repo, name: str) -> None:
    repo.git("checkout", "-q", "-b", name)


def switch(mlvc, repo, name: str) -> None:
    repo.git("checkout", "-q", name)
    ok(mlvc, "checkout")


def merge(repo, name: str) -> subprocess.CompletedProcess:
    return git(repo.root, "merge", "--no-edit", name)


def test_install_driver_keeps_other_lines_and_runs_twice_alike(scm):
    (scm.root / ".gitattributes").write_text("*.bin binary")
    install_driver(str(scm.root), mlvc="mlvc")
    first = (scm.root / ".gitattributes").read_text()
    assert first == "*.bin binary\nmlvc.lock merge=mlvc\nmlvc.yaml merge=mlvc\n.gitignore merge=mlvc\n"
    assert install_driver(str(scm.root), mlvc="mlvc") == []
    assert (scm.root / ".gitattributes").read_text() == first
    assert scm.git("config", "merge.mlvc.driver").strip() == "mlvc merge-driver %O %A %B %P"
    assert scm.git("config", "merge.mlvc.name").strip().startswith("mlvc")
    assert scm.git("check-attr", "merge", "mlvc.lock").strip() == "mlvc.lock: merge: mlvc"
    assert scm.git("check-attr", "merge", "a/b/.gitignore").strip() == "a/b/.gitignore: merge: mlvc"


def test_install_driver_outside_git_is_one_clear_error(tmp_dir):
    from mlvc.errors import ScmError

    with pytest.raises(ScmError, match="git config merge.mlvc"):
        install_driver(str(tmp_dir))


def test_two_branches_tracking_different_artifacts_merge(mlvc, merging):
    root = merging.root
    branch(merging, "other")
    root.gen({"two/b.txt": "b"})
    ok(mlvc, "add", "two/b.txt")
    merging.commit("track b")
    switch(mlvc, merging, "main")
    root.gen({"one/a.txt": "a"})
    ok(mlvc, "add", "one/a.txt")
    merging.commit("track a")
    p = merge(merging, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert set(read_lock(root)["artifacts"]) == {"one/a.txt", "two/b.txt"}
    # mlvc.yaml: an artifact added on each side
    assert yaml.safe_load((root / "mlvc.yaml").read_text())["artifacts"] == ["one/a.txt", "two/b.txt"]
    ok(mlvc, "checkout")
    assert (root / "two/b.txt").read_text() == "b"
    assert ok(mlvc, "status", "--check")


def test_entries_changed_on_one_side_each_merge(mlvc, merging):
    root = merging.root
    root.gen({"one/a.txt": "a", "two/b.txt": "b", "three/c.txt": "c"})
    ok(mlvc, "add", "one/a.txt", "two/b.txt", "three/c.txt")
    merging.commit("track a b c")
    branch(merging, "other")
    root.gen({"two/b.txt": "b2"})
    ok(mlvc, "commit", "two/b.txt")
    ok(mlvc, "remove", "three/c.txt")
    merging.commit("b changed, c removed")
    switch(mlvc, merging, "main")
    root.gen({"one/a.txt": "a2"})
    ok(mlvc, "commit", "one/a.txt")
    merging.commit("a changed")
    p = merge(merging, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    ok(mlvc, "checkout")
    assert (root / "one/a.txt").read_text() == "a2"
    assert (root / "two/b.txt").read_text() == "b2"
    assert set(read_lock(root)["artifacts"]) == {"one/a.txt", "two/b.txt"}
    ok(mlvc, "status", "--check")


def write_stages(root, stages: dict) -> None:
    (root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, "stages": stages}, sort_keys=False))


def copy(src: str, dst: str) -> str:
    code = f"import shutil; shutil.copy({src!r}, {dst!r})"
    return f"{PY} -c {shlex.quote(code)}"


def test_different_stages_changed_merge(mlvc, merging):
    root = merging.root
    root.gen({"in1.txt": "1", "in2.txt": "2"})
    write_stages(root, {"s1": {"cmd": copy("in1.txt", "out1.txt"), "deps": ["in1.txt"], "outs": ["out1.txt"]},
                        "s2": {"cmd": copy("in2.txt", "out2.txt"), "deps": ["in2.txt"], "outs": ["out2.txt"]}})
    ok(mlvc, "repro")
    merging.commit("pipeline")
    branch(merging, "other")
    root.gen({"in2.txt": "2b"})
    ok(mlvc, "repro")
    merging.commit("s2 again")
    switch(mlvc, merging, "main")
    root.gen({"in1.txt": "1b"})
    ok(mlvc, "repro")
    merging.commit("s1 again")
    p = merge(merging, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    ok(mlvc, "checkout")
    assert (root / "out1.txt").read_text() == "1b"
    assert (root / "out2.txt").read_text() == "2b"
    assert set(read_lock(root)["stages"]) == {"s1", "s2"}
    ok(mlvc, "status", "--check")


@pytest.fixture
def folder(mlvc, merging):
    merging.root.gen({"data": {"f1.txt": "1", "f2.txt": "2", "f3.txt": "3", "sub": {"g.txt": "g"}}})
    ok(mlvc, "add", "data")
    merging.commit("data")
    return merging


def test_folder_changed_on_both_sides_merges_file_by_file(mlvc, folder):
    root = folder.root
    branch(folder, "other")
    root.gen({"data/f2.txt": "2 theirs", "data/sub/new.txt": "new"})
    (root / "data/f3.txt").unlink()
    ok(mlvc, "commit", "data")
    folder.commit("theirs")
    switch(mlvc, folder, "main")
    root.gen({"data/f1.txt": "1 ours", "data/f4.txt": "4"})
    ok(mlvc, "commit", "data")
    folder.commit("ours")
    p = merge(folder, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "data changed on both branches; merged file by file" in p.stderr
    entry = read_lock(root)["artifacts"]["data"]
    assert entry["nfiles"] == 5
    ok(mlvc, "checkout")
    assert workspace_files(root / "data") == {"f1.txt": b"1 ours", "f2.txt": b"2 theirs", "f4.txt": b"4",
                                              "sub/g.txt": b"g", "sub/new.txt": b"new"}
    assert entry["size"] == sum(len(v) for v in workspace_files(root / "data").values())
    ok(mlvc, "status", "--check")
    ok(mlvc, "fsck")
    folder.commit("merged")
    assert git(root, "status", "--porcelain").stdout == ""


def test_same_file_changed_differently_is_a_readable_conflict(mlvc, folder):
    root = folder.root
    root.gen({"other/x.txt": "x"})
    ok(mlvc, "add", "other/x.txt")
    folder.commit("x")
    branch(folder, "other")
    root.gen({"data/f1.txt": "1 theirs", "data/f2.txt": "2 theirs"})
    ok(mlvc, "commit", "data")
    folder.commit("theirs")
    switch(mlvc, folder, "main")
    root.gen({"data/f1.txt": "1 ours", "other/x.txt": "x ours"})
    ok(mlvc, "commit", "data", "other/x.txt")
    folder.commit("ours")
    before = (root / "mlvc.lock").read_text()
    p = merge(folder, "other")
    assert p.returncode != 0
    assert "CONFLICT in mlvc.lock" in p.stderr
    assert "artifact data: the same files changed differently on both branches: data/f1.txt" in p.stderr
    text = (root / "mlvc.lock").read_text()
    assert text != before
    lines = text.splitlines()
    start, middle, end = lines.index("<<<<<<< ours"), lines.index("======="), lines.index(">>>>>>> theirs")
    assert lines[start + 1] == "  data:" and lines[middle + 1] == "  data:"
    assert text.count("<<<<<<<") == 1  # only the conflicting entry: other/x.txt merged cleanly
    ours_side = yaml.safe_load("\n".join(lines[start + 1:middle]))
    theirs_side = yaml.safe_load("\n".join(lines[middle + 1:end]))
    assert ours_side["data"]["oid"] != theirs_side["data"]["oid"]
    assert ours_side["data"]["oid"] in before
    r = mlvc("status")
    assert r.exit_code != 0
    assert "mlvc.lock" in r.stderr and "git merge conflict markers" in r.stderr
    assert "git checkout --theirs mlvc.lock" in r.stderr
    # taking one side resolves it
    folder.git("checkout", "--theirs", "mlvc.lock")
    assert "<<<<<<<" not in (root / "mlvc.lock").read_text()


def test_yaml_stage_changed_differently_is_a_conflict(mlvc, merging):
    root = merging.root
    write_stages(root, {"s1": {"cmd": "echo 1"}, "s2": {"cmd": "echo 2"}})
    merging.commit("stages")
    branch(merging, "other")
    write_stages(root, {"s1": {"cmd": "echo theirs"}, "s2": {"cmd": "echo 2"}, "s3": {"cmd": "echo 3"}})
    merging.commit("theirs")
    merging.git("checkout", "-q", "main")
    write_stages(root, {"s1": {"cmd": "echo ours"}, "s2": {"cmd": "echo 2 ours"}})
    merging.commit("ours")
    p = merge(merging, "other")
    assert p.returncode != 0
    assert "stage s1: changed differently on both branches" in p.stderr
    text = (root / "mlvc.yaml").read_text()
    assert text.count("<<<<<<< ours") == 1
    assert "echo 2 ours" in text and "echo 3" in text  # the rest merged
    r = mlvc("status")
    assert r.exit_code != 0 and "git merge conflict markers" in r.stderr


def test_a_repository_in_a_subfolder_of_git_merges_there(mlvc, scm, mlvc_proc, monkeypatch):
    root = scm.root
    sub = root / "project"
    sub.mkdir()
    assert mlvc_proc("init", cwd=sub).returncode == 0
    install_driver(str(root))
    scm.commit("init")
    monkeypatch.chdir(sub)
    sub_dir = type(root)(sub)
    sub_dir.gen({"data": {"a.txt": "a", "b.txt": "b"}})
    ok(mlvc, "add", "data")
    scm.commit("data")
    branch(scm, "other")
    sub_dir.gen({"data/b.txt": "b theirs"})
    ok(mlvc, "commit", "data")
    scm.commit("theirs")
    switch(mlvc, scm, "main")
    sub_dir.gen({"data/a.txt": "a ours"})
    ok(mlvc, "commit", "data")
    scm.commit("ours")
    p = merge(scm, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "project/mlvc.lock: data changed on both branches; merged file by file" in p.stderr
    ok(mlvc, "checkout")
    assert workspace_files(sub / "data") == {"a.txt": b"a ours", "b.txt": b"b theirs"}
    ok(mlvc, "fsck")


def test_a_folder_whose_tree_is_not_in_the_cache_is_a_conflict_naming_fetch(mlvc, folder):
    from funcutil import object_path

    root = folder.root
    branch(folder, "other")
    root.gen({"data/f2.txt": "2 theirs"})
    ok(mlvc, "commit", "data")
    folder.commit("theirs")
    theirs_tree = read_lock(root)["artifacts"]["data"]["oid"]
    switch(mlvc, folder, "main")
    root.gen({"data/f1.txt": "1 ours"})
    ok(mlvc, "commit", "data")
    folder.commit("ours")
    (root / object_path(root, theirs_tree)).unlink()  # as on a clone that never fetched that branch's data
    p = merge(folder, "other")
    assert p.returncode != 0
    assert "artifact data: changed on both branches, and its trees cannot be read" in p.stderr
    assert "run `mlvc fetch` on both branches, then merge again" in p.stderr
    assert (root / "mlvc.lock").read_text().count("<<<<<<< ours") == 1


def test_merge_driver_is_hidden(mlvc):
    help_text = mlvc("--help").stdout
    assert "checkout" in help_text and "merge-driver" not in help_text


def test_stage_records_on_adjacent_lines_merge_where_a_text_merge_conflicts(mlvc, repo):
    root = repo.root
    root.gen({"base": "schema: 2\nartifacts: {}\nstages:\n  s1:\n    cmd: echo 1\n  s2:\n    cmd: echo 2\n",
              "ours": "schema: 2\nartifacts: {}\nstages:\n  s1:\n    cmd: echo 1 ours\n  s2:\n    cmd: echo 2\n",
              "theirs": "schema: 2\nartifacts: {}\nstages:\n  s1:\n    cmd: echo 1\n"})
    text_merge = git(root, "merge-file", "-p", "ours", "base", "theirs")
    assert text_merge.returncode != 0  # git alone: a conflict (s1 changed next to where s2 was removed)
    ok(mlvc, "merge-driver", "base", "ours", "theirs", "mlvc.lock")
    assert (root / "ours").read_text() == "schema: 2\nartifacts: {}\nstages:\n  s1:\n    cmd: echo 1 ours\n"


# ------------------------------------------------------------------ .gitignore


def test_artifacts_added_in_one_folder_on_each_branch_merge_with_no_conflict(mlvc, merging):
    """Each branch `mlvc add`s a different file of the same folders: .gitignore (changed at
    the same place, or created on both sides), mlvc.lock and mlvc.yaml all merge."""
    root = merging.root
    root.gen({"keep.txt": "k"})
    ok(mlvc, "add", "keep.txt")
    merging.commit("keep")
    branch(merging, "other")
    root.gen({"b.csv": "b", "data/y.csv": "y"})
    ok(mlvc, "add", "b.csv", "data/y.csv")
    merging.commit("track b and y")
    switch(mlvc, merging, "main")
    (root / "b.csv").unlink()  # left behind by the switch, untracked here
    (root / "data/y.csv").unlink()
    root.gen({"a.csv": "a", "data/x.csv": "x"})
    ok(mlvc, "add", "a.csv", "data/x.csv")
    merging.commit("track a and x")
    p = merge(merging, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "CONFLICT" not in p.stdout + p.stderr
    assert (root / ".gitignore").read_text() == "/keep.txt\n/a.csv\n/b.csv\n"
    assert (root / "data/.gitignore").read_text() == "/x.csv\n/y.csv\n"
    assert set(read_lock(root)["artifacts"]) == {"keep.txt", "a.csv", "b.csv", "data/x.csv", "data/y.csv"}
    assert git(root, "status", "--porcelain").stdout == ""
    ok(mlvc, "checkout")
    assert (root / "b.csv").read_text() == "b" and (root / "data/y.csv").read_text() == "y"
    ok(mlvc, "status", "--check")
    assert git(root, "check-ignore", "-q", "b.csv").returncode == 0


def test_gitignore_line_removed_on_one_branch_stays_removed(mlvc, merging):
    """Where git's merge=union would bring back the line of an artifact no longer tracked
    (so git would go on ignoring a file mlvc no longer keeps), the driver keeps it removed;
    people's lines are kept as they are."""
    root = merging.root
    (root / ".gitignore").write_text("# build output\n*.log\n")
    root.gen({"a.csv": "a"})
    ok(mlvc, "add", "a.csv")
    merging.commit("a", ".gitignore")
    base = (root / ".gitignore").read_text()
    assert base == "# build output\n*.log\n/a.csv\n"
    branch(merging, "other")
    ok(mlvc, "remove", "a.csv")
    merging.commit("a no longer tracked", ".gitignore", "mlvc.lock", "mlvc.yaml")
    theirs = (root / ".gitignore").read_text()
    switch(mlvc, merging, "main")
    root.gen({"b.csv": "b"})
    ok(mlvc, "add", "b.csv")
    merging.commit("track b", ".gitignore", "mlvc.lock", "mlvc.yaml")
    ours = (root / ".gitignore").read_text()
    root.gen({"u.base": base, "u.ours": ours, "u.theirs": theirs})
    union = git(root, "merge-file", "-p", "--union", "u.ours", "u.base", "u.theirs").stdout
    assert "/a.csv" in union  # what merge=union would do
    p = merge(merging, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert (root / ".gitignore").read_text() == "# build output\n*.log\n/b.csv\n"
    assert set(read_lock(root)["artifacts"]) == {"b.csv"}


def test_gitignore_lines_people_changed_differently_are_a_conflict(mlvc, merging):
    root = merging.root
    (root / ".gitignore").write_text("*.log\n")
    merging.commit("ignore logs", ".gitignore")
    branch(merging, "other")
    (root / ".gitignore").write_text("*.bak\n")
    merging.commit("theirs", ".gitignore")
    merging.git("checkout", "-q", "main")
    root.gen({"a.csv": "a"})
    ok(mlvc, "add", "a.csv")
    (root / ".gitignore").write_text((root / ".gitignore").read_text().replace("*.log", "*.tmp"))
    merging.commit("ours")
    p = merge(merging, "other")
    assert p.returncode != 0
    assert "CONFLICT in .gitignore" in p.stderr
    assert "lines changed differently on both branches (near line 1): '*.tmp'" in p.stderr
    assert "mlvc checkout" not in p.stderr and "`git add .gitignore`" in p.stderr  # nothing of mlvc's to redo
    assert (root / ".gitignore").read_text() == "<<<<<<< ours\n*.tmp\n/a.csv\n=======\n*.bak\n>>>>>>> theirs\n"


def test_repository_in_a_subfolder_gives_only_its_gitignore_files_to_the_driver(mlvc, scm, mlvc_proc,
                                                                                 monkeypatch):
    root = scm.root
    sub = root / "project"
    sub.mkdir()
    assert mlvc_proc("init", cwd=sub).returncode == 0
    assert install_driver(str(root), mlvc_root=str(sub))[-1] == "/project/**/.gitignore merge=mlvc"
    assert scm.git("check-attr", "merge", "project/.gitignore").strip().endswith(": mlvc")
    assert scm.git("check-attr", "merge", "project/d/.gitignore").strip().endswith(": mlvc")
    assert scm.git("check-attr", "merge", ".gitignore").strip().endswith(": unspecified")
    (root / ".gitignore").write_text("*.log\n")
    scm.commit("init")
    monkeypatch.chdir(sub)
    branch(scm, "other")
    (sub / "b.csv").write_text("b")
    ok(mlvc, "add", "b.csv")
    (root / ".gitignore").write_text("*.log\n*.bak\n")
    scm.commit("theirs")
    switch(mlvc, scm, "main")
    (sub / "a.csv").write_text("a")
    ok(mlvc, "add", "a.csv")
    (root / ".gitignore").write_text("*.tmp\n*.log\n")
    scm.commit("ours")
    p = merge(scm, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert (sub / ".gitignore").read_text() == "/a.csv\n/b.csv\n"
    assert (root / ".gitignore").read_text() == "*.tmp\n*.log\n*.bak\n"  # git's own merge, outside mlvc


# ------------------------------------------------------------------ mlvc.yaml as people wrote it

PIPELINE = """\
# The demo's pipeline.
schema: 2

stages:
  # raw data -> features
  featurize:
    cmd: python featurize.py   # about a minute
    deps: [raw.csv]
    outs: [features.csv]

  train:
    cmd: python train.py
"""


def test_yaml_comments_and_layout_kept_where_git_alone_conflicts(mlvc, merging):
    root = merging.root
    (root / "mlvc.yaml").write_text(PIPELINE)
    merging.commit("pipeline")
    branch(merging, "other")
    (root / "mlvc.yaml").write_text(PIPELINE.replace("featurize.py   #", "featurize.py --fast   #")
                                    + "\n  # how good is it\n  evaluate:\n    cmd: python evaluate.py\n")
    merging.commit("theirs")
    theirs = (root / "mlvc.yaml").read_text()
    merging.git("checkout", "-q", "main")
    (root / "mlvc.yaml").write_text(PIPELINE.replace("train.py\n", "train.py --epochs 3\n")
                                    + "\n  report:  # for people\n    cmd: python report.py\n")
    merging.commit("ours")
    root.gen({"y.base": PIPELINE, "y.ours": (root / "mlvc.yaml").read_text(), "y.theirs": theirs})
    assert git(root, "merge-file", "-p", "y.ours", "y.base", "y.theirs").returncode != 0  # git alone
    p = merge(merging, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert (root / "mlvc.yaml").read_text() == PIPELINE.replace(
        "featurize.py   #", "featurize.py --fast   #").replace("train.py\n", "train.py --epochs 3\n") + (
        "\n  # how good is it\n  evaluate:\n    cmd: python evaluate.py\n"
        "\n  report:  # for people\n    cmd: python report.py\n")
    r = ok(mlvc, "stage", "list")
    assert "evaluate" in r.stdout and "report" in r.stdout


def test_yaml_artifacts_added_on_both_sides_keep_comments(mlvc, merging):
    root = merging.root
    (root / "mlvc.yaml").write_text("# tracked data\nschema: 2\nartifacts: []  # mlvc add\n")
    merging.commit("yaml")
    branch(merging, "other")
    root.gen({"b.csv": "b"})
    ok(mlvc, "add", "b.csv")
    merging.commit("b")
    (root / "mlvc.yaml").write_text("# tracked data\nschema: 2\nartifacts:  # mlvc add\n- b.csv\n")
    merging.commit("b, as people write it")
    switch(mlvc, merging, "main")
    root.gen({"a.csv": "a"})
    ok(mlvc, "add", "a.csv")
    (root / "mlvc.yaml").write_text("# tracked data\nschema: 2\nartifacts:  # mlvc add\n- a.csv\n")
    merging.commit("a")
    p = merge(merging, "other")
    assert p.returncode == 0, p.stdout + p.stderr
    assert (root / "mlvc.yaml").read_text() == "# tracked data\nschema: 2\nartifacts:  # mlvc add\n- a.csv\n- b.csv\n"
    ok(mlvc, "checkout")
    ok(mlvc, "status", "--check")


def test_yaml_true_conflict_keeps_comments_and_marks_only_that_stage(mlvc, merging):
    root = merging.root
    (root / "mlvc.yaml").write_text(PIPELINE)
    merging.commit("pipeline")
    branch(merging, "other")
    (root / "mlvc.yaml").write_text(PIPELINE.replace("train.py\n", "train.py --theirs\n")
                                    + "\n  evaluate:\n    cmd: python evaluate.py\n")
    merging.commit("theirs")
    theirs = (root / "mlvc.yaml").read_text()
    merging.git("checkout", "-q", "main")
    (root / "mlvc.yaml").write_text(PIPELINE.replace("train.py\n", "train.py --ours\n")
                                    .replace("featurize.py   #", "featurize.py --fast   #"))
    merging.commit("ours")
    p = merge(merging, "other")
    assert p.returncode != 0
    assert "CONFLICT in mlvc.yaml" in p.stderr and "stage train: changed differently on both branches" in p.stderr
    text = (root / "mlvc.yaml").read_text()
    head = PIPELINE.replace("featurize.py   #", "featurize.py --fast   #").split("\n  train:")[0]
    assert text == head + ("<<<<<<< ours\n\n  train:\n    cmd: python train.py --ours\n"
                           "=======\n\n  train:\n    cmd: python train.py --theirs\n>>>>>>> theirs\n"
                           "\n  evaluate:\n    cmd: python evaluate.py\n")
    r = mlvc("status")
    assert r.exit_code != 0 and "git merge conflict markers" in r.stderr
    merging.git("checkout", "--theirs", "mlvc.yaml")
    assert (root / "mlvc.yaml").read_text() == theirs
