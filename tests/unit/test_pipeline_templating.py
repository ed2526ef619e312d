"""Templating in mlvc.yaml: vars, ${...}, foreach and matrix, with errors that name file, line and variable."""

from __future__ import annotations

import json
import textwrap

import pytest
from hypothesis import given, strategies as st

from mlvc.errors import FileFormatError
from mlvc.formats.project import parse_project
from mlvc.pipeline.located import LStr
from mlvc.pipeline.stage import load_pipeline
from mlvc.pipeline.templating import interpolate


def load(root, text: str):
    return load_pipeline(str(root), parse_project(textwrap.dedent(text))).stages


def test_vars_values_and_params_files(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.1\n  epochs: 3\n")
    (tmp_path / "cfg.json").write_text(json.dumps({"model": {"name": "cnn"}, "other": 1}))
    (tmp_path / "more.toml").write_text("[data]\nsplit = 0.2\n")
    stages = load(tmp_path, """\
        vars:
        - cfg.json:model
        - more.toml
        - out: models
          flags: [--fast, --small]
          debug: false
        stages:
          train:
            cmd: python train.py --lr ${train.lr} -n ${ train.epochs } ${model.name} ${data.split} ${debug}
            deps: ["${flags}"]
            outs: ["${out}/${model.name}.pkl"]
            wdir: "${out}"
            params: ["train.lr"]
        """)
    s = stages["train"]
    assert s.cmd == "python train.py --lr 0.1 -n 3 cnn 0.2 false"
    assert s.wdir == "models"
    assert s.deps == ("models/--fast", "models/--small")  # a whole value takes the list as it is
    assert s.outs[0].path == "models/models/cnn.pkl"


def test_stage_vars_win_over_the_top(tmp_path):
    stages = load(tmp_path, """\
        vars: [{x: top}]
        stages:
          a:
            vars: [{x: mine}]
            cmd: echo ${x}
          b:
            cmd: echo ${x}
        """)
    assert (stages["a"].cmd, stages["b"].cmd) == ("echo mine", "echo top")


def test_foreach_list_mapping_and_var(tmp_path):
    stages = load(tmp_path, """\
        vars:
        - models: {cnn: {size: 3}, rnn: {size: 5}}
        stages:
          prep:
            foreach: [raw, clean, 7]
            do:
              cmd: prep ${item}
              outs: ["out/${item}"]
          train:
            foreach: ${models}
            do:
              cmd: train ${key} --size ${item.size}
          eval:
            foreach:
            - {name: a, n: 1}
            - {name: b, n: 2}
            do:
              cmd: eval ${item.name} ${item.n}
        """)
    assert list(stages) == ["prep@raw", "prep@clean", "prep@7", "train@cnn", "train@rnn", "eval@0", "eval@1"]
    assert stages["prep@clean"].cmd == "prep clean" and stages["prep@clean"].outs[0].path == "out/clean"
    assert stages["prep@raw"].group == "prep"
    assert stages["train@rnn"].cmd == "train rnn --size 5"
    assert stages["eval@1"].cmd == "eval b 2"


def test_a_mapping_in_cmd_becomes_options(tmp_path):
    stages = load(tmp_path, """\
        vars:
        - args:
            name: it's
            lr: 0.1
            fast: true
            slow: false
            layers: [64, 32]
            opt: {beta: 0.9, kind: adam w}
        stages:
          train:
            cmd: python train.py ${args}
            outs: ["${args.name}"]
          both:
            cmd: ["echo ${args.opt}", "${args.opt}"]
        """)
    assert stages["train"].cmd == ("python train.py --name 'it'\"'\"'s' --lr 0.1 --fast --layers 64 32 "
                                   "--opt.beta 0.9 --opt.kind 'adam w'")
    assert stages["both"].cmd == ("echo --beta 0.9 --kind 'adam w'", "--beta 0.9 --kind 'adam w'")
    with pytest.raises(FileFormatError, match="variable 'args' is a mapping: it cannot be put inside text"):
        load(tmp_path, "vars: [{args: {a: 1}}]\nstages:\n  s:\n    cmd: run\n    deps: [\"x${args}\"]\n")
    with pytest.raises(FileFormatError, match="holds a nested list or mapping"):
        load(tmp_path, "vars: [{args: {a: [[1]]}}]\nstages:\n  s:\n    cmd: run ${args}\n")


def test_mappings_of_one_name_merge(tmp_path):
    (tmp_path / "params.yaml").write_text("grp:\n  a: 1\n  c: {x: 1}\n")
    stages = load(tmp_path, """\
        vars:
        - grp: {b: 2, c: {y: 2}}
        stages:
          s:
            cmd: echo ${grp.a} ${grp.b} ${grp.c.x} ${grp.c.y}
        """)
    assert stages["s"].cmd == "echo 1 2 1 2"


def test_keys_are_interpolated_too(tmp_path):
    stages = load(tmp_path, """\
        stages:
          make:
            foreach: [a, b]
            do:
              cmd: make ${item}
              outs:
              - "${item}.csv": {cache: false}
        """)
    assert [o.path for o in stages["make@b"].outs] == ["b.csv"] and not stages["make@b"].outs[0].cache


def test_matrix(tmp_path):
    stages = load(tmp_path, """\
        stages:
          fit:
            matrix:
              model: [cnn, rnn]
              lr: [0.1, 0.01]
            cmd: fit ${item.model} ${item.lr}
            outs: ["m/${item.model}-${item.lr}"]
        """)
    assert list(stages) == ["fit@cnn-0.1", "fit@cnn-0.01", "fit@rnn-0.1", "fit@rnn-0.01"]
    assert stages["fit@rnn-0.01"].cmd == "fit rnn 0.01"


@pytest.mark.parametrize("text, line, words", [
    ("stages:\n  a:\n    cmd: echo ${nope}\n", 3, "undefined variable 'nope'"),
    ("vars: [{x: {y: 1}}]\nstages:\n  a:\n    cmd: run\n    outs:\n    - ${x.z}\n", 6, "undefined variable 'x.z'"),
    ("stages:\n  a:\n    foreach: [1]\n    do:\n      cmd: echo ${key}\n", 5, "undefined variable 'key'"),
    ("vars: [{x: [1]}]\nstages:\n  a:\n    cmd: echo ${x}!\n", 4, "variable 'x' is a list"),
    ("stages:\n  a:\n    cmd: echo ${a b}\n", 3, "is not a variable name"),
    ("vars: [missing.yaml]\nstages:\n  a:\n    cmd: run\n", 1, "vars file 'missing.yaml' does not exist"),
    ("stages:\n  a:\n    foreach: []\n    do: {cmd: run}\n", 3, "foreach must be a non-empty list"),
    ("stages:\n  a:\n    foreach: [x]\n    cmd: run\n", 4, "beside foreach only do:"),
    ("stages:\n  a:\n    foreach: [x y]\n    do: {cmd: run}\n", 2, "cannot name a stage"),
    ("stages:\n  a:\n    foreach: [x, x]\n    do: {cmd: run}\n", 2, "two items make the stage a@x"),
    ("stages:\n  a:\n    matrix: {m: 1}\n    cmd: run\n", 3, "matrix 'm' must be a non-empty list"),
    ("stages:\n  a:\n    foreach: [x]\n    matrix: {m: [1]}\n    do: {cmd: run}\n", 2, "both foreach and matrix"),
    ("stages:\n  a:\n    foreach: [x, y]\n    do:\n      cmd: run\n      outs: [o]\n", 2,
     "out 'o' is in stages 'a@x' and 'a@y'"),
])
def test_template_errors_name_file_line_and_variable(tmp_path, text, line, words):
    with pytest.raises(FileFormatError) as exc:
        load(tmp_path, text)
    assert (exc.value.path, exc.value.line) == ("mlvc.yaml", line), exc.value
    assert words in exc.value.problem, exc.value


def test_a_broken_params_yaml_is_named_by_the_stage_that_reads_it(tmp_path):
    (tmp_path / "params.yaml").write_text("a: [\n")
    assert load(tmp_path, "stages:\n  a:\n    cmd: run\n")["a"].cmd == "run"


_text = st.text(alphabet=st.characters(blacklist_characters="${}\\", blacklist_categories=("Cs",)), max_size=20)
_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_values = st.one_of(st.integers(), st.booleans(), _text, st.floats(allow_nan=False, allow_infinity=False))


@given(st.lists(st.tuples(_text, _names, _values), max_size=5), _text)
def test_interpolation_replaces_each_variable_and_keeps_the_rest(parts, tail):
    ctx = {name: value for _, name, value in parts}
    template = "".join(f"{lit}${{{name}}}" for lit, name, _ in parts) + tail
    expected = "".join(lit + (str(ctx[name]).lower() if isinstance(ctx[name], bool) else str(ctx[name]))
                       for lit, name, _ in parts) + tail
    result = interpolate("f", LStr(template, 7), ctx)
    if len(parts) == 1 and not parts[0][0] and not tail:
        assert result == ctx[parts[0][1]]  # a whole value keeps its type
    else:
        assert result == expected and result.line == 7


@given(_text, _names)
def test_an_escaped_dollar_stays_literal(lit, name):
    assert interpolate("f", LStr(f"{lit}\\${{{name}}}"), {}) == f"{lit}${{{name}}}"
