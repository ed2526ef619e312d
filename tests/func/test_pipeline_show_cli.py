"""`mlvc dag`, `mlvc params diff`, `mlvc metrics show` and `mlvc metrics diff` end to end: real
git repositories with several commits, pipelines run by `mlvc repro`, the real CLI."""

from __future__ import annotations

import json
import shlex
import sys

import pytest
import yaml

from funcutil import one_line_error

PY = shlex.quote(sys.executable)


def py(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


def write_stages(root, stages: dict, **top) -> None:
    (root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, **top, "stages": stages}, sort_keys=False))


# a diamond: prepare -> featurize, split -> train; train writes metrics.json from the params
TRAIN = py("import json, yaml, tomllib; p = yaml.safe_load(open('params.yaml'))['train']; "
           "m = tomllib.load(open('model.toml', 'rb')); "
           "json.dump({'acc': round(0.5 + p['lr'], 2), 'loss': {'train': p['epochs'] / 10}, 'depth': m['depth']}, "
           "open('metrics.json', 'w')); open('model.txt', 'w').write('m')")
DIAMOND = {
    "prepare": {"cmd": py("open('prep.txt', 'w').write(open('raw.txt').read())"), "deps": ["raw.txt"],
                "outs": ["prep.txt"]},
    "featurize": {"cmd": py("open('feat.txt', 'w').write('f')"), "deps": ["prep.txt"],
                  "params": ["featurize.window"], "outs": ["feat.txt"]},
    "split": {"cmd": py("open('split.txt', 'w').write('s')"), "deps": ["prep.txt"], "outs": ["split.txt"]},
    "train": {"cmd": TRAIN, "deps": ["feat.txt", "split.txt"], "params": ["train.lr", "train.epochs",
                                                                          {"model.toml": None}],
              "outs": ["model.txt"], "metrics": ["metrics.json"]},
}
PARAMS = "featurize:\n  window: 3\ntrain:\n  lr: 0.38\n  epochs: 2\n"


@pytest.fixture
def pipeline(repo, mlvc):
    """The diamond, run and committed once (HEAD)."""
    repo.root.gen({"raw.txt": "raw", "params.yaml": PARAMS, "model.toml": "depth = 4\n"})
    write_stages(repo.root, DIAMOND)
    r = mlvc("repro")
    assert r.exit_code == 0, r.output
    repo.commit("first run")
    return repo


def set_param(root, old: str, new: str) -> None:
    path = root / "params.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


# ------------------------------------------------------------------ dag

DRAWING = (
    " +---------+\n"
    " | prepare |\n"
    " +---------+\n"
    "      |\n"
    "      +------------+\n"
    "      v            v\n"
    "+-----------+  +-------+\n"
    "| featurize |  | split |\n"
    "+-----------+  +-------+\n"
    "      |            |\n"
    "      +----+ +-----+\n"
    "           v v\n"
    "        +-------+\n"
    "        | train |\n"
    "        +-------+\n")


def test_dag_draws_the_diamond(pipeline, mlvc):
    r = mlvc("dag")
    assert r.exit_code == 0, r.output
    assert r.stdout == DRAWING


def test_dag_formats(pipeline, mlvc):
    mermaid = mlvc("dag", "--mermaid")
    assert mermaid.exit_code == 0 and mermaid.stdout == (
        'flowchart TD\n    n1["prepare"]\n    n2["featurize"]\n    n3["split"]\n    n4["train"]\n'
        "    n1 --> n2\n    n1 --> n3\n    n2 --> n4\n    n3 --> n4\n")
    dot = mlvc("dag", "--dot")
    assert dot.exit_code == 0 and dot.stdout == (
        'digraph pipeline {\n    node [shape=box];\n    "prepare";\n    "featurize";\n    "split";\n'
        '    "train";\n    "prepare" -> "featurize";\n    "prepare" -> "split";\n    "featurize" -> "train";\n'
        '    "split" -> "train";\n}\n')
    data = json.loads(mlvc("dag", "--json").stdout)
    assert data["nodes"][3] == {"name": "train", "deps": ["feat.txt", "split.txt"],
                                "outs": ["model.txt", "metrics.json"]}
    assert data["edges"] == [{"from": "prepare", "to": "featurize"}, {"from": "prepare", "to": "split"},
                             {"from": "featurize", "to": "train"}, {"from": "split", "to": "train"}]


def test_dag_of_a_target_is_it_and_its_ancestors(pipeline, mlvc):
    r = mlvc("dag", "split", "--mermaid")
    assert r.stdout == 'flowchart TD\n    n1["prepare"]\n    n2["split"]\n    n1 --> n2\n'
    r = mlvc("dag", "feat.txt")  # an output names its stage
    assert r.exit_code == 0
    assert r.stdout == (" +---------+\n | prepare |\n +---------+\n      |\n      v\n"
                        "+-----------+\n| featurize |\n+-----------+\n")


