"""``mlvc dag``: the graph of stages (from ``dag``) as data, and drawn as text, Mermaid and
Graphviz dot. Plain strings: the CLI only prints them.

The text drawing is layered: a stage's layer is one more than the deepest stage
it depends on (in the order ``dag.order`` gives), each layer is a row of boxes
(ordered by barycenters to cut crossings), and an edge that skips layers passes
through them as a ``|`` of its own. Between two rows every stage with edges down
has its own horizontal track, and every edge its own ``v`` into its box, so lines
branch (from one stage) and cross but never merge: ``+`` joins a track, a bare
``|`` across a track crosses it. No line can be read as part of another edge
(tests/unit/test_pipeline_show.py walks the drawing to check it).
"""

from __future__ import annotations

import graphlib
from dataclasses import dataclass

from mlvc.formats.project import read_project
from mlvc.pipeline.dag import order, select, upstream
from mlvc.pipeline.stage import Pipeline, load_pipeline
from mlvc.repo import Repo


@dataclass(frozen=True)
class Node:
    name: str
    deps: tuple[str, ...]
    outs: tuple[str, ...]


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]  # in the order of the graph (a stage after those it depends on)
    edges: tuple[tuple[str, str], ...]  # (from, to): ``to`` reads an out of ``from``

    def to_json(self) -> dict:
        return {"nodes": [{"name": n.name, "deps": list(n.deps), "outs": list(n.outs)} for n in self.nodes],
                "edges": [{"from": a, "to": b} for a, b in self.edges]}

    def to_text(self) -> str:
        return to_text(self)

    def to_mermaid(self) -> str:
        return to_mermaid(self)

    def to_dot(self) -> str:
        return to_dot(self)


def build_graph(pipeline: Pipeline, root: str, target: str | None = None, cwd: str | None = None) -> Graph:
    """Every stage, or ``target`` (a stage, group or output) and the stages it depends on."""
    ups = upstream(pipeline)
    names = select(pipeline, [target], root, cwd) if target else order(pipeline, ups)
    chosen = set(names)
    nodes = tuple(Node(n, pipeline.stages[n].deps, tuple(o.path for o in pipeline.stages[n].outs)) for n in names)
    position = {n: i for i, n in enumerate(names)}
    edges = tuple(sorted(((u, n) for n in names for u in ups[n] if u in chosen),
                         key=lambda e: (position[e[1]], position[e[0]])))
    return Graph(nodes, edges)


# ------------------------------------------------------------------ Mermaid, dot


def _mermaid_label(name: str) -> str:
    return name.replace('"', "#quot;")


def to_mermaid(graph: Graph) -> str:
    ids = {n.name: f"n{i}" for i, n in enumerate(graph.nodes, 1)}
    lines = ["flowchart TD"]
    lines += [f'    {ids[n.name]}["{_mermaid_label(n.name)}"]' for n in graph.nodes]
    lines += [f"    {ids[a]} --> {ids[b]}" for a, b in graph.edges]
    return "\n".join(lines) + "\n"


def _dot_id(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: Graph) -> str:
    lines = ["digraph pipeline {", "    node [shape=box];"]
    lines += [f"    {_dot_id(n.name)};" for n in graph.nodes]
    lines += [f"    {_dot_id(a)} -> {_dot_id(b)};" for a, b in graph.edges]
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the text drawing

GAP = 2  # columns between two boxes of a row


@dataclass
class _Item:
    key: str  # a stage's name, or "|EDGE#LAYER" for an edge passing through a layer
    width: int
    label: str | None  # None: a pass-through line
    left: int = 0

    @property
    def center(self) -> int:
        return self.left + self.width // 2


