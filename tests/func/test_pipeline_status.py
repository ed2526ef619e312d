"""`mlvc status` for pipelines: each stale stage with its reasons, after the artifacts;
--check exits 1 when one is stale. Real git repositories, real commands, the real CLI."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest
import yaml

from funcutil import oid_of, one_line_error, read_lock

PY = shlex.quote(sys.executable)


def py(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


# prepare: raw.txt -> prepared/ (a folder); train: prepared + train.lr -> model.txt, metrics.json
PREPARE = py("import os, pathlib; os.makedirs('prepared', exist_ok=True); "
             "pathlib.Path('prepared/a.txt').write_text(open('raw.txt').read().upper())")
TRAIN = py("import json, yaml, pathlib; p = yaml.safe_load(open('params.yaml'))['train']; "
           "pathlib.Path('model.txt').write_text(pathlib.Path('prepared/a.txt').read_text() + str(p['lr'])); "
           "json.dump({'score': p['lr'] * 2}, open('metrics.json', 'w'))")


def write_stages(root, stages: dict) -> None:
    (root / "mlvc.yaml").write_text(yaml.safe_dump({"schema": 2, "stages": stages}, sort_keys=False))


def stages(prepare: dict | None = None, train: dict | None = None) -> dict:
    return {
        "prepare": {"cmd": PREPARE, "deps": ["raw.txt"], "outs": ["prepared"], **(prepare or {})},
        "train": {"cmd": TRAIN, "deps": ["prepared"], "params": ["train.lr"], "outs": ["model.txt"],
                  "metrics": ["metrics.json"], **(train or {})},
    }


@pytest.fixture
def pipeline(repo):
    repo.root.gen({"raw.txt": "abc", "params.yaml": "train:\n  lr: 0.5\nother: 1\n"})
    write_stages(repo.root, stages())
    repo.commit("pipeline")
    return repo


def _json(mlvc, *args):
    r = mlvc("status", "--json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _stages(mlvc, *args) -> dict[str, dict]:
    return {s["name"]: s for s in _json(mlvc, *args)["stages"]}


def _repro(mlvc):
    r = mlvc("repro")
    assert r.exit_code == 0, r.output


def test_not_run_yet(mlvc, pipeline):
    r = mlvc("status")
    assert r.exit_code == 0
    assert r.stdout == ("stage prepare  not run yet\n"
                        "stage train    not run yet\n"
                        "\n`mlvc repro` runs the stale stages.\n")
    assert mlvc("status", "--check").exit_code == 1
    out = _json(mlvc)
    assert out["clean"] is False and out["artifacts"] == []
    assert out["stages"] == [
        {"name": "prepare", "status": "not run yet", "reasons": [{"kind": "stage", "change": "not run yet"}]},
        {"name": "train", "status": "not run yet", "reasons": [{"kind": "stage", "change": "not run yet"}]},
    ]
    assert _json(mlvc, ".")["stages"] == out["stages"]  # the root names every stage, those not run too


def test_up_to_date_after_repro(mlvc, pipeline):
    _repro(mlvc)
    r = mlvc("status")
    assert r.stdout == ("Up to date: 2 artifacts match mlvc.lock.\n"
                        "Pipeline up to date: 2 stages match mlvc.lock.\n")
    assert mlvc("status", "--check").exit_code == 0
    out = _json(mlvc)
    assert out["clean"] is True
    assert [(s["name"], s["status"], s["reasons"]) for s in out["stages"]] == [("prepare", "ok", []),
                                                                               ("train", "ok", [])]


def test_stage_outs_are_listed_once_as_artifacts(mlvc, pipeline):
    _repro(mlvc)
    os.unlink(pipeline.root / "model.txt")
    out = _json(mlvc)
    # The cached outs, once each (recorded under artifacts: and named by the stage record);
    # the metrics file (cache: false) is no artifact, only an out of its stage.
    assert [(a["path"], a["status"]) for a in out["artifacts"]] == [("model.txt", "missing"), ("prepared", "ok")]
    text = mlvc("status").stdout
    assert text.count("model.txt") == 2  # its artifact row, and the reason of its stage
    assert text.count("prepared") == 1


def test_changed_dep(mlvc, pipeline):
    _repro(mlvc)
    (pipeline.root / "raw.txt").write_text("abcd")
    r = mlvc("status")
    assert r.stdout == ("Up to date: 2 artifacts match mlvc.lock.\n\n"
                        "stage prepare  changed\n"
                        "    dep raw.txt changed\n"
                        "\n`mlvc repro` runs the stale stages.\n")
    assert mlvc("status", "--check").exit_code == 1
    by_name = _stages(mlvc)
    assert by_name["prepare"]["reasons"] == [
        {"kind": "dep", "change": "changed", "path": "raw.txt", "old": oid_of(b"abc"), "new": oid_of(b"abcd")}]
    assert by_name["train"]["status"] == "ok"  # judged on its own: its dep prepared/ has not changed yet
    _repro(mlvc)
    assert mlvc("status", "--check").exit_code == 0


def test_changed_param(mlvc, pipeline):
    _repro(mlvc)
    (pipeline.root / "params.yaml").write_text("train:\n  lr: 0.5\nother: 2\n")
    assert mlvc("status", "--check").exit_code == 0  # a param no stage uses
    (pipeline.root / "params.yaml").write_text("train:\n  lr: 0.75\nother: 2\n")
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "stage train  changed\n    param params.yaml:train.lr changed\n" in r.stdout
    by_name = _stages(mlvc)
    assert by_name["prepare"]["status"] == "ok"
    assert by_name["train"] == {"name": "train", "status": "changed", "reasons": [
        {"kind": "param", "change": "changed", "path": "params.yaml", "key": "train.lr", "old": 0.5, "new": 0.75}]}


def test_param_values_of_any_yaml_type_in_json(mlvc, pipeline):
    (pipeline.root / "params.yaml").write_text("train:\n  lr: {1: a, x: 2024-05-01}\n")
    write_stages(pipeline.root, stages(train={"cmd": "echo > model.txt && echo {} > metrics.json"}))
    _repro(mlvc)
    (pipeline.root / "params.yaml").write_text("train:\n  lr: 2024-05-02\n")
    assert _stages(mlvc)["train"]["reasons"] == [{"kind": "param", "change": "changed", "path": "params.yaml",
                                                  "key": "train.lr", "old": {"1": "a", "x": "2024-05-01"},
                                                  "new": "2024-05-02"}]


def test_missing_param_is_a_reason_not_an_error(mlvc, pipeline):
    _repro(mlvc)
    (pipeline.root / "params.yaml").write_text("train:\n  epochs: 3\n")
    r = mlvc("status", "--check")
    assert r.exit_code == 1, r.output
    assert "    param params.yaml:train.lr is missing\n" in r.stdout
    assert _stages(mlvc)["train"]["reasons"] == [
        {"kind": "param", "change": "missing", "path": "params.yaml", "key": "train.lr", "old": 0.5, "new": None}]
    os.unlink(pipeline.root / "params.yaml")
    assert "    param params.yaml:train.lr is missing\n" in mlvc("status").stdout


def test_changed_cmd(mlvc, pipeline):
    _repro(mlvc)
    write_stages(pipeline.root, stages(prepare={"cmd": PREPARE + " # again"}))
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "stage prepare  changed\n    cmd changed\n" in r.stdout
    assert _stages(mlvc)["prepare"]["reasons"] == [
        {"kind": "cmd", "change": "changed", "old": PREPARE, "new": PREPARE + " # again"}]


def test_deleted_and_modified_outs(mlvc, pipeline):
    _repro(mlvc)
    lock = read_lock(pipeline.root)
    os.unlink(pipeline.root / "model.txt")
    (pipeline.root / "metrics.json").write_text('{"score": 9}')
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert r.stdout == ("model.txt  missing\n"
                        "prepared   ok\n\n"
                        "stage train  changed\n"
                        "    out model.txt is missing\n"
                        "    out metrics.json changed\n"
                        "\n`mlvc checkout` restores the recorded version; `mlvc repro` runs the stale stages.\n")
    assert _stages(mlvc)["train"]["reasons"] == [
        {"kind": "out", "change": "missing", "path": "model.txt", "old": lock["artifacts"]["model.txt"]["oid"],
         "new": None},
        {"kind": "out", "change": "changed", "path": "metrics.json",
         "old": lock["stages"]["train"]["uncached_outs"]["metrics.json"]["oid"], "new": oid_of(b'{"score": 9}')}]


def test_frozen_is_never_stale_and_always_changed_always_is(mlvc, pipeline):
    write_stages(pipeline.root, stages(prepare={"frozen": True}, train={"always_changed": True}))
    pipeline.root.gen("prepared/a.txt", "made by hand")
    by_name = _stages(mlvc)
    assert by_name["prepare"] == {"name": "prepare", "status": "frozen", "reasons": []}  # never ran, still not stale
    assert by_name["train"]["status"] == "not run yet"
    _repro(mlvc)
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "stage train  changed\n    always changed\n" in r.stdout
    assert "prepare" not in r.stdout.split("\n\n", 1)[1]
    assert _stages(mlvc)["train"]["reasons"] == [{"kind": "stage", "change": "always changed"}]


def test_paths_select_the_stages_that_make_them(mlvc, pipeline):
    _repro(mlvc)
    (pipeline.root / "raw.txt").write_text("abcd")
    (pipeline.root / "params.yaml").write_text("train:\n  lr: 0.75\n")
    assert [s["name"] for s in _json(mlvc, "model.txt")["stages"]] == ["train"]
    assert [s["name"] for s in _json(mlvc, "prepared")["stages"]] == ["prepare"]
    assert [s["name"] for s in _json(mlvc)["stages"]] == ["prepare", "train"]


def test_a_dirty_artifact_beside_an_up_to_date_pipeline(mlvc, pipeline):
    _repro(mlvc)
    pipeline.root.gen("notes.txt", "n")
    assert mlvc("add", "notes.txt").exit_code == 0
    (pipeline.root / "notes.txt").write_text("changed")
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert r.stdout == ("model.txt  ok\nnotes.txt  modified\nprepared   ok\n\n"
                        "Pipeline up to date: 2 stages match mlvc.lock.\n\n"
                        "`mlvc commit` records the workspace; `mlvc checkout` restores the recorded version.\n")


def test_a_broken_stages_section_is_one_line_error(mlvc, pipeline):
    (pipeline.root / "mlvc.yaml").write_text("schema: 2\nstages:\n  prepare:\n    cmd: x\n    outs: [${nope}]\n")
    r = mlvc("status")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: mlvc.yaml:5: ")


def test_status_without_stages_loads_nothing_of_the_pipeline(repo):
    """No `stages:` in mlvc.yaml: status neither imports mlvc.pipeline nor templates anything."""
    repo.root.gen("a.bin", "a")
    subprocess.run([sys.executable, "-m", "mlvc", "add", "a.bin"], cwd=repo.root, check=True, capture_output=True)
    code = ("import json, sys\nfrom mlvc.cli import app\ntry:\n    app(['status'], prog_name='mlvc')\n"
            "except SystemExit:\n    pass\n"
            "sys.stderr.write(json.dumps(sorted(m for m in sys.modules if m.startswith('mlvc.pipeline'))))\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=repo.root, capture_output=True, text=True)
    assert p.stdout == "Up to date: 1 artifact matches mlvc.lock.\n"
    assert json.loads(p.stderr.strip().splitlines()[-1]) == []


def test_each_path_is_scanned_once(mlvc, pipeline, monkeypatch):
    """Status hashes each out and dep once: an out that is also the next stage's dep, or an
    artifact whose status was just taken, is not scanned again for the stages (it was, 29
    scans for 10 outs, which kept pipeline status at 0.31x DVC against a goal of 0.2x)."""
    import collections
    import importlib

    from mlvc.workspace.scan import scan

    ops_status = importlib.import_module("mlvc.ops.status")
    pipeline_status = importlib.import_module("mlvc.pipeline.status")

    _repro(mlvc)
    (pipeline.root / "raw.txt").write_text("changed")  # prepare stale, its out still as recorded
    scans = collections.Counter()

    def counting(root, rel, *args, **kwargs):
        scans[rel] += 1
        return scan(root, rel, *args, **kwargs)

    monkeypatch.setattr(ops_status, "scan", counting)
    monkeypatch.setattr(pipeline_status, "scan", counting)
    found = _stages(mlvc)
    assert found["prepare"]["status"] == "changed"
    assert [r["path"] for r in found["prepare"]["reasons"]] == ["raw.txt"]
    assert found["train"]["status"] == "ok"
    assert scans and set(scans.values()) == {1}, scans
    assert set(scans) == {"raw.txt", "prepared", "model.txt", "metrics.json"}
