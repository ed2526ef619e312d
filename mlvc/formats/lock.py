"""``mlvc.lock``: the exact hashes of every artifact and every stage run; written only by
mlvc, committed to git. Sorted and deterministic, so a change shows as a small git diff.

Schema 2 (written; schema 1 is read and rewritten as 2 by the next command that writes)::

    schema: 2
    artifacts:
      data/images:             # repo-relative POSIX path
        oid: <32 hex>.tree     # a tree for a folder, 32 hex for a file
        size: 81920000         # bytes (for a folder: all its files)
        nfiles: 20000          # folders only
      tools/run.sh:
        oid: <32 hex>
        size: 120
        executable: true       # files only, written only when true
      data/raw:                # `mlvc import`: where the data came from
        oid: <32 hex>.tree
        size: 4096
        nfiles: 2
        source:
          repo: https://github.com/org/data-registry   # a git URL, or an absolute path
          path: datasets/raw   # the artifact (or a part of one) in that repository
          rev: v1.2            # as asked (a branch, a tag, a sha); absent: its default branch
          commit: <40 hex>     # what rev was when the data was taken
          remote: backup       # the source's remote used, when not its default (optional)
    stages:                    # one record per stage that ran (pipelines)
      featurize:
        cmd: python featurize.py         # a string, or a list of strings
        deps:                            # each input as it was when the stage ran
          src/featurize.py: {oid: <32 hex>, size: 1200}
        params:                          # per params file, each key's value (any YAML)
          params.yaml: {featurize.window: 5}
        outs:                            # each names an entry of artifacts:, where its id lives
        - data/features
        uncached_outs:                   # outs not cached (`cache: false`, metrics): their ids here
          reports/features.json: {oid: <32 hex>, size: 80}

Compatibility (docs/concepts.md): keys this version does not know are kept, not
refused, at the top level, in an artifact and in a stage; they are written back
as they were while that artifact or stage is unchanged, and dropped with it
when mlvc records it anew. A newer schema is refused with "upgrade mlvc".
An artifact's ``source:`` (``mlvc import``) has every value checked (a safe path, a full
commit id, no value starting with '-'), keeps unknown keys the same way, and is not part of
the entry's identity (``LockEntry ==`` compares the data), so a commit of unchanged data keeps it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import FileFormatError, InvalidPathError
from mlvc.formats.yamlio import (artifact_path, check_nesting, check_schema, dump_yaml, is_null, line_of, load_yaml,
                                 mapping, read_text, scalar, to_python, write_text)
from mlvc.objects.hashing import is_tree_oid, is_valid_oid
from mlvc.objects.paths import check_relpath

LOCK_FILE = "mlvc.lock"
LOCK_SCHEMA = 2
_ENTRY_KEYS = ("oid", "size", "nfiles", "executable", "source")
_SOURCE_KEYS = ("repo", "path", "rev", "commit", "remote")
_STAGE_KEYS = ("cmd", "deps", "params", "outs", "uncached_outs")


def _conflict_hint(name: str) -> str:
    return (f"resolve the merge first: take one side's data with `git checkout --theirs {name}` (or --ours) "
            f"and run `mlvc checkout`, or keep the workspace's data with `git checkout --ours {name}` "
            f"and run `mlvc commit`")


@dataclass(frozen=True)
class ImportSource:
    """Where an imported artifact came from (``mlvc import``): a git repository, the path
    there, the revision as asked (None: its default branch) and the commit it resolved to."""

    repo: str
    path: str
    commit: str
    rev: str | None = None
    remote: str | None = None  # the source repository's remote used, when not its default
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # keys of a newer mlvc


@dataclass(frozen=True)
class LockEntry:
    """One recorded version of a path: an artifact, or a stage's input."""

    path: str
    oid: str
    size: int
    nfiles: int | None = None
    executable: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # keys of a newer mlvc
    # ``mlvc import``: not part of the data's identity, so a commit of unchanged data keeps it
    source: ImportSource | None = field(default=None, compare=False, repr=False)

    @property
    def is_dir(self) -> bool:
        return is_tree_oid(self.oid)


@dataclass
class StageRecord:
    """What a stage ran with and produced; ``outs`` name artifact entries."""

    name: str
    cmd: str | list[str]
    deps: dict[str, LockEntry] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: list[str] = field(default_factory=list)
    uncached_outs: dict[str, LockEntry] = field(default_factory=dict)  # `cache: false` outs and metrics
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class Lock:
    artifacts: dict[str, LockEntry] = field(default_factory=dict)
    stages: dict[str, StageRecord] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # top-level keys of a newer mlvc
    schema: int = field(default=LOCK_SCHEMA, compare=False)  # as read


# ------------------------------------------------------------------ reading