def _layers(graph: Graph) -> tuple[list[list[str]], dict[str, list[str]]]:
    """Rows of keys (stages, and pass-throughs for edges that skip rows); each key -> the keys
    it has edges to in the row below."""
    ups: dict[str, list[str]] = {n.name: [] for n in graph.nodes}
    for a, b in graph.edges:
        ups[b].append(a)
    depth: dict[str, int] = {}
    for n in graph.nodes:  # graph order: every stage after those it depends on
        depth[n.name] = 1 + max((depth[u] for u in ups[n.name]), default=-1)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for n in graph.nodes:
        rows[depth[n.name]].append(n.name)
    down: dict[str, list[str]] = {k: [] for row in rows for k in row}
    for i, (a, b) in enumerate(graph.edges):
        prev = a
        for d in range(depth[a] + 1, depth[b]):
            key = f"|{i}#{d}"  # no stage's name starts with '|'
            rows[d].append(key)
            down[key] = []
            down[prev].append(key)
            prev = key
        down[prev].append(b)
    return rows, down


def _order_rows(rows: list[list[str]], down: dict[str, list[str]]) -> None:
    """Fewer crossings: each row sorted by the mean position of its neighbours (barycenters),
    a few sweeps down and up; ties keep the order they had."""
    above: dict[str, list[str]] = {k: [] for k in down}
    for a, targets in down.items():
        for b in targets:
            above[b].append(a)
    for _ in range(2):
        for i in range(1, len(rows)):
            pos = {k: j for j, k in enumerate(rows[i - 1])}
            rows[i].sort(key=lambda k: sum(pos[a] for a in above[k]) / len(above[k]) if above[k] else len(pos))
        for i in range(len(rows) - 2, -1, -1):
            pos = {k: j for j, k in enumerate(rows[i + 1])}
            cur = {k: j for j, k in enumerate(rows[i])}
            rows[i].sort(key=lambda k: sum(pos[b] for b in down[k]) / len(down[k]) if down[k] else cur[k])


def _place(rows: list[list[_Item]], above: dict[str, list[str]]) -> None:
    """Left columns: each item as near as it fits below the middle of what points to it
    (then the whole drawing is moved right so that it starts at column 0)."""
    centers: dict[str, int] = {}
    for row in rows:
        edge = None
        for item in row:
            wanted = edge if edge is not None else 0
            if above[item.key]:
                mid = sum(centers[a] for a in above[item.key]) // len(above[item.key])
                wanted = mid - item.width // 2 if edge is None else max(edge, mid - item.width // 2)
            item.left = wanted
            edge = item.left + item.width + GAP
            centers[item.key] = item.center
    shift = min(i.left for row in rows for i in row)
    for row in rows:
        for item in row:
            item.left -= shift


def _entries(upper: list[_Item], lower: list[_Item], down: dict[str, list[str]]) -> dict[tuple[str, str], int]:
    """The column where each edge enters its box: one 'v' per edge, spread around the box's
    middle in the order of the boxes above (so lines into a box never merge), away from the
    column of another stage's line down where the box is wide enough."""
    into: dict[str, list[str]] = {i.key: [] for i in lower}
    for s in upper:  # left to right
        for t in down[s.key]:
            into[t].append(s.key)
    stems = {s.center: s.key for s in upper if down[s.key]}
    entry = {}
    for item in lower:
        k = len(into[item.key])
        used: set[int] = set()
        for i, s in enumerate(into[item.key]):
            ideal = item.center - (k - 1) + 2 * i
            inside = range(item.left + 1, item.left + item.width - 1) if item.label else range(item.left, item.left + 1)
            free = [c for c in inside if c not in used and stems.get(c, s) == s]
            apart = [c for c in free if c - 1 not in used and c + 1 not in used]
            choices = apart or free or [ideal]
            c = min(choices, key=lambda c: (abs(c - ideal), c))
            used.add(c)
            entry[(s, item.key)] = c
    return entry