def test_dag_refuses_an_unknown_target_and_two_formats(pipeline, mlvc):
    r = mlvc("dag", "nope")
    assert r.exit_code == 3
    assert "'nope' is not a stage" in one_line_error(r)
    r = mlvc("dag", "--dot", "--json")
    assert r.exit_code == 2
    assert "choose one" in r.output


def test_dag_without_stages(repo, mlvc):
    r = mlvc("dag")
    assert r.exit_code == 0 and "No stages yet" in r.stdout
    assert json.loads(mlvc("dag", "--json").stdout) == {"nodes": [], "edges": []}


def test_dag_of_a_cycle_names_it(repo, mlvc):
    write_stages(repo.root, {"a": {"cmd": "true", "deps": ["y"], "outs": ["x"]},
                             "b": {"cmd": "true", "deps": ["x"], "outs": ["y"]}})
    r = mlvc("dag")
    assert r.exit_code == 3 and "cycle" in one_line_error(r)


# ------------------------------------------------------------------ params diff


def test_params_diff_head_against_the_workspace(pipeline, mlvc):
    r = mlvc("params", "diff")
    assert r.exit_code == 0
    assert r.stdout == "No param changed between HEAD and the workspace.\n"
    set_param(pipeline.root, "lr: 0.38", "lr: 0.41")
    r = mlvc("params", "diff")
    assert r.exit_code == 0, r.output
    assert r.stdout == ("File         Param     HEAD  workspace\n"
                        "params.yaml  train.lr  0.38  0.41\n")
    r = mlvc("params", "diff", "--all")
    assert r.stdout == ("File         Param             HEAD  workspace\n"
                        "model.toml   depth             4     4\n"
                        "params.yaml  featurize.window  3     3\n"
                        "params.yaml  train.epochs      2     2\n"
                        "params.yaml  train.lr          0.38  0.41\n")


