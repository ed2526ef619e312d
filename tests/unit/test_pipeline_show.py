"""The graph drawings (dagview) and the reading and diffing of params and metrics (values)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from mlvc.errors import FileFormatError
from mlvc.pipeline.dagview import Graph, Node, build_graph
from mlvc.pipeline.stage import Out, Pipeline, Stage
from mlvc.pipeline.values import ADDED, CHANGED, REMOVED, UNCHANGED, diff_values, difference, flatten, parse_metrics


def stage(name, deps=(), outs=()):
    return Stage(name, "true", tuple(deps), (), tuple(Out(o) for o in outs))


DIAMOND = Pipeline({s.name: s for s in [
    stage("train", ["feat.txt", "split.txt"], ["model.pkl"]),
    stage("prepare", ["raw.txt"], ["prep"]),
    stage("featurize", ["prep/a.txt"], ["feat.txt"]),
    stage("split", ["prep"], ["split.txt"]),
]})


def graph(edges, names=None):
    names = names or list(dict.fromkeys(n for e in edges for n in e))
    return Graph(tuple(Node(n, (), ()) for n in names), tuple(edges))


def test_the_graph_of_a_diamond():
    g = build_graph(DIAMOND, "/nowhere")
    assert [n.name for n in g.nodes] == ["prepare", "featurize", "split", "train"]
    assert g.edges == (("prepare", "featurize"), ("prepare", "split"), ("featurize", "train"), ("split", "train"))
    assert g.nodes[0] == Node("prepare", ("raw.txt",), ("prep",))


def test_a_target_keeps_it_and_its_ancestors():
    g = build_graph(DIAMOND, "/nowhere", "split")
    assert [n.name for n in g.nodes] == ["prepare", "split"]
    assert g.edges == (("prepare", "split"),)


def test_diamond_as_text():
    assert build_graph(DIAMOND, "/nowhere").to_text() == (
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


def test_diamond_as_mermaid():
    assert build_graph(DIAMOND, "/nowhere").to_mermaid() == (
        "flowchart TD\n"
        '    n1["prepare"]\n'
        '    n2["featurize"]\n'
        '    n3["split"]\n'
        '    n4["train"]\n'
        "    n1 --> n2\n"
        "    n1 --> n3\n"
        "    n2 --> n4\n"
        "    n3 --> n4\n")


def test_diamond_as_dot():
    assert build_graph(DIAMOND, "/nowhere").to_dot() == (
        "digraph pipeline {\n"
        "    node [shape=box];\n"
        '    "prepare";\n'
        '    "featurize";\n'
        '    "split";\n'
        '    "train";\n'
        '    "prepare" -> "featurize";\n'
        '    "prepare" -> "split";\n'
        '    "featurize" -> "train";\n'
        '    "split" -> "train";\n'
        "}\n")


def test_diamond_as_json():
    assert build_graph(DIAMOND, "/nowhere").to_json() == {
        "nodes": [{"name": "prepare", "deps": ["raw.txt"], "outs": ["prep"]},
                  {"name": "featurize", "deps": ["prep/a.txt"], "outs": ["feat.txt"]},
                  {"name": "split", "deps": ["prep"], "outs": ["split.txt"]},
                  {"name": "train", "deps": ["feat.txt", "split.txt"], "outs": ["model.pkl"]}],
        "edges": [{"from": "prepare", "to": "featurize"}, {"from": "prepare", "to": "split"},
                  {"from": "featurize", "to": "train"}, {"from": "split", "to": "train"}]}


def parse_mermaid(text):
    lines = text.splitlines()
    assert lines[0] == "flowchart TD"
    labels, edges = {}, []
    for line in lines[1:]:
        if m := re.fullmatch(r'    (\w+)\["([^"]*)"\]', line):
            assert m.group(1) not in labels
            labels[m.group(1)] = m.group(2).replace("#quot;", '"')
        elif m := re.fullmatch(r"    (\w+) --> (\w+)", line):
            assert m.group(1) in labels and m.group(2) in labels, line  # declared before use
            edges.append((labels[m.group(1)], labels[m.group(2)]))
        else:
            raise AssertionError(f"not a node or an edge: {line!r}")
    return list(labels.values()), edges


QUOTED = r'"((?:[^"\\]|\\.)*)"'


def parse_dot(text):
    lines = text.splitlines()
    assert lines[0] == "digraph pipeline {" and lines[-1] == "}"
    nodes, edges = [], []
    for line in lines[1:-1]:
        if line == "    node [shape=box];":
            continue
        unq = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
        if m := re.fullmatch(rf"    {QUOTED};", line):
            nodes.append(unq(m.group(1)))
        elif m := re.fullmatch(rf"    {QUOTED} -> {QUOTED};", line):
            a, b = unq(m.group(1)), unq(m.group(2))
            assert a in nodes and b in nodes, line
            edges.append((a, b))
        else:
            raise AssertionError(f"not a node or an edge: {line!r}")
    return nodes, edges


names = st.text(st.sampled_from('ab_-@"\\.x1'), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(names, min_size=1, max_size=8, unique=True), st.data())
def test_mermaid_and_dot_name_declared_nodes_in_every_edge(nodes, data):
    pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1:]]
    edges = data.draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    g = graph(edges, nodes)
    assert parse_mermaid(g.to_mermaid()) == (nodes, edges)
    assert parse_dot(g.to_dot()) == (nodes, edges)


def boxes(text):
    """The stage names in the drawing, row by row (the line of each box's name)."""
    found = {}
    for i, line in enumerate(text.splitlines()):
        for m in re.finditer(r"\| ([\w@.-]+) +\|", line):
            found[m.group(1)] = (i, m.start() + len(m.group(0)) // 2, m.start(), m.end())
    return found


TEN = [("load", "clean"), ("clean", "split"), ("split", "feat_a"), ("split", "feat_b"), ("split", "feat_c"),
       ("feat_a", "train"), ("feat_b", "train"), ("feat_c", "tune"), ("train", "evaluate"), ("tune", "evaluate"),
       ("split", "evaluate"), ("evaluate", "report"), ("load", "report")]


def test_ten_stages_in_layers():
    text = graph(TEN).to_text()
    at = boxes(text)
    assert len(at) == 10
    rows = sorted({r for r, *_ in at.values()})
    assert len(rows) == 7  # the longest path: load clean split feat_c tune evaluate report
    for a, b in TEN:  # every stage sits in a row above the stages that read its outs
        assert at[a][0] < at[b][0]
    assert at["feat_a"][0] == at["feat_b"][0] == at["feat_c"][0]
    assert all(set(line) <= set(" +-|v") or "| " in line for line in text.splitlines())


def test_text_drawing_follows_every_edge():
    """Walking the lines from a box's bottom, down through '+' joins and across '-', reaches
    exactly the boxes it has edges to: nothing more (no two edges share a line), nothing less."""
    text = graph(TEN).to_text()
    grid = text.splitlines()
    width = max(map(len, grid))
    grid = [line.ljust(width) for line in grid]
    at = boxes(text)
    top_of = {}
    for name, (r, _, left, right) in at.items():
        for c in range(left, right):
            top_of[(r - 1, c)] = name  # the top of a box: below its arrows

    def reached(name):
        r, c = at[name][:2]
        todo, seen, found = [(r + 2, c, 1, 0)], set(), set()  # (row, column, down, sideways)
        while todo:
            y, x, dy, dx = todo.pop()
            if (y, x, dy, dx) in seen or not (0 <= y < len(grid) and 0 <= x < width):
                continue
            seen.add((y, x, dy, dx))
            ch = grid[y][x]
            if ch == "v" and dy:
                found.add(top_of[(y + 1, x)])
            elif ch == "|":  # down it goes down; across it is crossed
                todo.append((y + dy, x + dx, dy, dx))
            elif ch == "-" and dx:
                todo.append((y, x + dx, 0, dx))
            elif ch == "+":  # a join: on down, or along the track either way
                todo += [(y + 1, x, 1, 0), (y, x - 1, 0, -1), (y, x + 1, 0, 1)]
        return found

    for name in at:
        assert reached(name) == {b for a, b in TEN if a == name}, name


def follows_every_edge(edges, names):
    text = graph(edges, names).to_text()
    grid = text.splitlines()
    width = max(map(len, grid))
    grid = [line.ljust(width) for line in grid]
    at = boxes(text)
    assert set(at) == set(names)
    top_of = {(r - 1, c): n for n, (r, _, left, right) in at.items() for c in range(left, right)}

    def reached(name):
        r, c = at[name][:2]
        todo, seen, found = [(r + 2, c, 1, 0)], set(), set()  # (row, column, down, sideways)
        while todo:
            y, x, dy, dx = todo.pop()
            if (y, x, dy, dx) in seen or not (0 <= y < len(grid) and 0 <= x < width):
                continue
            seen.add((y, x, dy, dx))
            ch = grid[y][x]
            if ch == "v" and dy:
                found.add(top_of[(y + 1, x)])
            elif ch == "|":  # down it goes down; across it is crossed
                todo.append((y + dy, x + dx, dy, dx))
            elif ch == "-" and dx:
                todo.append((y, x + dx, 0, dx))
            elif ch == "+":  # a join: on down, or along the track either way
                todo += [(y + 1, x, 1, 0), (y, x - 1, 0, -1), (y, x + 1, 0, 1)]
        return found

    for name in names:
        found, wanted = reached(name), {b for a, b in edges if a == name}
        assert found == wanted, f"{name} reaches {sorted(found)}, not {sorted(wanted)}:\n{text}"


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 10), st.data())
def test_text_drawing_of_any_graph_follows_every_edge(n, data):
    names = [f"s{i}" for i in range(n)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    follows_every_edge(data.draw(st.lists(st.sampled_from(pairs), unique=True)), names)


def test_empty_graph():
    g = graph([], [])
    assert g.to_text() == "" and g.to_mermaid() == "flowchart TD\n"


# ------------------------------------------------------------------ values


def test_flatten_nested_keys():
    assert dict(flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}, "f": None})) == {
        "a.b": 1, "a.c.d": [1, 2], "e": {}, "f": None}


