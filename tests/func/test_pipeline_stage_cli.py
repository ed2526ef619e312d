"""`mlvc stage add` and `mlvc stage list`, end to end in a real repository."""

from __future__ import annotations

import json
import shlex

import yaml

from funcutil import one_line_error, read_project


def test_stage_add_writes_every_field(mlvc, repo):
    r = mlvc("stage", "add", "featurize", "-d", "src/featurize.py", "-d", "data/raw", "-p", "featurize.window",
             "-p", "cfg.json:model,seed", "-o", "data/features", "-O", "data/tmp", "-m", "reports/f.json",
             "--", "python", "src/featurize.py", "data/raw", "data/features")
    assert r.exit_code == 0, r.output
    assert "Added stage 'featurize' to mlvc.yaml" in r.stdout
    assert read_project(repo.root)["stages"] == {"featurize": {
        "cmd": "python src/featurize.py data/raw data/features",
        "deps": ["src/featurize.py", "data/raw"],
        "params": ["featurize.window", {"cfg.json": ["model", "seed"]}],
        "outs": ["data/features", {"data/tmp": {"cache": False}}],
        "metrics": ["reports/f.json"],
    }}


def test_stage_add_keeps_each_word_of_the_command(mlvc, repo):
    words = ["python", "-c", "open('out.txt', 'w').write('a b')"]
    assert mlvc("stage", "add", "s", "-o", "out.txt", "--", *words).exit_code == 0
    assert shlex.split(read_project(repo.root)["stages"]["s"]["cmd"]) == words
    assert mlvc("stage", "add", "t", "-o", "t.txt", "echo hi > t.txt").exit_code == 0
    assert read_project(repo.root)["stages"]["t"]["cmd"] == "echo hi > t.txt"


def test_stage_add_with_wdir(mlvc, repo):
    assert mlvc("stage", "add", "train", "-w", "src", "-d", "train.py", "-o", "../model.pkl", "-p", "lr",
                "python train.py").exit_code == 0
    r = mlvc("stage", "list", "--json")
    (stage,) = json.loads(r.stdout)["stages"]
    assert stage["wdir"] == "src" and stage["deps"] == ["src/train.py"]
    assert stage["outs"] == [{"path": "model.pkl", "cache": True, "persist": False, "metric": False}]
    assert stage["params"] == {"src/params.yaml": ["lr"]}


def test_stage_add_refuses_and_leaves_mlvc_yaml_alone(mlvc, repo):
    assert mlvc("stage", "add", "a", "-o", "data", "make data").exit_code == 0
    before = (repo.root / "mlvc.yaml").read_bytes()
    cases = [
        (["a", "-o", "x", "run"], 3, "stage 'a' already exists in mlvc.yaml; --force replaces it"),
        (["b", "-o", "data", "run"], 3, "out 'data' is in stages 'a' and 'b'"),
        (["b", "-o", "data/sub", "run"], 3, "out 'data/sub' of stage 'b' is inside out 'data' of stage 'a'"),
        (["b.c", "-o", "y", "run"], 2, "stage name 'b.c' is not a plain identifier"),
        (["b", "-o", "../y", "run"], 3, "out '../y' is outside the repository"),
        (["b", "-o", "y"], 2, "Missing argument 'CMD...'"),
    ]
    for args, code, words in cases:
        r = mlvc("stage", "add", *args)
        assert r.exit_code == code, (args, r.output)
        assert words in r.stderr, (args, r.stderr)
    assert (repo.root / "mlvc.yaml").read_bytes() == before


def test_stage_add_refuses_an_added_artifact_and_a_git_file(mlvc, repo):
    repo.root.gen({"data/a.csv": "1", "notes.txt": "n"})
    assert mlvc("add", "data").exit_code == 0
    r = mlvc("stage", "add", "s", "-o", "data", "run")
    assert r.exit_code == 3
    assert "out 'data' is also tracked by `mlvc add`" in one_line_error(r)
    repo.commit("notes", "notes.txt")
    r = mlvc("stage", "add", "s", "-o", "notes.txt", "run")
    assert r.exit_code == 3 and "out 'notes.txt' is tracked by git" in r.stderr
    assert mlvc("stage", "add", "s", "-O", "notes.txt", "run").exit_code == 0  # not cached: git keeps it


def test_force_replaces_a_stage(mlvc, repo):
    assert mlvc("stage", "add", "a", "-o", "x", "run one").exit_code == 0
    assert mlvc("stage", "add", "a", "-f", "-o", "y", "run two").exit_code == 0
    assert read_project(repo.root)["stages"] == {"a": {"cmd": "run two", "outs": ["y"]}}


def test_stage_list(mlvc, repo):
    (repo.root / "mlvc.yaml").write_text(yaml.safe_dump({"stages": {
        "prep": {"cmd": "prep", "deps": ["raw"], "outs": ["prepared"]},
        "train": {"foreach": ["a", "b"], "do": {"cmd": "train ${item}", "deps": ["prepared"],
                                                "outs": ["model-${item}.pkl"], "frozen": True}},
    }}, sort_keys=False))
    r = mlvc("stage", "list")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == [
        "prep     deps: raw  outs: prepared",
        "train@a  deps: prepared  outs: model-a.pkl  (frozen)",
        "train@b  deps: prepared  outs: model-b.pkl  (frozen)",
    ]
    stages = json.loads(mlvc("stage", "list", "--json").stdout)["stages"]
    assert [(s["name"], s["group"], s["cmd"]) for s in stages] == [
        ("prep", None, "prep"), ("train@a", "train", "train a"), ("train@b", "train", "train b")]


def test_stage_list_names_the_line_of_a_bad_field(mlvc, repo):
    (repo.root / "mlvc.yaml").write_text("stages:\n  s:\n    cmd: run\n    outs: [x]\n    deps: ${nope}\n")
    r = mlvc("stage", "list")
    assert r.exit_code == 3
    assert one_line_error(r) == ("error: mlvc.yaml:5: undefined variable 'nope'; define it under vars: "
                                 "(or in params.yaml), or write \\${ for a literal ${")


def test_no_stages(mlvc, repo):
    r = mlvc("stage", "list")
    assert r.exit_code == 0 and "No stages yet" in r.stdout


def test_stage_add_from_a_subfolder_runs_there(mlvc_proc, repo):
    sub = repo.root / "src"
    sub.mkdir()
    p = mlvc_proc("stage", "add", "here", "-o", "made.txt", "--", "pwd > made.txt", cwd=sub)
    assert p.returncode == 0, p.stderr
    assert read_project(repo.root)["stages"]["here"] == {"cmd": "pwd > made.txt", "wdir": "src", "outs": ["made.txt"]}
    p = mlvc_proc("repro", "made.txt", cwd=sub)  # a target relative to where the user stands
    assert p.returncode == 0, p.stderr
    assert (sub / "made.txt").read_text().strip() == str(sub)
