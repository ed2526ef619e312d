"""mlvc.yaml keeps the comments, blank lines, order and layout people gave it when mlvc
writes it (add, remove, commit, stage add, import), through the real CLI in a real git
repository; a layout mlvc cannot follow is written afresh, never wrongly."""

from __future__ import annotations

import subprocess

from funcutil import read_project
from mlvc.formats.project import Project, serialize_project

COMMENTED = """\
# The digits project: ask Ana before removing anything.
schema: 2

artifacts:
  # raw inputs, from the lab
  - data/raw.csv   # the 2024 export
  - model.pkl

# how the model is built
stages:
    # trains the model
    train:
        cmd: python train.py   # the slow one
        deps: [data/raw.csv]
        outs: [model2.pkl]
# end of file
"""


def ok(mlvc, *args):
    r = mlvc(*args)
    assert r.exit_code == 0, r.output
    return r


def text(repo) -> str:
    return (repo.root / "mlvc.yaml").read_text()


def commented(mlvc, repo):
    repo.root.gen({"data/raw.csv": "a,b\n1,2\n", "model.pkl": "m1", "train.py": "print()\n"})
    ok(mlvc, "add", "data/raw.csv", "model.pkl")
    (repo.root / "mlvc.yaml").write_text(COMMENTED)
    repo.commit("commented mlvc.yaml")
    repo.root.gen({"data/new.csv": "n\n"})


def test_add_remove_commit_keep_comments(mlvc, repo):
    commented(mlvc, repo)
    ok(mlvc, "add", "data/new.csv")
    added = COMMENTED.replace("artifacts:\n", "artifacts:\n  - data/new.csv\n")  # sorted: before data/raw.csv
    assert text(repo) == added
    assert read_project(repo.root)["artifacts"] == ["data/new.csv", "data/raw.csv", "model.pkl"]

    (repo.root / "data" / "raw.csv").write_text("a,b\n3,4\n")
    ok(mlvc, "commit")
    ok(mlvc, "add", "data/new.csv")  # already tracked, unchanged: nothing to write differently
    assert text(repo) == added

    ok(mlvc, "remove", "model.pkl")
    assert text(repo) == added.replace("  - model.pkl\n", "")
    ok(mlvc, "remove", "data/raw.csv")  # its line (and the comment at its end) go; the note above it stays
    assert text(repo) == added.replace("  - model.pkl\n", "").replace("  - data/raw.csv   # the 2024 export\n", "")
    assert "Up to date: 1 artifact matches mlvc.lock." in mlvc("status").stdout  # the file still reads


def test_stage_add_appends_and_force_replaces_only_that_stage(mlvc, repo):
    commented(mlvc, repo)
    ok(mlvc, "stage", "add", "evaluate", "-d", "model2.pkl", "-m", "metrics.json", "--", "python", "eval.py")
    appended = COMMENTED.replace("# end of file\n", "    evaluate:\n      cmd: python eval.py\n      deps:\n"
                                 "      - model2.pkl\n      metrics:\n      - metrics.json\n# end of file\n")
    assert text(repo) == appended  # indented as the stages people wrote
    ok(mlvc, "stage", "add", "--force", "train", "-d", "data/raw.csv", "-o", "model2.pkl", "--",
       "python", "train.py", "--fast")
    replaced = appended.replace("        cmd: python train.py   # the slow one\n        deps: [data/raw.csv]\n"
                                "        outs: [model2.pkl]\n", "      cmd: python train.py --fast\n"
                                "      deps:\n      - data/raw.csv\n      outs:\n      - model2.pkl\n")
    assert text(repo) == replaced  # its block is mlvc's, under the comment above it
    r = ok(mlvc, "stage", "list", "--json")
    assert '"train"' in r.stdout and '"evaluate"' in r.stdout
    assert list(read_project(repo.root)["stages"]) == ["train", "evaluate"]


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_import_of_another_artifact_keeps_comments(mlvc, repo, tmp_path_factory, monkeypatch):
    commented(mlvc, repo)
    outside = tmp_path_factory.mktemp("source")
    src = outside / "src"
    src.mkdir()
    (src / "labels.csv").write_text("label\n1\n")
    git("init", "-q", "-b", "main", cwd=src)
    monkeypatch.chdir(src)
    for args in (("init",), ("add", "labels.csv"), ("remote", "add", "--default", "store", str(outside / "store")),
                 ("push",)):
        ok(mlvc, *args)
    git("add", "-A", cwd=src)
    git("commit", "-q", "-m", "labels", cwd=src)
    monkeypatch.chdir(repo.root)
    ok(mlvc, "import", str(src), "labels.csv", "-o", "data/labels.csv")
    assert text(repo) == COMMENTED.replace("artifacts:\n", "artifacts:\n  - data/labels.csv\n")
    assert read_project(repo.root)["artifacts"] == ["data/labels.csv", "data/raw.csv", "model.pkl"]
    assert "Up to date: 3 artifacts match mlvc.lock." in mlvc("status").stdout  # the file still reads


def test_a_layout_mlvc_cannot_follow_is_written_afresh(mlvc, repo):
    """A flow-style mapping (one line for the whole file, which the block split cannot read) and
    a quoted top-level key (read as another key than mlvc writes, so the merge would list
    artifacts twice): the file is written as a new one is, and lists exactly what it should."""
    repo.root.gen({"a.csv": "a\n", "b.csv": "b\n"})
    ok(mlvc, "add", "a.csv")
    for layout in ("# flow style\n{schema: 2, artifacts: [a.csv]}\n",
                   '# quoted\nschema: 2\n"artifacts":\n- a.csv  # first\n'):
        (repo.root / "mlvc.yaml").write_text(layout)
        ok(mlvc, "add", "b.csv")
        assert text(repo) == serialize_project(Project(["a.csv", "b.csv"])) == \
            "schema: 2\nartifacts:\n- a.csv\n- b.csv\n"
        ok(mlvc, "remove", "b.csv")
        assert text(repo) == "schema: 2\nartifacts:\n- a.csv\n"


def test_a_file_mlvc_wrote_is_written_as_today(mlvc, repo):
    repo.root.gen({"b.csv": "b\n", "a.csv": "a\n"})
    ok(mlvc, "add", "b.csv")
    ok(mlvc, "add", "a.csv")
    assert text(repo) == "schema: 2\nartifacts:\n- a.csv\n- b.csv\n"