@pytest.mark.parametrize("name, text", [
    ("m.json", '{"acc": 0.9, "loss": {"train": 0.1}}'),
    ("m.yaml", "acc: 0.9\nloss:\n  train: 0.1\n"),
    ("m.toml", "acc = 0.9\n[loss]\ntrain = 0.1\n"),
    ("m.txt", "acc: 0.9\nloss: {train: 0.1}\n"),
])
def test_metrics_files_of_each_kind(name, text):
    assert parse_metrics(text, name) == {"acc": 0.9, "loss.train": 0.1}


@pytest.mark.parametrize("name, text, line", [
    ("m.json", '{"acc": 0.9,\n "loss": }', 2),
    ("m.yaml", "acc: 0.9\nloss: [1\n", 3),
    ("m.toml", "acc = 0.9\nloss = \n", 2),
])
def test_malformed_metrics_name_file_and_line(name, text, line):
    with pytest.raises(FileFormatError) as e:
        parse_metrics(text, name, f"HEAD:{name}")
    assert e.value.path == f"HEAD:{name}" and e.value.line == line


def test_metrics_file_must_hold_a_mapping():
    with pytest.raises(FileFormatError, match="mapping"):
        parse_metrics("[1, 2]", "m.json")


def test_difference_of_numbers_as_written():
    assert difference(0.88, 0.91) == 0.03
    assert difference(3, 5) == 2 and isinstance(difference(3, 5), int)
    assert difference(1, 0.5) == -0.5
    assert difference(True, 2) is None and difference("a", 1) is None


