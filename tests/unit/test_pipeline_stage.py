"""Stage definitions read from mlvc.yaml: fields, paths, and the refusals made when the file is read."""

from __future__ import annotations

import textwrap

import pytest

from mlvc.errors import FileFormatError
from mlvc.formats.project import parse_project, serialize_project
from mlvc.pipeline.params import lookup, parse_params, values, is_missing
from mlvc.pipeline.stage import Out, ParamRef, Stage, load_pipeline, stage_data


def load(text: str, root="."):
    return load_pipeline(str(root), parse_project(textwrap.dedent(text)))


def error(text: str, root=".") -> FileFormatError:
    with pytest.raises(FileFormatError) as exc:
        load(text, root)
    return exc.value


def test_every_field(tmp_path):
    p = load("""\
        stages:
          featurize:
            cmd: python src/featurize.py data/raw data/features
            deps: [src/featurize.py, data/raw]
            params: [featurize.window, {config.json: [model, train.lr]}, {all.toml: }]
            outs: [data/features, {data/tmp: {cache: false}}, {logs: {persist: true}}]
            metrics: [reports/features.json, {reports/big.json: {cache: true}}]
            desc: make features
            frozen: true
            always_changed: false
        """, tmp_path)
    s = p.stages["featurize"]
    assert s == Stage(
        "featurize", "python src/featurize.py data/raw data/features", ("src/featurize.py", "data/raw"),
        (ParamRef("params.yaml", ("featurize.window",)), ParamRef("config.json", ("model", "train.lr")),
         ParamRef("all.toml", ())),
        (Out("data/features"), Out("data/tmp", cache=False), Out("logs", persist=True),
         Out("reports/features.json", cache=False, metric=True), Out("reports/big.json", cache=True, metric=True)),
        "", "make features", True, False)
    assert s.cached_outs == ("data/features", "logs", "reports/big.json")
    assert s.uncached_outs == ("data/tmp", "reports/features.json")
    assert s.line == 2


def test_cmd_list_and_wdir_paths_are_repo_relative(tmp_path):
    s = load("""\
        stages:
          train:
            cmd: [python train.py, echo done]
            wdir: src
            deps: [train.py, ../data]
            params: [lr]
            outs: [../model.pkl]
        """, tmp_path).stages["train"]
    assert s.commands == ("python train.py", "echo done")
    assert s.recorded_cmd == ["python train.py", "echo done"]
    assert s.wdir == "src"
    assert s.deps == ("src/train.py", "data")
    assert s.params == (ParamRef("src/params.yaml", ("lr",)),)
    assert s.outs == (Out("model.pkl"),)


@pytest.mark.parametrize("body, line, words", [
    ("  s:\n    deps: [a]\n", 2, "stage 's': needs cmd"),
    ("  s:\n    cmd: run\n    outz: [a]\n", 4, "unknown field 'outz'"),
    ("  s:\n    cmd: run\n    frozen: maybe\n", 4, "frozen must be true or false"),
    ("  s:\n    cmd: run\n    deps: {a: 1}\n", 4, "dep must be a string"),
    ("  s:\n    cmd: {a: 1}\n", 3, "cmd must be a string"),
    ("  s:\n    cmd: []\n", 3, "cmd is an empty list"),
    ("  s:\n    cmd: run\n    outs:\n    - /abs\n", 5, "must be a relative path"),
    ("  s:\n    cmd: run\n    outs: [../../x]\n", 4, "outside the repository"),
    ("  s:\n    cmd: run\n    outs: [.mlvc/x]\n", 4, "out '.mlvc/x' is inside .mlvc/"),
    ("  s:\n    cmd: run\n    deps: [.git/config]\n", 4, "dep '.git/config' is inside .git/"),
    ("  s:\n    cmd: run\n    outs: [mlvc.lock]\n", 4, "a file git must track"),
    ("  s:\n    cmd: run\n    outs:\n    - a: {cache: no, colour: red}\n", 5, "unknown flag 'colour'"),
    ("  s:\n    cmd: run\n    wdir: ../up\n", 4, "outside the repository"),
    ("  bad.name:\n    cmd: run\n", 2, "stage name 'bad.name' is not a plain identifier"),
    ("  a@b:\n    cmd: run\n", 2, "not a plain identifier"),
    ("  s:\n    cmd: run\n    outs: [a]\n  t:\n    cmd: run\n    outs: [a]\n", 5, "out 'a' is in stages 's' and 't'"),
    ("  s:\n    cmd: run\n    outs: [a, a]\n", 2, "out 'a' is twice"),
    ("  s:\n    cmd: run\n    outs: [a]\n  t:\n    cmd: run\n    outs: [a/b]\n", 5,
     "out 'a/b' of stage 't' is inside out 'a' of stage 's'"),
    ("  s:\n    cmd: run\n    outs: [a/b/c]\n  t:\n    cmd: run\n    outs: [a/b-x, a/b]\n", 2,
     "out 'a/b/c' of stage 's' is inside out 'a/b' of stage 't'"),
])
def test_schema_errors_name_the_line_and_field(tmp_path, body, line, words):
    exc = error("stages:\n" + body, tmp_path)
    assert exc.path == "mlvc.yaml" and exc.line == line, exc
    assert words in exc.problem, exc