def _entry(name: str, key_node, node, path: str, what: str) -> LockEntry:
    fields: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for fk, fv in mapping(name, node, f"{what} {path!r}"):
        if fk.value == "oid":
            oid = scalar(name, fv, "oid", str)
            if not is_valid_oid(oid):
                raise FileFormatError(name, f"bad object id {oid!r} for {path!r}", line_of(fv))
            fields["oid"] = oid
        elif fk.value in ("size", "nfiles"):
            fields[fk.value] = scalar(name, fv, fk.value, int)
        elif fk.value == "executable":
            if fv.tag != "tag:yaml.org,2002:bool":
                raise FileFormatError(name, f"executable must be true or false, got {fv.value!r}", line_of(fv))
            fields["executable"] = fv.value.lower() in ("true", "yes", "on", "y")
        elif fk.value == "source" and what == "artifact":
            fields["source"] = _source(name, fv, path)
        else:
            extra[fk.value] = to_python(name, fv)
    if "oid" not in fields or "size" not in fields:
        raise FileFormatError(name, f"{what} {path!r} needs oid and size", line_of(key_node))
    if is_tree_oid(fields["oid"]) != ("nfiles" in fields):
        raise FileFormatError(name, f"{what} {path!r}: nfiles goes with a tree oid, and only with one",
                              line_of(key_node))
    if fields.get("executable") and is_tree_oid(fields["oid"]):
        raise FileFormatError(name, f"{what} {path!r}: executable goes with a file, not a folder", line_of(key_node))
    return LockEntry(path, fields["oid"], fields["size"], fields.get("nfiles"), fields.get("executable", False), extra,
                     fields.get("source"))


