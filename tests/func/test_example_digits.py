"""examples/digits end to end: a copy of the example in a real git repository, the real CLI,
the example's real stages (scikit-learn, pyarrow)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tomllib

import pytest

from funcutil import read_lock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "digits")
STAGES = ["prepare", "featurize", "train", "evaluate"]


def actions(result) -> dict[str, str]:
    assert result.exit_code == 0, result.output
    return {s["name"]: s["action"] for s in json.loads(result.stdout)["stages"]}


def set_c(root, old: str, new: str) -> None:
    params = root / "params.yaml"
    text = params.read_text()
    assert f"  C: {old} " in text
    params.write_text(text.replace(f"  C: {old} ", f"  C: {new} "))


@pytest.fixture
def digits(repo, monkeypatch):
    """The example copied into an initialised repository and committed; its `python3` is this one."""
    shutil.copytree(EXAMPLE, repo.root, dirs_exist_ok=True)
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    repo.commit("digits example")
    return repo


@pytest.mark.slow  # each of its stage runs imports scikit-learn: about ten of them
def test_digits_pipeline_end_to_end(mlvc, digits):
    root = digits.root
    assert actions(mlvc("repro", "--json")) == dict.fromkeys(STAGES, "ran")
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9 and metrics["test_images"] == 450
    first_lock = read_lock(root)
    assert sorted(first_lock["stages"]) == sorted(STAGES)
    first_metrics = (root / "reports" / "metrics.json").read_bytes()

    # Nothing changed: nothing runs.
    assert actions(mlvc("repro", "--json")) == dict.fromkeys(STAGES, "skipped")

    # A new param for train: only train and evaluate run, the upstream records stay.
    set_c(root, "1.0", "0.1")
    r = mlvc("repro", "--json")
    assert actions(r) == {"prepare": "skipped", "featurize": "skipped", "train": "ran", "evaluate": "ran"}
    train = next(s for s in json.loads(r.stdout)["stages"] if s["name"] == "train")
    assert train["reason_text"] == ["param params.yaml:train.C changed"]
    lock = read_lock(root)
    for name in ("prepare", "featurize"):
        assert lock["stages"][name] == first_lock["stages"][name]
    assert lock["stages"]["train"]["params"]["params.yaml"]["train.C"] == 0.1
    assert lock["artifacts"]["models/model.json"] != first_lock["artifacts"]["models/model.json"]

    # Back to the old value: train comes from the run-cache, evaluate (uncached metrics) runs,
    # and everything is as after the first run, byte for byte.
    set_c(root, "0.1", "1.0")
    assert actions(mlvc("repro", "--json")) == {"prepare": "skipped", "featurize": "skipped",
                                                "train": "restored", "evaluate": "ran"}
    assert read_lock(root) == first_lock
    assert (root / "reports" / "metrics.json").read_bytes() == first_metrics
    assert mlvc("status", "--check").exit_code == 0

    # Deterministic: every stage run again from scratch, in a worktree of HEAD, gives the ids of the lock.
    digits.commit("digits: first run")
    r = mlvc("verify", "--json")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["reproduced"] is True
    assert {s["name"]: s["result"] for s in result["stages"]} == dict.fromkeys(STAGES, "reproduced")
    assert read_lock(root) == first_lock


def test_scikit_learn_is_no_dependency_of_mlvc():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert not any("scikit-learn" in d for d in project["dependencies"])
    assert any(d.startswith("scikit-learn") for d in project["optional-dependencies"]["test"])
