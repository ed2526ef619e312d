"""The graph of stages: a stage depends on the stages whose outs it reads (a dep that is
an out, is inside one, or holds one). An artifact added by hand, or a file git
tracks, is a dep no stage makes. The order comes from the standard library's
``graphlib``; a cycle is an error naming every stage on it.

Targets: a stage's name, a group (``NAME`` for every ``NAME@KEY`` that
``foreach``/``matrix`` made), or a path (the stages that make it or what is in it).
"""

from __future__ import annotations

import graphlib
import os

from mlvc.errors import PipelineCycleError, UnknownTargetError
from mlvc.formats.project import PROJECT_FILE
from mlvc.pipeline.stage import Pipeline


def _parents(path: str):
    parts = path.split("/")
    for i in range(len(parts) - 1, 0, -1):
        yield "/".join(parts[:i])


def upstream(pipeline: Pipeline) -> dict[str, set[str]]:
    """Each stage -> the stages it depends on directly."""
    producer = pipeline.producer()
    outs = sorted(producer)
    graph: dict[str, set[str]] = {}
    for s in pipeline.stages.values():
        found: set[str] = set()
        for dep in s.deps:
            if dep in producer:
                found.add(producer[dep])
                continue
            owner = next((producer[p] for p in _parents(dep) if p in producer), None)
            if owner is not None:
                found.add(owner)
                continue
            prefix = dep + "/"
            found.update(producer[o] for o in outs if o.startswith(prefix))
        graph[s.name] = found
    return graph


def downstream(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    below: dict[str, set[str]] = {n: set() for n in graph}
    for n, ups in graph.items():
        for u in ups:
            below[u].add(n)
    return below


def order(pipeline: Pipeline, graph: dict[str, set[str]], names: set[str] | None = None) -> list[str]:
    """``names`` (default: all) in an order where every stage comes after those it depends
    on; among stages free at once, the order of mlvc.yaml."""
    position = {n: i for i, n in enumerate(pipeline.stages)}
    sorter = graphlib.TopologicalSorter({n: graph[n] for n in graph})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise PipelineCycleError(f"stages form a cycle: {' -> '.join(cycle)}",
                                 f"a stage cannot depend, even through others, on its own outs; "
                                 f"change the deps or outs in {PROJECT_FILE}") from None
    result = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        for n in ready:
            if names is None or n in names:
                result.append(n)
            sorter.done(n)
    return result


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for m in edges[todo.pop()]:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return seen


def resolve_target(pipeline: Pipeline, target: str, root: str, cwd: str | None = None) -> list[str]:
    """The stages a target names."""
    name = target[len(PROJECT_FILE) + 1:] if target.startswith(PROJECT_FILE + ":") else target
    if name in pipeline.stages:
        return [name]
    groups = pipeline.groups()
    if name in groups:
        return groups[name]
    full = os.path.normpath(os.path.join(cwd or os.getcwd(), target))
    rel = os.path.relpath(full, root).replace(os.sep, "/")
    if not rel.startswith("../") and rel != "..":
        producer = pipeline.producer()
        if rel in producer:
            return [producer[rel]]
        owner = next((producer[p] for p in _parents(rel) if p in producer), None)
        if owner is not None:
            return [owner]
        below = sorted({s for o, s in producer.items() if rel == "." or o.startswith(rel + "/")})
        if below:
            return [n for n in pipeline.stages if n in below]
    raise UnknownTargetError(f"{target!r} is not a stage, a group of stages or an output of one",
                             "see `mlvc stage list`")


def select(pipeline: Pipeline, targets: list[str], root: str, cwd: str | None = None, single: bool = False,
           with_downstream: bool = False) -> list[str]:
    """The stages to consider, in order: every stage (no targets); the targets and what they
    depend on; only the targets (``single``); or the targets and what depends on them
    (``with_downstream``)."""
    graph = upstream(pipeline)
    if not targets:
        return order(pipeline, graph)
    named: set[str] = set()
    for t in targets:
        named.update(resolve_target(pipeline, t, root, cwd))
    if single:
        chosen = named
    elif with_downstream:
        chosen = _closure(named, downstream(graph))
    else:
        chosen = _closure(named, graph)
    return order(pipeline, graph, chosen)