def test_an_out_tracked_by_add_is_refused(tmp_path):
    exc = error("artifacts: [data]\nstages:\n  s:\n    cmd: run\n    outs: [data]\n", tmp_path)
    assert "out 'data' is also tracked by `mlvc add`" in exc.problem and exc.line == 3
    exc = error("artifacts: [data]\nstages:\n  s:\n    cmd: run\n    outs: [data/x]\n", tmp_path)
    assert "out 'data/x' of stage 's' is inside the artifact 'data'" in exc.problem
    exc = error("artifacts: [data/x]\nstages:\n  s:\n    cmd: run\n    outs: [data]\n", tmp_path)
    assert "artifact 'data/x' is inside out 'data' of stage 's'" in exc.problem


def test_an_artifact_can_be_a_dep(tmp_path):
    p = load("artifacts: [data]\nstages:\n  s:\n    cmd: run\n    deps: [data/x]\n    outs: [y]\n", tmp_path)
    assert p.stages["s"].deps == ("data/x",)


def test_stage_data_round_trips(tmp_path):
    text = textwrap.dedent("""\
        stages:
          train:
            cmd: [python train.py, echo done]
            wdir: src
            deps: [train.py, ../data]
            params: [lr, {cfg.json: [a]}, {all.toml: }]
            outs: [../model.pkl, {tmp: {cache: false, persist: true}}]
            metrics: [m.json, {big.json: {cache: true}}]
            desc: train it
            always_changed: true
        """)
    first = load(text, tmp_path).stages["train"]
    project = parse_project("")
    project.stages["train"] = stage_data(first)
    again = load_pipeline(str(tmp_path), parse_project(serialize_project(project))).stages["train"]
    assert again == first


@pytest.mark.parametrize("name, text", [
    ("p.yaml", "train:\n  lr: 0.1\n  layers: [1, 2]\nseed: 3\n"),
    ("p.json", '{"train": {"lr": 0.1, "layers": [1, 2]}, "seed": 3}'),
    ("p.toml", "seed = 3\n[train]\nlr = 0.1\nlayers = [1, 2]\n"),
])
def test_params_files_of_three_kinds(name, text):
    data = parse_params(text, name)
    assert values(data, ("train.lr", "train", "seed")) == {
        "train.lr": 0.1, "train": {"lr": 0.1, "layers": [1, 2]}, "seed": 3}
    assert values(data, ()) == data
    assert is_missing(lookup(data, "train.nope"))
    assert values(data, ("nope",)) == {}


@pytest.mark.parametrize("name, text, words", [
    ("p.yaml", "a: [1\n", "invalid YAML"),
    ("p.json", '{"a": ', "invalid JSON"),
    ("p.toml", "a = \n", "invalid TOML"),
    ("p.yaml", "- 1\n", "must hold a mapping"),
    ("p.ini", "a=1", "not a params file"),
])
def test_bad_params_files(name, text, words):
    with pytest.raises(FileFormatError, match=words):
        parse_params(text, name)


def test_a_key_holding_dots_is_found():
    assert lookup({"a.b": 1}, "a.b") == 1
    assert lookup({"a": {"b.c": 2}}, "a.b.c") == 2


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

import yaml  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(
    ["run", "a", "a/b", "../x", "/abs", "", "${x}", "${item}", "${nope}", "p.json", "p.yaml:k", ".mlvc/x", "a b",
     "mlvc.lock", "x@y", "\\${x}", "${x.y}", "${l[0]}"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["cmd", "deps", "outs", "params", "metrics", "wdir", "cache", "persist",
                                     "frozen", "foreach", "do", "matrix", "vars", "x", "a", "p.json"]), inner,
                    max_size=4)), max_leaves=12)
_bodies = st.dictionaries(st.sampled_from(["cmd", "deps", "outs", "params", "metrics", "wdir", "desc", "frozen",
                                           "always_changed", "foreach", "do", "matrix", "vars"]), _values, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["s", "t", "bad.name", "u@v"]), _bodies, max_size=3),
       st.one_of(st.none(), st.lists(st.one_of(st.dictionaries(st.sampled_from(["x", "l"]), _values, max_size=2),
                                               st.sampled_from(["p.json", "nope.yaml"])), max_size=2)))
def test_any_stages_give_stages_or_a_format_error(tmp_path, stages, vars_):
    (tmp_path / "p.json").write_text('{"k": 1, "x": {"y": "z"}}')
    doc = {"stages": stages}
    if vars_ is not None:
        doc["vars"] = vars_
    text = yaml.safe_dump(doc)
    try:
        pipeline = load_pipeline(str(tmp_path), parse_project(text))
    except FileFormatError as exc:
        assert exc.path == "mlvc.yaml"
        return
    for s in pipeline.stages.values():
        assert s.commands and all(isinstance(c, str) for c in s.commands)
        assert all(not p.startswith(("/", "../")) for p in s.deps + tuple(o.path for o in s.outs))
