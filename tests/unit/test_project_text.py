"""mlvc.formats.project ``serialize_project(project, over=old_text)`` and
mlvc.formats.yamltext ``update_yaml_blocks``: people's text of mlvc.yaml kept where mlvc
changed no entry, and never a file that reads as anything but the new project."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlvc.formats.project import Project, parse_project, serialize_project
from mlvc.formats.yamltext import update_yaml_blocks

OLD = """\
# my project
schema: 2

# the data
artifacts:
# raw inputs
- data/raw  # from the lab
- model.pkl

stages:
  # trains it
  train:
    cmd: python train.py   # fast
    deps: [data/raw]
    outs: [model2.pkl]
  eval:
    cmd: python eval.py
# end
"""


def changed(text: str, change) -> str:
    project = parse_project(text)
    change(project)
    return serialize_project(project, over=project.text)


def test_a_file_mlvc_wrote_is_written_exactly_as_a_new_one():
    p = Project(["b", "a"], {"s": {"cmd": "x"}})
    assert serialize_project(p, over=serialize_project(Project(["b"]))) == serialize_project(p)
    assert serialize_project(p, over="") == serialize_project(p)  # an empty file
    assert serialize_project(p, over=None) == "schema: 2\nartifacts:\n- a\n- b\nstages:\n  s:\n    cmd: x\n"


def test_nothing_changed_keeps_the_text_as_it_is():
    assert changed(OLD, lambda p: None) == OLD
    assert changed(OLD, lambda p: p.artifacts.append("model.pkl") if "model.pkl" not in p.artifacts else None) == OLD


def test_a_new_artifact_goes_where_it_sorts():
    assert changed(OLD, lambda p: p.artifacts.append("data/zz")) == OLD.replace(
        "- data/raw  # from the lab\n", "- data/raw  # from the lab\n- data/zz\n")
    assert changed(OLD, lambda p: p.artifacts.append("a")) == OLD.replace("artifacts:\n", "artifacts:\n- a\n")


def test_a_removed_artifact_takes_its_line_and_leaves_the_comment_above_it():
    assert changed(OLD, lambda p: p.artifacts.remove("data/raw")) == OLD.replace("- data/raw  # from the lab\n", "")
    both = changed(OLD, lambda p: p.artifacts.clear())
    assert both == OLD.replace("- data/raw  # from the lab\n- model.pkl\n", "")
    assert parse_project(both).artifacts == []


def test_quoted_and_commented_paths_are_the_same_entries():
    old = "schema: 2\nartifacts:\n- 'a'  # quoted\n- \"b\"\n- c # plain\n"
    assert changed(old, lambda p: p.artifacts.remove("a")) == "schema: 2\nartifacts:\n- \"b\"\n- c # plain\n"
    assert changed(old, lambda p: p.artifacts.remove("c")) == "schema: 2\nartifacts:\n- 'a'  # quoted\n- \"b\"\n"
    old = "# keep\nschema: 2\nartifacts:\n- ana's.csv  # Ana's \"best\"\n- b\n"
    assert changed(old, lambda p: p.artifacts.remove("ana's.csv")) == "# keep\nschema: 2\nartifacts:\n- b\n"


def test_list_item_keys():
    from mlvc.formats.yamltext import _item_key

    assert [_item_key(x) for x in ["- a  # x\n", "  - a\t# x\n", "- 'a' # q\n", '- "a"\n']] == ["- a"] * 4
    assert [_item_key(x) for x in ["- a#b\n", "- 'a#b'\n", "- 'it''s'\n"]] == ["- a#b", "- a#b", "- 'it''s'"]


def test_a_changed_stage_is_replaced_under_its_comment_and_a_new_one_appended():
    def change(p):
        p.stages["train"] = {"cmd": "python train.py --slow", "outs": ["model2.pkl"]}
        p.stages["report"] = {"cmd": "x"}

    assert changed(OLD, change) == OLD.replace(
        "    cmd: python train.py   # fast\n    deps: [data/raw]\n    outs: [model2.pkl]\n",
        "    cmd: python train.py --slow\n    outs:\n    - model2.pkl\n").replace(
        "# end\n", "  report:\n    cmd: x\n# end\n")


def test_a_stage_or_vars_changed_in_place_is_written():
    def change(p):
        p.stages["eval"]["cmd"] = "python eval.py --all"
        p.vars.append("more.yaml")

    old = OLD.replace("\nstages:", "\nvars:\n- params.yaml  # lr\n\nstages:")
    assert changed(old, change) == old.replace("python eval.py\n", "python eval.py --all\n").replace(
        "# lr\n", "# lr\n- more.yaml\n")


def test_the_first_stage_and_siblings_indented_as_people_indent_them():
    old = "schema: 2  # v2\nartifacts:\n    - a\n"
    assert changed(old, lambda p: p.artifacts.append("b")) == "schema: 2  # v2\nartifacts:\n    - a\n    - b\n"
    assert changed(old, lambda p: p.stages.update(s={"cmd": "x"})) == old + "stages:\n  s:\n    cmd: x\n"
    deep = "stages:\n    a:\n        cmd: 1  # one\n"
    assert changed(deep, lambda p: p.stages.update(b={"cmd": 2})) == "schema: 2\n" + deep + "    b:\n      cmd: 2\n"


def test_schema_1_and_no_schema_are_written_as_schema_2():
    assert changed("# old\nschema: 1  # first\nartifacts: [a]\n", lambda p: p.artifacts.append("b")) == \
        "# old\nschema: 2\nartifacts:\n- a\n- b\n"  # a flow list mlvc changes is rewritten, the rest kept
    assert changed("# none\nartifacts:\n- a\n", lambda p: p.artifacts.append("b")) == \
        "schema: 2\n# none\nartifacts:\n- a\n- b\n"
    assert changed("---\n# doc\nschema: 1\nartifacts: []\n", lambda p: None) == "---\n# doc\nschema: 2\nartifacts: []\n"


def test_crlf_line_ends_kept():
    old = "# win\r\nschema: 2\r\nartifacts:\r\n- a\r\n"
    assert changed(old, lambda p: p.artifacts.append("b")) == "# win\r\nschema: 2\r\nartifacts:\r\n- a\r\n- b\r\n"


@pytest.mark.parametrize("old", [
    "# flow\n{schema: 2, artifacts: [a]}\n",  # no block to split
    '# quoted\nschema: 2\n"artifacts":\n- a  # one\n',  # merged, it would list artifacts twice
    "%YAML 1.1\n---\nschema: 2\nartifacts: [a]\n",  # a directive before the first key
])
def test_a_layout_that_does_not_merge_back_is_written_afresh(old):
    new = Project(["a", "b"])
    assert serialize_project(new, over=old) == serialize_project(new) == "schema: 2\nartifacts:\n- a\n- b\n"


def test_update_yaml_blocks_none_when_the_split_cannot_read_the_text():
    assert update_yaml_blocks("schema: 2\n", "  indented: 1\n", "schema: 2\nartifacts: []\n") is None


# ------------------------------------------------------------------ never a wrong file

stage = st.fixed_dictionaries({"cmd": st.sampled_from(["x", "python t.py", "a && b"])},
                              optional={"deps": st.lists(st.sampled_from(["a", "p.py"]), max_size=2, unique=True),
                                        "outs": st.builds(lambda: ["out"])})
projects = st.builds(
    Project,
    st.lists(st.sampled_from(["a", "b/c", "d.csv", "e", "f g"]), unique=True, max_size=5),
    st.dictionaries(st.sampled_from(["prep", "train", "eval"]), stage, max_size=3),
    st.sampled_from([[], ["params.yaml"]]),
)


@st.composite
def commented(draw, project: Project) -> str:
    """``project`` as mlvc writes it, with comments, blank lines and comments after lines."""
    out = []
    for line in serialize_project(project).splitlines(keepends=True):
        indent = len(line) - len(line.lstrip(" "))
        if draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(["\n", " " * indent + "# note\n", "# top note\n"])))
        if draw(st.booleans()) and not line.rstrip().endswith(":"):
            line = line.rstrip("\n") + "  # why\n"
        out.append(line)
    if draw(st.booleans()):
        out.append("# the end\n")
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(st.data(), projects, projects)
def test_the_result_always_reads_as_the_new_project(data, old, new):
    text = data.draw(commented(old))
    assert serialize_project(parse_project(text)) == serialize_project(old)  # the comments change nothing
    result = serialize_project(new, over=text)
    back = parse_project(result)
    assert sorted(back.artifacts) == sorted(new.artifacts) and back.vars == new.vars
    assert list(back.stages.items()) == list(new.stages.items())
    assert serialize_project(back) == serialize_project(new)
    if serialize_project(new) == serialize_project(old):
        assert result == text  # nothing changed: every comment kept


yaml_lines = st.lists(st.sampled_from([
    "schema: 2\n", "artifacts:\n", "artifacts: []\n", "artifacts: [a]\n", "- a\n", "  - b  # c\n", "- 'q'\n",
    "stages:\n", "stages: {}\n", "  s:\n", "    cmd: x\n", "    deps: [a]\n", "    - d\n", "# note\n", "\n",
    "---\n", "vars:\n", "- p.yaml\n", "{schema: 2}\n", "  # inner\n", "x: 1\n", ":\n", "- \n", "-\n",
]), max_size=12)


@settings(max_examples=300, deadline=None)
@given(yaml_lines, projects, projects)
def test_any_text_gives_text_or_none_and_never_an_error(lines, old, new):
    text = "".join(lines)
    result = update_yaml_blocks(serialize_project(old), text, serialize_project(new))
    assert result is None or isinstance(result, str)
    back = serialize_project(new, over=text)  # whatever the old text, the new file reads as the new project
    assert serialize_project(parse_project(back)) == serialize_project(new)