def _tracks(sources: list[_Item], down: dict[str, list[str]], entry: dict[tuple[str, str], int]) -> dict[str, int]:
    """The row of each stage's track between two rows of boxes (-1: straight down, no row).

    Each edge has a column of its own into its box, so lines only branch (from one stage
    to the boxes it feeds) and cross, never merge. Where a stage's line down is in the
    column of another stage's line into a box, the stage's own track comes first, so the
    two never overlap; tracks share a row when they are apart."""
    def cols(s: _Item) -> list[int]:
        return [s.center] + [entry[(s.key, t)] for t in down[s.key]]

    straight = {s.key for s in sources if cols(s)[1:] == [s.center]}
    stems = {s.center: s.key for s in sources if s.key not in straight}
    after = {s.key: {stems[c] for c in cols(s)[1:] if c in stems and stems[c] != s.key}
             for s in sources if s.key not in straight}
    try:
        ordered = list(graphlib.TopologicalSorter(after).static_order())
    except graphlib.CycleError:  # two stages each above the other's line: they overlap
        ordered = list(after)
    by_key = {s.key: s for s in sources}
    lines = {s.center for s in sources} | set(entry.values())  # the only columns a '|' can be in

    def clash(a: tuple[int, int], b: tuple[int, int]) -> bool:
        """Two tracks in one row need a blank column between them: across '|'s only, one
        would read as going on into the other."""
        (a, b) = sorted((a, b))
        return all(c in lines for c in range(a[1] + 1, b[0]))  # also when they touch or overlap

    row: dict[str, int] = {k: -1 for k in straight}
    spans: list[list[tuple[int, int]]] = []
    for key in ordered:
        c = cols(by_key[key])
        lo, hi = min(c), max(c)
        r = max((row[b] + 2 for b in after[key] if b in row), default=0)  # a blank between the two
        while r < len(spans) and any(clash((lo, hi), other) for other in spans[r]):
            r += 1
        while r >= len(spans):
            spans.append([])
        spans[r].append((lo, hi))
        row[key] = r
    return row


def _channel(upper: list[_Item], lower: list[_Item], down: dict[str, list[str]], width: int) -> list[str]:
    sources = [s for s in upper if down[s.key]]
    if not sources:
        return []
    entry = _entries(upper, lower, down)
    row = _tracks(sources, down, entry)
    n = 1 + max(row.values())
    lines = [[" "] * width for _ in range(n + 2)]
    for s in sources:
        lines[0][s.center] = "|"
    for r in range(n):
        line = lines[r + 1]
        for s in sources:
            if row[s.key] > r or row[s.key] == -1:  # on its way down to its own track
                line[s.center] = "|"
            elif row[s.key] < r:  # its lines on their way into their boxes
                for t in down[s.key]:
                    line[entry[(s.key, t)]] = "|"
        for s in sources:
            if row[s.key] != r:
                continue
            cols = [s.center] + [entry[(s.key, t)] for t in down[s.key]]
            for c in range(min(cols), max(cols) + 1):
                if line[c] != "|":
                    line[c] = "-"
            for c in cols:
                line[c] = "+"
    kind = {i.key: i.label is None for i in lower}
    for (s, t), c in entry.items():
        lines[-1][c] = "|" if kind[t] else "v"
    return ["".join(line).rstrip() for line in lines]


def to_text(graph: Graph) -> str:
    """The layered drawing (plain ASCII)."""
    if not graph.nodes:
        return ""
    keys, down = _layers(graph)
    _order_rows(keys, down)
    above: dict[str, list[str]] = {k: [] for k in down}
    for a, targets in down.items():
        for b in targets:
            above[b].append(a)
    fed = {k: len(v) for k, v in above.items()}
    rows = [[_Item(k, 1, None) if k.startswith("|") else _Item(k, max(len(k) + 4, 2 * fed[k] + 3), k) for k in row]
            for row in keys]
    _place(rows, above)
    width = max(i.left + i.width for row in rows for i in row) + 1
    out: list[str] = []
    for r, row in enumerate(rows):
        box = [[" "] * width for _ in range(3)]
        for item in row:
            if item.label is None:
                for line in box:
                    line[item.left] = "|"
                continue
            rule = "+" + "-" * (item.width - 2) + "+"
            mid = f"| {item.label:<{item.width - 4}} |"
            for j, text in enumerate((rule, mid, rule)):
                box[j][item.left:item.left + item.width] = text
        out += ["".join(line).rstrip() for line in box]
        if r + 1 < len(rows):
            out += _channel(row, rows[r + 1], down, width)
    return "\n".join(out) + "\n"


def dag(repo: Repo, target: str | None = None, cwd: str | None = None) -> Graph:
    """The verb: the graph of the stages in mlvc.yaml (or of ``target`` and what it depends on)."""
    return build_graph(load_pipeline(repo.root, read_project(repo.root)), repo.root, target, cwd)
