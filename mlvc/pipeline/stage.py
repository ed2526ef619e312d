"""Stage definitions: the ``stages:`` of ``mlvc.yaml`` as frozen ``Stage`` values.

A stage::

    featurize:
      cmd: python src/featurize.py data/raw data/features   # or a list, run in order
      deps: [src/featurize.py, data/raw]
      params: [featurize.window, {config.json: [model]}]      # keys of params.yaml, or of other files
      outs: [data/features, {data/tmp: {cache: false}}, {logs: {persist: true}}]
      metrics: [reports/features.json]                        # cache: false unless it says so
      wdir: .                  # where cmd runs; deps, outs and params files are relative to it
      desc: ...                # for people
      frozen: false            # true: never run, its outs are used as they are
      always_changed: false    # true: run every time

Every path is stored repo-relative. ``load_pipeline`` checks the whole file when
it is read, before any stage runs: the schema (each error names the file, the
line and the field), names (a plain identifier; ``NAME@KEY`` only from
``foreach``/``matrix``), and outs (one stage each, none inside another, none
tracked by ``mlvc add`` too).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import FileFormatError, InvalidPathError
from mlvc.formats.project import PROJECT_FILE, Project
from mlvc.formats.yamlio import OWN_FILES
from mlvc.objects.paths import check_relpath
from mlvc.pipeline.located import key_line, line_of, located, plain
from mlvc.pipeline.params import DEFAULT_PARAMS
from mlvc.pipeline.templating import base_context, expand

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
FIELDS = ("cmd", "deps", "params", "outs", "metrics", "wdir", "desc", "frozen", "always_changed", "meta", "vars")
OUT_FLAGS = ("cache", "persist")


@dataclass(frozen=True)
class Out:
    path: str  # repo-relative
    cache: bool = True  # False: not cached, not git-ignored (git may track it); its id is still recorded
    persist: bool = False  # True: not removed before the stage runs
    metric: bool = False  # listed under metrics:


@dataclass(frozen=True)
class ParamRef:
    file: str  # repo-relative
    keys: tuple[str, ...] = ()  # empty: every key of the file


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: str | tuple[str, ...]  # a string, or commands run in order
    deps: tuple[str, ...] = ()
    params: tuple[ParamRef, ...] = ()
    outs: tuple[Out, ...] = ()
    wdir: str = ""  # repo-relative; "" is the repository root
    desc: str | None = None
    frozen: bool = False
    always_changed: bool = False
    group: str | None = None  # NAME of a stage made by foreach/matrix (NAME@KEY)
    line: int | None = field(default=None, compare=False)

    @property
    def commands(self) -> tuple[str, ...]:
        return (self.cmd,) if isinstance(self.cmd, str) else self.cmd

    @property
    def recorded_cmd(self) -> str | list[str]:
        """The cmd as mlvc.lock keeps it."""
        return self.cmd if isinstance(self.cmd, str) else list(self.cmd)

    @property
    def cached_outs(self) -> tuple[str, ...]:
        return tuple(o.path for o in self.outs if o.cache)

    @property
    def uncached_outs(self) -> tuple[str, ...]:
        return tuple(o.path for o in self.outs if not o.cache)

    def param_files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.file for p in self.params))


@dataclass(frozen=True)
class Pipeline:
    stages: dict[str, Stage]  # in the order of mlvc.yaml

    def producer(self) -> dict[str, str]:
        """Each out's path -> the stage that makes it."""
        return {o.path: s.name for s in self.stages.values() for o in s.outs}

    def groups(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for s in self.stages.values():
            if s.group:
                found.setdefault(s.group, []).append(s.name)
        return found


# ------------------------------------------------------------------ one stage


def _fail(name: str, stage: str, problem: str, line: int | None, hint: str | None = None):
    raise FileFormatError(name, f"stage {stage!r}: {problem}", line, hint)


def _str(name: str, stage: str, what: str, value: Any, line: int | None) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail(name, stage, f"{what} must be a string, got {_kind(value)}", line_of(value, line))
    if isinstance(value, str) and not value.strip():
        _fail(name, stage, f"{what} is empty", line_of(value, line))
    return str(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _bool(name: str, stage: str, what: str, value: Any, line: int | None) -> bool:
    if not isinstance(value, bool):
        _fail(name, stage, f"{what} must be true or false, got {_kind(value)}", line_of(value, line))
    return value


def _list(name: str, stage: str, what: str, value: Any, line: int | None) -> list:
    if value is None:
        return []
    if isinstance(value, (str, dict)):
        return [value]  # one entry written without a list
    if not isinstance(value, list):
        _fail(name, stage, f"{what} must be a list, got {_kind(value)}", line_of(value, line))
    flat = []
    for item in value:  # a list that ${var} put in a list stands for its items
        flat.extend(item if isinstance(item, list) else [item])
    return flat


def join(wdir: str, path: str) -> str:
    """A path relative to ``wdir`` as a normalised repo-relative path (may start with '..')."""
    return posixpath.normpath(posixpath.join(wdir, path)) if wdir else posixpath.normpath(path)


def _path(name: str, stage: str, what: str, value: Any, wdir: str, line: int | None, out: bool = False) -> str:
    raw = _str(name, stage, what, value, line)
    here = line_of(value, line)
    if raw.startswith("/") or "\\" in raw:
        _fail(name, stage, f"{what} {raw!r} must be a relative path with '/'", here)
    rel = join(wdir, raw.rstrip("/"))
    if rel == ".." or rel.startswith("../"):
        _fail(name, stage, f"{what} {raw!r} is outside the repository", here)
    first = rel.split("/", 1)[0]
    if first in (".git", ".mlvc"):
        _fail(name, stage, f"{what} {raw!r} is inside {first}/", here)
    try:
        check_relpath(rel, what)
    except InvalidPathError as exc:
        _fail(name, stage, exc.message, here)
    if out and (rel in OWN_FILES or rel.rpartition("/")[2] == ".gitignore"):
        _fail(name, stage, f"{what} {raw!r} is a file git must track, not a stage's output", here)
    return rel


def _outs(name: str, stage: str, what: str, value: Any, wdir: str, line: int | None, metric: bool) -> list[Out]:
    found = []
    for item in _list(name, stage, what, value, line):
        here = line_of(item, line_of(value, line))
        flags: dict[str, bool] = {"cache": not metric, "persist": False}
        if isinstance(item, dict):
            if len(item) != 1:
                _fail(name, stage, f"an entry of {what} names one path (with its flags)", here,
                      "write - path: {cache: false}")
            ((path, opts),) = item.items()
            if opts is not None:
                if not isinstance(opts, dict):
                    _fail(name, stage, f"the flags of {what[:-1]} {path!r} must be a mapping", key_line(item, path, here))
                for k, v in opts.items():
                    if k not in OUT_FLAGS and k not in ("desc", "remote", "push"):
                        _fail(name, stage, f"unknown flag {k!r} of {what[:-1]} {path!r}", key_line(opts, k, here),
                              f"known: {', '.join(OUT_FLAGS)}")
                    if k in OUT_FLAGS:
                        flags[k] = _bool(name, stage, f"{k} of {path!r}", v, key_line(opts, k, here))
            item = path
        rel = _path(name, stage, what[:-1], item, wdir, here, out=True)
        found.append(Out(rel, flags["cache"], flags["persist"], metric))
    return found


def _params(name: str, stage: str, value: Any, wdir: str, line: int | None) -> list[ParamRef]:
    refs: dict[str, list[str]] = {}
    whole: set[str] = set()
    default = join(wdir, DEFAULT_PARAMS)
    for item in _list(name, stage, "params", value, line):
        here = line_of(item, line_of(value, line))
        if isinstance(item, dict):
            for path, keys in item.items():
                kl = key_line(item, path, here)
                rel = _path(name, stage, "params file", path, wdir, kl)
                refs.setdefault(rel, [])
                if keys is None or keys == []:
                    whole.add(rel)
                    continue
                for key in _list(name, stage, f"params of {path!r}", keys, kl):
                    refs[rel].append(_str(name, stage, "a param key", key, kl))
        else:
            refs.setdefault(default, []).append(_str(name, stage, "a param key", item, here))
    return [ParamRef(f, () if f in whole else tuple(dict.fromkeys(keys))) for f, keys in refs.items()]


def parse_stage(name: str, stage: str, body: dict, group: str | None = None, line: int | None = None) -> Stage:
    """One stage from its (templated) body; ``name`` is the file named in errors."""
    for k in body:
        if k not in FIELDS:
            _fail(name, stage, f"unknown field {k!r}", key_line(body, k, line),
                  f"known fields: {', '.join(f for f in FIELDS if f not in ('meta', 'vars'))}")

    def at(k: str) -> int | None:
        return key_line(body, k, line)

    if "cmd" not in body:
        _fail(name, stage, "needs cmd (the command that makes its outs)", line)
    cmd_value = body["cmd"]
    if isinstance(cmd_value, list):
        if not cmd_value:
            _fail(name, stage, "cmd is an empty list", at("cmd"))
        cmd: str | tuple[str, ...] = tuple(_str(name, stage, "each command of cmd", c, at("cmd")) for c in cmd_value)
    else:
        cmd = _str(name, stage, "cmd", cmd_value, at("cmd"))
    wdir = ""
    if body.get("wdir") is not None:
        raw = _str(name, stage, "wdir", body["wdir"], at("wdir"))
        wdir = "" if join("", raw) == "." else _path(name, stage, "wdir", raw, "", at("wdir"))
    deps = []
    for item in _list(name, stage, "deps", body.get("deps"), at("deps")):
        rel = _path(name, stage, "dep", item, wdir, line_of(item, at("deps")))
        if rel not in deps:
            deps.append(rel)
    outs = _outs(name, stage, "outs", body.get("outs"), wdir, at("outs"), False)
    outs += _outs(name, stage, "metrics", body.get("metrics"), wdir, at("metrics"), True)
    desc = None if body.get("desc") is None else _str(name, stage, "desc", body["desc"], at("desc"))
    frozen = _bool(name, stage, "frozen", body["frozen"], at("frozen")) if "frozen" in body else False
    always = (_bool(name, stage, "always_changed", body["always_changed"], at("always_changed"))
              if "always_changed" in body else False)
    return Stage(stage, cmd, tuple(deps), tuple(_params(name, stage, body.get("params"), wdir, at("params"))),
                 tuple(outs), wdir, desc, frozen, always, group, line)


# ------------------------------------------------------------------ the whole file


def check_name(name: str, stage: str, line: int | None) -> None:
    if not NAME.fullmatch(stage):
        raise FileFormatError(name, f"stage name {stage!r} is not a plain identifier", line,
                              "use letters, digits, '_' and '-', starting with a letter or '_' "
                              "('@' is for the names foreach and matrix make)")


def check_outs(name: str, stages: list[Stage], artifacts: list[str]) -> None:
    """Each out belongs to one stage, none is inside another, none is an artifact of `mlvc add`."""
    owner: dict[str, Stage] = {}
    for s in stages:
        for o in s.outs:
            if o.path in owner:
                other = owner[o.path]
                where = "twice" if other.name == s.name else f"in stages {other.name!r} and {s.name!r}"
                raise FileFormatError(name, f"out {o.path!r} is {where}", s.line,
                                      "an output is made by one stage only")
            owner[o.path] = s
    added = set(artifacts)
    for path, s in owner.items():
        if path in added:
            raise FileFormatError(name, f"stage {s.name!r}: out {path!r} is also tracked by `mlvc add`", s.line,
                                  "take it out of artifacts: in mlvc.yaml (the stage records it), "
                                  "or out of the stage's outs")
    paths = set(owner) | added
    for p in sorted(paths):
        parts = p.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in paths and (p in owner or parent in owner):
                s = owner.get(p) or owner[parent]
                inner = f"out {p!r} of stage {owner[p].name!r}" if p in owner else f"artifact {p!r}"
                outer = f"out {parent!r} of stage {owner[parent].name!r}" if parent in owner else f"the artifact {parent!r}"
                raise FileFormatError(name, f"{inner} is inside {outer}", s.line,
                                      "an output cannot hold another output or artifact: keep one of them")


def load_pipeline(root: str, project: Project, name: str = PROJECT_FILE) -> Pipeline:
    """Every stage of ``project`` (as read from ``root``), templated and checked."""
    node = project.nodes.get("stages")
    if node is None:
        if project.stages:
            raise ValueError("a Project with stages but no YAML nodes: read it with parse_project")
        return Pipeline({})
    stages_value = located(name, node)
    vars_node = project.nodes.get("vars")
    ctx = base_context(root, name, located(name, vars_node) if vars_node is not None else None)
    found: dict[str, Stage] = {}
    for stage_name in stages_value:
        check_name(name, str(stage_name), key_line(stages_value, stage_name))
    for stage_name, body, group in expand(root, name, stages_value, ctx):
        here = key_line(stages_value, group or stage_name)
        if stage_name in found:
            raise FileFormatError(name, f"two stages are named {stage_name!r}", here)
        found[stage_name] = parse_stage(name, stage_name, body, group, here)
    check_outs(name, list(found.values()), project.artifacts)
    return Pipeline(found)


def stage_data(stage: Stage) -> dict[str, Any]:
    """A stage as mlvc.yaml writes it (for ``mlvc stage add``), paths relative to its wdir."""
    def rel(path: str) -> str:
        return posixpath.relpath(path, stage.wdir) if stage.wdir else path

    data: dict[str, Any] = {"cmd": plain(stage.recorded_cmd)}
    if stage.wdir:
        data["wdir"] = stage.wdir
    if stage.deps:
        data["deps"] = [rel(d) for d in stage.deps]
    params: list[Any] = []
    for p in stage.params:
        if p.file == join(stage.wdir, DEFAULT_PARAMS) and p.keys:
            params.extend(p.keys)
        else:
            params.append({rel(p.file): list(p.keys) or None})
    if params:
        data["params"] = params
    for what, metric in (("outs", False), ("metrics", True)):
        items: list[Any] = []
        for o in stage.outs:
            if o.metric != metric:
                continue
            flags = {}
            if o.cache == metric:
                flags["cache"] = o.cache
            if o.persist:
                flags["persist"] = True
            items.append({rel(o.path): flags} if flags else rel(o.path))
        if items:
            data[what] = items
    if stage.desc:
        data["desc"] = stage.desc
    if stage.frozen:
        data["frozen"] = True
    if stage.always_changed:
        data["always_changed"] = True
    return data