def test_params_diff_between_commits(pipeline, mlvc):
    first = pipeline.git("rev-parse", "HEAD").strip()
    set_param(pipeline.root, "lr: 0.38", "lr: 0.41")
    (pipeline.root / "model.toml").write_text("depth = 5\n")
    pipeline.commit("more depth")
    set_param(pipeline.root, "epochs: 2", "epochs: 3")  # in the workspace only
    r = mlvc("params", "diff", "HEAD~1", "HEAD", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["old"] == {"rev": "HEAD~1", "sha": first}
    assert data["new"]["rev"] == "HEAD" and len(data["new"]["sha"]) == 40
    assert data["changes"] == [
        {"file": "model.toml", "param": "depth", "status": "changed", "old": 4, "new": 5},
        {"file": "params.yaml", "param": "train.lr", "status": "changed", "old": 0.38, "new": 0.41}]
    assert data["missing"] == []
    # one revision: it against the workspace
    r = mlvc("params", "diff", "HEAD~1")
    assert r.stdout == ("File         Param         HEAD~1  workspace\n"
                        "model.toml   depth         4       5\n"
                        "params.yaml  train.epochs  2       3\n"
                        "params.yaml  train.lr      0.38    0.41\n")


def test_params_of_stages_at_each_revision(pipeline, mlvc):
    """A params file that only the old revision's stages use is still compared (missing now)."""
    stages = dict(DIAMOND)
    stages["split"] = {**DIAMOND["split"], "params": [{"split.json": None}]}
    write_stages(pipeline.root, stages)
    pipeline.root.gen("split.json", '{"ratio": 0.2, "seed": {"value": 7}}')
    pipeline.commit("split has params")
    write_stages(pipeline.root, DIAMOND)
    (pipeline.root / "split.json").unlink()
    pipeline.commit("split has none again")
    r = mlvc("params", "diff", "HEAD~1", "HEAD")
    assert r.exit_code == 0, r.output
    assert r.stdout == ("File        Param       HEAD~1  HEAD\n"
                        "split.json  ratio       0.2     -\n"
                        "split.json  seed.value  7       -\n"
                        "split.json is missing at HEAD.\n")
    data = json.loads(mlvc("params", "diff", "HEAD~2", "HEAD~1", "--json").stdout)
    assert [(c["param"], c["status"], c["old"], c["new"]) for c in data["changes"]] == [
        ("ratio", "added", None, 0.2), ("seed.value", "added", None, 7)]
    assert data["missing"] == [{"file": "split.json", "rev": "HEAD~2"}]


def test_params_at_a_revision_with_templating(pipeline, mlvc):
    """A revision's mlvc.yaml is templated with that revision's params.yaml and vars files."""
    pipeline.root.gen("vars.yaml", "extra_file: extra.yaml\n")
    pipeline.root.gen("extra.yaml", "k: 1\n")
    stages = dict(DIAMOND)
    stages["split"] = {**DIAMOND["split"], "params": [{"${extra_file}": None}]}
    write_stages(pipeline.root, stages, vars=["vars.yaml"])
    pipeline.commit("templated")
    (pipeline.root / "vars.yaml").unlink()  # the workspace could not template it any more
    write_stages(pipeline.root, DIAMOND)
    pipeline.root.gen("extra.yaml", "k: 2\n")
    r = mlvc("params", "diff", "--json")
    assert r.exit_code == 0, r.output
    assert [(c["file"], c["param"], c["old"], c["new"]) for c in json.loads(r.stdout)["changes"]] == [
        ("extra.yaml", "k", 1, 2)]


def test_params_diff_names_a_malformed_file_and_line(pipeline, mlvc):
    before = (pipeline.root / "params.yaml").read_text()
    (pipeline.root / "params.yaml").write_text("train:\n  lr: [0.1\n")
    pipeline.commit("broken")
    (pipeline.root / "params.yaml").write_text(before)
    r = mlvc("params", "diff")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: HEAD:params.yaml:3: invalid YAML")
    r = mlvc("params", "diff", "HEAD~1")
    assert r.exit_code == 0 and "No param changed" in r.stdout


def test_params_diff_of_an_unknown_revision(pipeline, mlvc):
    r = mlvc("params", "diff", "nosuchrev")
    assert r.exit_code == 3
    assert "unknown git revision 'nosuchrev'" in one_line_error(r)


def test_params_diff_without_commits(scm, mlvc):
    assert mlvc("init").exit_code == 0
    scm.root.gen("params.yaml", "a: 1\n")
    r = mlvc("params", "diff")
    assert r.exit_code == 3
    assert "unknown git revision 'HEAD'" in one_line_error(r)


# ------------------------------------------------------------------ metrics


def rerun(repo, mlvc, old: str, new: str) -> None:
    set_param(repo.root, old, new)
    r = mlvc("repro")
    assert r.exit_code == 0, r.output


def test_metrics_show_in_the_workspace_and_at_revisions(pipeline, mlvc):
    r = mlvc("metrics", "show")
    assert r.exit_code == 0, r.output
    assert r.stdout == ("File          Metric      workspace\n"
                        "metrics.json  acc         0.88\n"
                        "metrics.json  depth       4\n"
                        "metrics.json  loss.train  0.2\n")
    rerun(pipeline, mlvc, "lr: 0.38", "lr: 0.41")
    pipeline.commit("lr 0.41")
    r = mlvc("metrics", "show", "--rev", "HEAD~1", "--rev", "HEAD")
    assert r.stdout == ("File          Metric      HEAD~1  HEAD\n"
                        "metrics.json  acc         0.88    0.91\n"
                        "metrics.json  depth       4       4\n"
                        "metrics.json  loss.train  0.2     0.2\n")
    data = json.loads(mlvc("metrics", "show", "--rev", "HEAD~1", "--json").stdout)
    assert data == {"revisions": [{"rev": "HEAD~1", "sha": pipeline.git("rev-parse", "HEAD~1").strip(),
                                   "metrics": {"metrics.json": {"acc": 0.88, "depth": 4, "loss.train": 0.2}}}]}


def test_metrics_diff_with_the_change(pipeline, mlvc):
    rerun(pipeline, mlvc, "lr: 0.38", "lr: 0.41")
    r = mlvc("metrics", "diff")
    assert r.exit_code == 0, r.output
    assert r.stdout == ("File          Metric  HEAD  workspace  Change\n"
                        "metrics.json  acc     0.88  0.91       +0.03\n")
    pipeline.commit("lr 0.41")
    rerun(pipeline, mlvc, "epochs: 2", "epochs: 1")
    pipeline.commit("one epoch")
    data = json.loads(mlvc("metrics", "diff", "HEAD~2", "HEAD", "--json").stdout)
    assert data["changes"] == [
        {"file": "metrics.json", "metric": "acc", "status": "changed", "old": 0.88, "new": 0.91, "change": 0.03},
        {"file": "metrics.json", "metric": "loss.train", "status": "changed", "old": 0.2, "new": 0.1,
         "change": -0.1}]
    r = mlvc("metrics", "diff", "HEAD~1", "--all")
    assert r.stdout == ("File          Metric      HEAD~1  workspace  Change\n"
                        "metrics.json  acc         0.91    0.91       +0.0\n"
                        "metrics.json  depth       4       4          +0\n"
                        "metrics.json  loss.train  0.2     0.1        -0.1\n")


def test_a_missing_metrics_file_is_shown_as_missing(repo, mlvc):
    repo.root.gen({"raw.txt": "raw", "params.yaml": PARAMS, "model.toml": "depth = 4\n"})
    write_stages(repo.root, DIAMOND)
    repo.commit("defined, never run")
    r = mlvc("metrics", "show")
    assert r.exit_code == 0
    assert r.stdout == "File          Metric  workspace\nmetrics.json  -       missing\n"
    assert mlvc("repro").exit_code == 0
    r = mlvc("metrics", "diff")
    assert r.exit_code == 0, r.output
    assert r.stdout == ("File          Metric      HEAD  workspace  Change\n"
                        "metrics.json  acc         -     0.88       -\n"
                        "metrics.json  depth       -     4          -\n"
                        "metrics.json  loss.train  -     0.2        -\n"
                        "metrics.json is missing at HEAD.\n")
    assert mlvc("-q", "metrics", "diff").stdout.endswith("metrics.json is missing at HEAD.\n")  # data, not a message
    repo.commit("ran")
    r = mlvc("metrics", "show", "--rev", "HEAD~1", "--rev", "HEAD")
    assert r.stdout == ("File          Metric      HEAD~1   HEAD\n"
                        "metrics.json  acc         missing  0.88\n"
                        "metrics.json  depth       missing  4\n"
                        "metrics.json  loss.train  missing  0.2\n")


def test_a_malformed_metrics_file_names_file_and_line(pipeline, mlvc):
    (pipeline.root / "metrics.json").write_text('{"acc": 0.9,\n  "loss": oops}\n')
    r = mlvc("metrics", "show")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: metrics.json:2: invalid JSON")
    pipeline.commit("broken metrics")
    r = mlvc("metrics", "diff", "HEAD~1", "HEAD")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: HEAD:metrics.json:2: invalid JSON")


def test_metrics_in_yaml_and_toml(repo, mlvc):
    write_stages(repo.root, {"eval": {"cmd": py(
        "open('m.yaml', 'w').write('auc: 0.7\\nper_class:\\n  a: 1\\n'); open('m.toml', 'w').write('[f1]\\nmacro = 0.5\\n')"),
        "metrics": ["m.yaml", "m.toml"]}})
    assert mlvc("repro").exit_code == 0
    r = mlvc("metrics", "show", "--json")
    assert json.loads(r.stdout)["revisions"][0]["metrics"] == {"m.toml": {"f1.macro": 0.5},
                                                               "m.yaml": {"auc": 0.7, "per_class.a": 1}}


def test_cached_metrics_at_a_revision_come_from_the_cache(repo, mlvc):
    write_stages(repo.root, {"eval": {"cmd": py("import json; json.dump({'acc': 0.5}, open('m.json', 'w'))"),
                                      "metrics": [{"m.json": {"cache": True}}]}})
    assert mlvc("repro").exit_code == 0
    repo.commit("ran")
    assert "m.json" not in repo.git("ls-files")
    r = mlvc("metrics", "show", "--rev", "HEAD", "--json")
    assert json.loads(r.stdout)["revisions"][0]["metrics"] == {"m.json": {"acc": 0.5}}


def test_from_a_subfolder_paths_are_relative_to_it(pipeline, mlvc, monkeypatch):
    (pipeline.root / "sub").mkdir()
    monkeypatch.chdir(pipeline.root / "sub")
    r = mlvc("dag", "../split.txt", "--mermaid")
    assert r.stdout == 'flowchart TD\n    n1["prepare"]\n    n2["split"]\n    n1 --> n2\n'
    set_param(pipeline.root, "lr: 0.38", "lr: 0.41")
    r = mlvc("params", "diff")
    assert r.stdout == ("File            Param     HEAD  workspace\n"
                        "../params.yaml  train.lr  0.38  0.41\n")
    assert json.loads(mlvc("params", "diff", "--json").stdout)["changes"][0]["file"] == "params.yaml"
    r = mlvc("metrics", "show")
    assert r.stdout.splitlines()[1].startswith("../metrics.json  acc ")


def test_dates_text_and_lists_as_values(repo, mlvc):
    write_stages(repo.root, {"eval": {"cmd": py(
        "open('m.yaml', 'w').write('when: 2024-05-01\\nnote: \"two\\\\nlines\\\\n\"\\nclasses: [a, b]\\ndash: \"-\"\\n')"),
        "metrics": ["m.yaml"]}})
    assert mlvc("repro").exit_code == 0, mlvc("repro").output
    r = mlvc("metrics", "show")
    assert r.exit_code == 0, r.output
    assert r.stdout == ("File    Metric   workspace\n"
                        'm.yaml  classes  ["a", "b"]\n'
                        'm.yaml  dash     "-"\n'
                        'm.yaml  note     "two\\nlines\\n"\n'
                        "m.yaml  when     2024-05-01\n")
    assert json.loads(mlvc("metrics", "show", "--json").stdout)["revisions"][0]["metrics"]["m.yaml"]["when"] == (
        "2024-05-01")