_COMMIT = re.compile(r"(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
_REMOTE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def _source(name: str, node, path: str) -> ImportSource:
    """An artifact's ``source:`` (``mlvc import``), every value checked: it is read again by
    ``mlvc update``, and a clone's mlvc.lock is anyone's text."""
    fields: dict[str, str] = {}
    extra: dict[str, Any] = {}
    what = f"source of {path!r}"
    for fk, fv in mapping(name, node, what):
        if fk.value in _SOURCE_KEYS:
            value = scalar(name, fv, f"{fk.value} of the {what}", str)
            if not value or "\0" in value or "\n" in value or "\r" in value:
                raise FileFormatError(name, f"{fk.value} of the {what} cannot be empty or hold a NUL or a line break",
                                      line_of(fv))
            fields[fk.value] = value
        else:
            extra[fk.value] = to_python(name, fv)
    for needed in ("repo", "path", "commit"):
        if needed not in fields:
            raise FileFormatError(name, f"the {what} needs repo, path and commit", line_of(node))
    if not _COMMIT.match(fields["commit"]):
        raise FileFormatError(name, f"commit of the {what} must be a full git commit id (40 or 64 hex), "
                              f"got {fields['commit'][:80]!r}", line_of(node))
    try:
        check_relpath(fields["path"], "path")
    except InvalidPathError as exc:
        raise FileFormatError(name, f"path of the {what}: {exc.message}", line_of(node)) from None
    if fields.get("rev", "").startswith("-") or fields["repo"].startswith("-"):
        raise FileFormatError(name, f"the {what} has a repo or rev starting with '-'", line_of(node))
    if "remote" in fields and not _REMOTE_NAME.match(fields["remote"]):
        raise FileFormatError(name, f"remote of the {what} is not a remote name: {fields['remote'][:80]!r}",
                              line_of(node))
    return ImportSource(fields["repo"], fields["path"], fields["commit"], fields.get("rev"), fields.get("remote"),
                        extra)


def _cmd(name: str, node) -> str | list[str]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return [scalar(name, item, "a command", str) for item in node.value]
    return scalar(name, node, "cmd", str)


def _stage(name: str, key_node, node, artifacts: dict[str, LockEntry]) -> StageRecord:
    import yaml

    stage = key_node.value
    record = StageRecord(stage, "")
    seen_cmd = False
    for fk, fv in mapping(name, node, f"stage {stage!r}"):
        if fk.value == "cmd":
            record.cmd = _cmd(name, fv)
            seen_cmd = True
        elif fk.value in ("deps", "uncached_outs"):
            if not is_null(fv):
                what = "dep" if fk.value == "deps" else "uncached out"
                for dk, dv in mapping(name, fv, f"{fk.value} of stage {stage!r}"):
                    path = artifact_path(name, dk, dk.value)
                    getattr(record, fk.value)[path] = _entry(name, dk, dv, path, what)
        elif fk.value == "params":
            if not is_null(fv):
                for pk, pv in mapping(name, fv, f"params of stage {stage!r}"):
                    values = to_python(name, pv) if not is_null(pv) else {}
                    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
                        raise FileFormatError(name, f"params of {pk.value!r} must map keys to values", line_of(pv))
                    record.params[pk.value] = values
        elif fk.value == "outs":
            if is_null(fv):
                continue
            if not isinstance(fv, yaml.SequenceNode):
                raise FileFormatError(name, f"outs of stage {stage!r} must be a list of paths", line_of(fv))
            for item in fv.value:
                path = artifact_path(name, item, scalar(name, item, "an out", str))
                if path not in artifacts:
                    raise FileFormatError(name, f"stage {stage!r}: out {path!r} has no entry in artifacts",
                                          line_of(item), "an out's id is recorded under artifacts:")
                record.outs.append(path)
        else:
            record.extra[fk.value] = to_python(name, fv)
    if not seen_cmd:
        raise FileFormatError(name, f"stage {stage!r} needs cmd", line_of(key_node))
    return record


def parse_lock(text: str, name: str = LOCK_FILE) -> Lock:
    node = load_yaml(name, text, _conflict_hint(name) if name == LOCK_FILE else None)
    lock = Lock()
    if node is None:
        return lock
    schema = None
    stages_node = None
    for k, v in mapping(name, node, "the file"):
        if k.value == "schema":
            schema = lock.schema = check_schema(name, v, LOCK_SCHEMA)
        elif k.value == "artifacts":
            if is_null(v):
                continue
            for pk, pv in mapping(name, v, "artifacts"):
                path = artifact_path(name, pk, pk.value)
                lock.artifacts[path] = _entry(name, pk, pv, path, "artifact")
        elif k.value == "stages":
            stages_node = v  # read once every artifact is known: outs refer to them
        else:
            lock.extra[k.value] = to_python(name, v)
    if schema is None and (lock.artifacts or stages_node is not None or lock.extra):
        raise FileFormatError(name, f"missing 'schema: {LOCK_SCHEMA}'")
    if stages_node is not None and not is_null(stages_node):
        for sk, sv in mapping(name, stages_node, "stages"):
            lock.stages[sk.value] = _stage(name, sk, sv, lock.artifacts)
    check_nesting(name, list(lock.artifacts))
    return lock


def read_lock(root: str) -> Lock:
    text = read_text(os.path.join(root, LOCK_FILE), LOCK_FILE)
    return Lock() if text is None else parse_lock(text)


# ------------------------------------------------------------------ writing


def _entry_data(e: LockEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"oid": e.oid, "size": e.size}
    if e.nfiles is not None:
        data["nfiles"] = e.nfiles
    if e.executable:
        data["executable"] = True
    if e.source is not None:
        data["source"] = _source_data(e.source)
    data.update((k, v) for k, v in e.extra.items() if k not in data)
    return data


def _source_data(s: ImportSource) -> dict[str, Any]:
    data: dict[str, Any] = {"repo": s.repo, "path": s.path}
    if s.rev is not None:
        data["rev"] = s.rev
    data["commit"] = s.commit
    if s.remote is not None:
        data["remote"] = s.remote
    data.update((k, v) for k, v in s.extra.items() if k not in data)
    return data


def _sorted(value: Any) -> Any:
    """A parameter's value with every mapping's keys in order, so the text is deterministic."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=lambda k: (type(k).__name__, str(k)))}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _stage_data(s: StageRecord, artifacts: dict[str, LockEntry]) -> dict[str, Any]:
    data: dict[str, Any] = {"cmd": s.cmd}
    if s.deps:
        data["deps"] = {p: _entry_data(s.deps[p]) for p in sorted(s.deps)}
    if s.params:
        data["params"] = {f: _sorted(s.params[f]) for f in sorted(s.params)}
    outs = [p for p in s.outs if p in artifacts]  # an out whose entry is gone (`mlvc remove`) was not made
    if outs:
        data["outs"] = sorted(outs)
    if s.uncached_outs:
        data["uncached_outs"] = {p: _entry_data(s.uncached_outs[p]) for p in sorted(s.uncached_outs)}
    data.update((k, v) for k, v in s.extra.items() if k not in data)
    return data


def serialize_lock(lock: Lock) -> str:
    data: dict[str, Any] = {"schema": LOCK_SCHEMA,
                            "artifacts": {p: _entry_data(lock.artifacts[p]) for p in sorted(lock.artifacts)}}
    if lock.stages:
        data["stages"] = {n: _stage_data(lock.stages[n], lock.artifacts) for n in sorted(lock.stages)}
    data.update((k, v) for k, v in lock.extra.items() if k not in data)
    return dump_yaml(data)


def write_lock(root: str, lock: Lock) -> None:
    write_text(root, LOCK_FILE, serialize_lock(lock))
