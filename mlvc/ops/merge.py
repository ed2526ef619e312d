"""The git merge driver's three-way merge of ``mlvc.lock``, ``mlvc.yaml`` and ``.gitignore``
(registered by ``mlvc.scm.merge.install_driver``; git runs ``mlvc merge-driver %O %A %B %P``).

Entries are merged by key (an artifact's path, a stage's name): changed on one side only, that
side wins; changed alike on both sides, that change. A folder changed on both sides is merged
file by file from the base, ours and theirs trees in the cache when no file changed differently
on both sides; the merged tree is written to the cache. Anything else is a conflict: the result
is written with git-style markers around just the conflicting entries (mlvc's reader refuses
such a file with a hint saying how to resolve it) and the conflicts are returned.

``mlvc.yaml`` is written by people too: once its entries merge cleanly, the text is merged
block by block (``mergetext``), or else line by line, so comments and layout are kept; that
text is used only when it parses to the same entries as the entry-by-entry merge (otherwise
the file is written anew from those entries, without its comments). A ``.gitignore`` is
merged line by line, mlvc's own ``/name`` lines as a set where both sides changed the same
place (``mergetext.merge_gitignore``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import MlvcError
from mlvc.formats.lock import LOCK_FILE, Lock, LockEntry, _entry_data, _stage_data, parse_lock, serialize_lock
from mlvc.formats.project import PROJECT_FILE, PROJECT_SCHEMA, Project, parse_project, serialize_project
from mlvc.formats.yamlio import dump_yaml
from mlvc.ops.mergetext import (MISSING, conflict_block, merge3, merge_gitignore, merge_yaml_blocks,
                                merge_yaml_marked, split_lines)
from mlvc.ops.mergetext import three_way as _three_way
from mlvc.progress import NULL
from mlvc.repo import Repo

GITIGNORE = ".gitignore"


@dataclass
class MergeResult:
    name: str  # mlvc.lock or mlvc.yaml
    merged_folders: list[str] = field(default_factory=list)  # folders merged file by file
    conflicts: list[str] = field(default_factory=list)  # one line each: what conflicts and why

    @property
    def ok(self) -> bool:
        return not self.conflicts


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def merge_driver(repo: Repo, base: str, ours: str, theirs: str, name: str, progress=NULL) -> MergeResult:
    """Merge the files at ``base``, ``ours`` and ``theirs`` (git's %O %A %B) into ``ours``;
    ``name`` is the merged file's path (%P), whose last part says which format it is."""
    kind = os.path.basename(name)
    if kind not in (LOCK_FILE, PROJECT_FILE, GITIGNORE):
        raise MlvcError(f"the mlvc merge driver merges mlvc.lock, mlvc.yaml and .gitignore, not {name!r}",
                        "check the merge=mlvc lines of .gitattributes")
    b, o, t = _read(base), _read(ours), _read(theirs)
    result = MergeResult(name)
    if o == t or t == b:
        return result  # ours already holds the answer
    if o == b:
        text = t
    elif kind == LOCK_FILE:
        with repo.lock():  # a folder merged file by file writes its tree to the cache: a writer, as add is
            text = _merge_lock(repo, b, o, t, result, progress)
    elif kind == GITIGNORE:
        text, result.conflicts = merge_gitignore(b, o, t)
    else:
        text = _merge_project(b, o, t, result)
    with open(ours, "w", encoding="utf-8") as fh:
        fh.write(text)
    return result


def _block(data: Any) -> str:
    """The YAML lines of one entry ``{key: value}`` as it appears inside a section (indented two)."""
    return "".join("  " + line + "\n" for line in dump_yaml(data).splitlines())


# ------------------------------------------------------------------ mlvc.lock


def _merge_lock(repo: Repo, b_text: str, o_text: str, t_text: str, result: MergeResult, progress) -> str:
    base, ours, theirs = parse_lock(b_text), parse_lock(o_text), parse_lock(t_text)
    merged = Lock(extra=dict(ours.extra))
    conflicted_artifacts: dict[str, tuple] = {}
    for path in sorted(set(base.artifacts) | set(ours.artifacts) | set(theirs.artifacts)):
        entries = [lock.artifacts.get(path) for lock in (base, ours, theirs)]
        datas = [MISSING if e is None else _entry_data(e) for e in entries]
        clean, value = _three_way(*datas)
        if clean:
            if value is not MISSING:
                merged.artifacts[path] = entries[1] if value == datas[1] else entries[2]
            continue
        b, o, t = entries
        if o is not None and t is not None and o.is_dir and t.is_dir and (b is None or b.is_dir):
            entry, why = _merge_folder(repo, path, b, o, t)
            if entry is not None:
                merged.artifacts[path] = entry
                result.merged_folders.append(path)
                continue
        else:
            why = "changed differently on both branches"
        conflicted_artifacts[path] = (o, t)
        result.conflicts.append(f"artifact {path}: {why}")
    conflicted_stages: dict[str, tuple] = {}
    for name in sorted(set(base.stages) | set(ours.stages) | set(theirs.stages)):
        records = [lock.stages.get(name) for lock in (base, ours, theirs)]
        datas = [MISSING if s is None else _stage_data(s, lock.artifacts)
                 for s, lock in zip(records, (base, ours, theirs))]
        clean, value = _three_way(*datas)
        if clean:
            if value is not MISSING:
                merged.stages[name] = records[1] if value == datas[1] else records[2]
            continue
        conflicted_stages[name] = (records[1], records[2])
        result.conflicts.append(f"stage {name}: its record changed differently on both branches")
    for key in set(theirs.extra) - set(ours.extra):
        merged.extra[key] = theirs.extra[key]
    for key in set(base.extra) | set(ours.extra) | set(theirs.extra):
        clean, value = _three_way(*(lock.extra.get(key, MISSING) for lock in (base, ours, theirs)))
        if not clean:
            result.conflicts.append(f"key {key}: changed differently on both branches (kept ours)")
        elif value is MISSING:
            merged.extra.pop(key, None)
        else:
            merged.extra[key] = value
    if not conflicted_artifacts and not conflicted_stages:
        return serialize_lock(merged)
    return _lock_with_markers(merged, ours, theirs, conflicted_artifacts, conflicted_stages)


def _lock_with_markers(merged: Lock, ours: Lock, theirs: Lock, artifacts: dict, stages: dict) -> str:
    everything = dict(merged.artifacts)  # a conflicting stage's outs must name an entry to be written
    for o, t in artifacts.values():
        everything[(o or t).path] = o or t
    text = "schema: 2\nartifacts:\n"
    for path in sorted(set(merged.artifacts) | set(artifacts)):
        if path in artifacts:
            o, t = artifacts[path]
            text += conflict_block("" if o is None else _block({path: _entry_data(o)}),
                                    "" if t is None else _block({path: _entry_data(t)}))
        else:
            text += _block({path: _entry_data(merged.artifacts[path])})
    if merged.stages or stages:
        text += "stages:\n"
        for name in sorted(set(merged.stages) | set(stages)):
            if name in stages:
                o, t = stages[name]
                text += conflict_block("" if o is None else _block({name: _stage_data(o, ours.artifacts)}),
                                        "" if t is None else _block({name: _stage_data(t, theirs.artifacts)}))
            else:
                text += _block({name: _stage_data(merged.stages[name], everything)})
    if merged.extra:
        text += dump_yaml(merged.extra)
    return text


def _files(repo: Repo, entry: LockEntry | None) -> dict[str, str]:
    return {} if entry is None else dict(repo.odb.walk_tree(entry.oid))


def _merge_folder(repo: Repo, path: str, b, o, t) -> tuple[LockEntry | None, str]:
    """The folder ``path`` merged file by file, or (None, why not)."""
    try:
        base, ours, theirs = _files(repo, b), _files(repo, o), _files(repo, t)
    except MlvcError as exc:
        return None, f"changed on both branches, and its trees cannot be read ({exc.message}); " \
                     f"run `mlvc fetch` on both branches, then merge again"
    merged: dict[str, str] = {}
    clashes = []
    for name in sorted(set(base) | set(ours) | set(theirs)):
        clean, value = _three_way(base.get(name, MISSING), ours.get(name, MISSING), theirs.get(name, MISSING))
        if not clean:
            clashes.append(name)
        elif value is not MISSING:
            merged[name] = value
    if clashes:
        shown = ", ".join(f"{path}/{c}" for c in clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        return None, f"the same files changed differently on both branches: {shown}"
    try:
        oid = repo.odb.save_entries(sorted(merged.items()))
    except MlvcError as exc:  # a file and a folder of one name, one from each side
        return None, f"its files cannot be merged: {exc.message}"
    size = sum(int(meta.rsplit(" ", 1)[1]) for meta in merged.values())
    return LockEntry(path, oid, size, len(merged), extra=dict(o.extra)), ""


# ------------------------------------------------------------------ mlvc.yaml


def _merge_project(b_text: str, o_text: str, t_text: str, result: MergeResult) -> str:
    base, ours, theirs = parse_project(b_text), parse_project(o_text), parse_project(t_text)
    merged = Project()
    listed = [set(p.artifacts) for p in (base, ours, theirs)]
    for path in sorted(listed[0] | listed[1] | listed[2]):
        # a list of paths: an added or removed path never conflicts
        _, value = _three_way(*(path in paths for paths in listed))
        if value:
            merged.artifacts.append(path)
    clean, merged.vars = _three_way(base.vars, ours.vars, theirs.vars)
    if not clean:
        merged.vars = ours.vars
        result.conflicts.append("vars: changed differently on both branches")
    conflicted: dict[str, tuple] = {}
    for name in list(ours.stages) + [n for n in theirs.stages if n not in ours.stages] + \
            [n for n in base.stages if n not in ours.stages and n not in theirs.stages]:
        sides = [p.stages.get(name, MISSING) for p in (base, ours, theirs)]
        clean, value = _three_way(*sides)
        if not clean:
            conflicted[name] = (sides[1], sides[2])
            result.conflicts.append(f"stage {name}: changed differently on both branches")
        elif value is not MISSING:
            merged.stages[name] = value
    if not conflicted and not any(c.startswith("vars:") for c in result.conflicts):
        return _kept_text(b_text, o_text, t_text, merged) or serialize_project(merged)
    marked = _kept_conflicts(b_text, o_text, t_text, merged, ours, theirs, conflicted,
                             any(c.startswith("vars:") for c in result.conflicts))
    if marked is not None:
        return marked
    text = dump_yaml({"schema": PROJECT_SCHEMA, "artifacts": merged.artifacts})
    if any(c.startswith("vars:") for c in result.conflicts):
        text += conflict_block(dump_yaml({"vars": ours.vars}), dump_yaml({"vars": theirs.vars}))
    elif merged.vars:
        text += dump_yaml({"vars": merged.vars})
    names = list(ours.stages) + [n for n in theirs.stages if n not in ours.stages]
    if names:
        text += "stages:\n"
        for name in names:
            if name in conflicted:
                o, t = conflicted[name]
                text += conflict_block("" if o is MISSING else _block({name: o}),
                                        "" if t is MISSING else _block({name: t}))
            elif name in merged.stages:
                text += _block({name: merged.stages[name]})
    return text


def _same(a: Project, b: Project) -> bool:
    return sorted(a.artifacts) == sorted(b.artifacts) and a.stages == b.stages and a.vars == b.vars


def _kept_text(b_text: str, o_text: str, t_text: str, merged: Project) -> str | None:
    """The merged mlvc.yaml as people wrote it (comments, order, layout): block by block, or
    else a clean line-by-line merge; only if it reads as the entries ``merged``."""
    for how in ("blocks", "lines"):
        if how == "blocks":
            text = merge_yaml_blocks(b_text, o_text, t_text)
        else:
            chunks = merge3(*(split_lines(x) for x in (b_text, o_text, t_text)))
            text = "".join(line for c in chunks for line in c[1]) if all(c[0] == "ok" for c in chunks) else None
        if text is None:
            continue
        try:
            if _same(parse_project(text), merged):
                return text
        except MlvcError:
            continue
    return None


def _kept_conflicts(b_text: str, o_text: str, t_text: str, merged: Project, ours: Project, theirs: Project,
                    stages: dict, vars_clash: bool) -> str | None:
    """mlvc.yaml as people wrote it, with markers around just the blocks that conflict: only
    when those are the conflicting entries and taking either side of every one reads as the
    merge that takes that side."""
    found = merge_yaml_marked(b_text, o_text, t_text)
    if found is None:
        return None
    text, with_ours, with_theirs, clashes = found
    if sorted(clashes) != sorted([("stages", n) for n in stages] + ([("vars", None)] if vars_clash else [])):
        return None
    for side, side_text, n in ((ours, with_ours, 0), (theirs, with_theirs, 1)):
        want = Project(list(merged.artifacts), dict(merged.stages), side.vars if vars_clash else merged.vars)
        for name, pair in stages.items():
            if pair[n] is not MISSING:
                want.stages[name] = pair[n]
        try:
            if not _same(parse_project(side_text), want):
                return None
        except MlvcError:
            return None
    return text
