"""The stage graph: edges from deps and outs, the order, cycles, and targets."""

from __future__ import annotations

import textwrap

import pytest

from mlvc.formats.project import parse_project
from mlvc.pipeline.dag import PipelineCycleError, UnknownTargetError, order, select, upstream
from mlvc.pipeline.stage import load_pipeline

PIPELINE = """\
artifacts: [data/raw]
stages:
  evaluate:
    cmd: eval
    deps: [models, data/features/test.csv]
    metrics: [metrics.json]
  prepare:
    cmd: prep
    deps: [data/raw, prep.py]
    outs: [data/prepared]
  featurize:
    cmd: feat
    deps: [data/prepared/train.csv]
    outs: [data/features]
  train:
    foreach: [a, b]
    do:
      cmd: train ${item}
      deps: [data]
      outs: ["models/${item}.pkl"]
  lonely:
    cmd: echo
"""


@pytest.fixture
def pipeline(tmp_path):
    return load_pipeline(str(tmp_path), parse_project(PIPELINE))


def test_edges_from_deps_and_outs(pipeline):
    graph = upstream(pipeline)
    assert graph["prepare"] == set()  # data/raw was added by hand
    assert graph["featurize"] == {"prepare"}  # a dep inside an out
    assert graph["train@a"] == {"prepare", "featurize"}  # a dep that holds outs
    assert graph["evaluate"] == {"train@a", "train@b", "featurize"}


def test_order_puts_each_stage_after_its_deps(pipeline):
    assert order(pipeline, upstream(pipeline)) == ["prepare", "lonely", "featurize", "train@a", "train@b", "evaluate"]


@pytest.mark.parametrize("targets, kw, expected", [
    (["featurize"], {}, ["prepare", "featurize"]),
    (["featurize"], {"single": True}, ["featurize"]),
    (["featurize"], {"with_downstream": True}, ["featurize", "train@a", "train@b", "evaluate"]),
    (["train"], {"single": True}, ["train@a", "train@b"]),  # a group
    (["train@b"], {"single": True}, ["train@b"]),
    (["models/a.pkl"], {"single": True}, ["train@a"]),  # an output path
    (["data/features/x.csv"], {"single": True}, ["featurize"]),  # inside an output
    (["models"], {"single": True}, ["train@a", "train@b"]),  # a folder holding outputs
    (["mlvc.yaml:lonely"], {}, ["lonely"]),
])
def test_targets(pipeline, tmp_path, targets, kw, expected):
    assert select(pipeline, targets, str(tmp_path), str(tmp_path), **kw) == expected


def test_target_relative_to_cwd(pipeline, tmp_path):
    assert select(pipeline, ["a.pkl"], str(tmp_path), str(tmp_path / "models"), single=True) == ["train@a"]


def test_unknown_target(pipeline, tmp_path):
    with pytest.raises(UnknownTargetError, match="'nope' is not a stage, a group of stages or an output"):
        select(pipeline, ["nope"], str(tmp_path), str(tmp_path))
    with pytest.raises(UnknownTargetError):
        select(pipeline, ["data/raw"], str(tmp_path), str(tmp_path))  # an artifact, but no stage makes it


def test_a_cycle_names_every_stage_on_it(tmp_path):
    p = load_pipeline(str(tmp_path), parse_project(textwrap.dedent("""\
        stages:
          a: {cmd: a, deps: [z], outs: [x]}
          b: {cmd: b, deps: [x], outs: [y]}
          c: {cmd: c, deps: [y], outs: [z]}
          d: {cmd: d, deps: [x], outs: [w]}
        """)))
    with pytest.raises(PipelineCycleError) as exc:
        select(p, [], str(tmp_path))
    names = exc.value.message.split(": ", 1)[1].split(" -> ")
    assert set(names) == {"a", "b", "c"} and names[0] == names[-1]


def test_a_stage_reading_its_own_out_is_a_cycle(tmp_path):
    p = load_pipeline(str(tmp_path), parse_project("stages:\n  a: {cmd: a, deps: [x/y], outs: [x]}\n"))
    with pytest.raises(PipelineCycleError, match="a -> a"):
        select(p, [], str(tmp_path))