def test_diff_values():
    old = {"p.yaml": {"a": 1, "b": 2, "c": 1}, "gone.yaml": {"x": 1}, "new.yaml": None}
    new = {"p.yaml": {"a": 1, "b": 3, "c": 1.0, "d": 4}, "gone.yaml": None, "new.yaml": {"y": "s"}}
    changes = diff_values(old, new)
    assert [(c.file, c.key, c.status, c.old, c.new, c.change) for c in changes] == [
        ("gone.yaml", "x", REMOVED, 1, None, None),
        ("new.yaml", "y", ADDED, None, "s", None),
        ("p.yaml", "b", CHANGED, 2, 3, 1),
        ("p.yaml", "c", CHANGED, 1, 1.0, 0.0),  # 1 and 1.0 are different values in a params file
        ("p.yaml", "d", ADDED, None, 4, None),
    ]
    assert [c.key for c in diff_values(old, new, with_unchanged=True) if c.status == UNCHANGED] == ["a"]


def test_json_of_a_graph_is_plain_data():
    json.dumps(build_graph(DIAMOND, "/nowhere").to_json())


def test_two_tracks_with_only_lines_between_them_are_not_one_row():
    """Found by the walk above: two tracks in one row, three '|'s apart, read as one line."""
    x = {0: "s0x", 1: "s1x", 2: "s2", 3: "s3xxx", 4: "s4xxxx", 5: "s5xxx", 6: "s6xxxxx", 7: "s7xx", 8: "s8xxx",
         9: "s9xxx", 10: "s10xxxxx", 11: "s11xxx"}
    pairs = [(0, 6), (1, 2), (1, 3), (1, 6), (1, 7), (1, 8), (1, 10), (2, 5), (2, 6), (2, 7), (2, 8), (2, 9), (2, 10),
             (2, 11), (3, 4), (3, 6), (3, 8), (3, 9), (4, 5), (4, 6), (4, 7), (4, 8), (4, 9), (5, 6), (5, 7), (5, 10),
             (5, 11), (6, 7), (6, 8), (6, 9), (6, 10), (7, 8), (7, 9), (7, 10), (8, 9), (8, 10), (8, 11), (9, 10)]
    follows_every_edge([(x[a], x[b]) for a, b in pairs], list(x.values()))
