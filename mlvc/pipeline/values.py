"""``params diff``, ``metrics show``, ``metrics diff``: the values the stages use (params) and
make (metrics), in the workspace or at a git revision, and what changed between two.

A side is the workspace or a git revision. At a revision every file comes from git
(``scm.git``): mlvc.yaml gives that revision's stages, and their params and metrics
files are read as committed. Params are those of ``params.yaml`` and of every file a
stage names under ``params:`` (all of each file's keys); metrics are the files stages
list under ``metrics:``. Values are flattened: ``{"train": {"lr": 0.1}}`` is
``train.lr``. A file missing at a side is reported as missing, not as an error; a
malformed one is a ``FileFormatError`` naming the file (``REV:path`` at a revision)
and its line.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

from mlvc.errors import FileFormatError, InvalidPathError
from mlvc.formats.project import PROJECT_FILE, parse_project, read_project
from mlvc.formats.lock import LOCK_FILE, parse_lock
from mlvc.formats.yamlio import MAX_FILE_BYTES, load_yaml, read_text, to_python
from mlvc.fs.paths import is_within
from mlvc.objects.paths import check_relpath
from mlvc.pipeline.params import DEFAULT_PARAMS, parse_params
from mlvc.pipeline.stage import Pipeline, load_pipeline
from mlvc.repo import Repo

WORKSPACE = "workspace"
CHANGED, ADDED, REMOVED, UNCHANGED = "changed", "added", "removed", "unchanged"


@dataclass(frozen=True)
class Side:
    label: str  # the revision as given, or "workspace"
    sha: str | None = None  # None: the workspace


@dataclass(frozen=True)
class Change:
    file: str
    key: str  # flattened: train.lr
    status: str  # changed | added | removed | unchanged
    old: Any = None  # None also when there is no old value (status "added")
    new: Any = None
    change: int | float | None = None  # new - old, when both are numbers


@dataclass(frozen=True)
class ValuesDiff:
    old: Side
    new: Side
    changes: tuple[Change, ...]
    missing: tuple[tuple[str, str], ...] = ()  # (file, side label): a file not there at that side


@dataclass(frozen=True)
class MetricsAt:
    side: Side
    files: dict[str, dict[str, Any] | None]  # path -> flattened values; None: missing there


# ------------------------------------------------------------------ reading a side


class _Reader:
    """The files of one side: the workspace, or a revision through git."""

    def __init__(self, repo: Repo, side: Side) -> None:
        self.repo = repo
        self.side = side

    def text(self, path: str) -> str | None:
        if self.side.sha is None:
            real = os.path.realpath(os.path.join(self.repo.root, path))
            if not is_within(os.path.realpath(self.repo.root), real):
                raise FileFormatError(path, f"leads out of the repository (to {real})",
                                      hint="params and metrics files are read inside the repository only")
            return read_text(real, path)
        data = self.repo.scm.read_file(self.side.sha, path, limit=MAX_FILE_BYTES, label=self.side.label)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(self.name(path), "is not valid UTF-8") from None

    def cached_text(self, path: str) -> str | None:
        """A cached file (not in git) as mlvc.lock at this revision records it, from the cache;
        None when the lock has no such file or the cache does not hold it."""
        lock_text = self.text(LOCK_FILE)
        if lock_text is None:
            return None
        entry = parse_lock(lock_text, self.name(LOCK_FILE)).artifacts.get(path)
        if entry is None or entry.is_dir or entry.size > MAX_FILE_BYTES or not self.repo.odb.exists(entry.oid):
            return None
        try:
            return self.repo.odb.read_bytes(entry.oid).decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(self.name(path), "is not valid UTF-8") from None

    def name(self, path: str) -> str:
        """How errors name a file: ``path`` in the workspace, ``REV:path`` at a revision."""
        return path if self.side.sha is None else f"{self.side.label}:{path}"

    def pipeline(self) -> Pipeline:
        if self.side.sha is None:
            return load_pipeline(self.repo.root, read_project(self.repo.root))
        name = self.name(PROJECT_FILE)
        text = self.text(PROJECT_FILE)
        if text is None:
            return Pipeline({})
        project = parse_project(text, name)
        # templating reads params.yaml and vars files from a folder: give it theirs at this revision
        folder = tempfile.mkdtemp(prefix="mlvc-rev-")
        try:
            for rel in _template_files(project):
                content = self.text(rel)
                if content is not None:
                    os.makedirs(os.path.dirname(os.path.join(folder, rel)), exist_ok=True)
                    with open(os.path.join(folder, rel), "w", encoding="utf-8") as f:
                        f.write(content)
            return load_pipeline(folder, project, name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _template_files(project) -> list[str]:
    """The files templating may read: params.yaml and every file named under ``vars:``."""
    found = [DEFAULT_PARAMS]

    def add(items: Any, wdir: str) -> None:
        for item in items if isinstance(items, list) else ():
            if isinstance(item, str):
                rel = posixpath.normpath(posixpath.join(wdir, item.partition(":")[0]))
                try:
                    check_relpath(rel, "vars file")
                except InvalidPathError:
                    continue  # templating names the problem
                found.append(rel)

    add(project.vars, "")
    for body in project.stages.values():
        for part in (body, body.get("do") if isinstance(body, dict) else None):
            if isinstance(part, dict):
                wdir = part.get("wdir")
                add(part.get("vars"), wdir if isinstance(wdir, str) and "${" not in wdir else "")
    return list(dict.fromkeys(found))


def _side(repo: Repo, rev: str | None) -> Side:
    return Side(WORKSPACE) if rev is None else Side(rev, repo.scm.resolve(rev))


def _sides(repo: Repo, a: str | None, b: str | None) -> tuple[Side, Side]:
    """No revision: HEAD against the workspace; one: it against the workspace; two: A against B."""
    return _side(repo, "HEAD" if a is None else a), _side(repo, b)


def plain(value: Any) -> Any:
    """A value as JSON can hold it: YAML and TOML dates and times become ISO text, bytes (YAML
    ``!!binary``) their repr, mapping keys text."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float)):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return repr(value)


def flatten(data: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"a": {"b": 1}}`` as ``("a.b", 1)``; an empty mapping is a value of its own. Values
    come out as JSON can hold them (``plain``)."""
    for k, v in data.items():
        if isinstance(v, dict) and v:
            yield from flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", plain(v)


# ------------------------------------------------------------------ parsing


def parse_metrics(text: str, path: str, name: str | None = None) -> dict[str, Any]:
    """A metrics file's values (JSON, TOML, or YAML for any other name), flattened; errors
    name ``name`` (default ``path``) and the line."""
    name = name or path
    ext = os.path.splitext(path)[1].lower()
    if ext == ".json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise FileFormatError(name, f"invalid JSON: {getattr(exc, 'msg', str(exc)[:100])}",
                                  getattr(exc, "lineno", None)) from None
    elif ext == ".toml":
        import tomllib

        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            m = re.search(r"\(at line (\d+)", str(exc))
            raise FileFormatError(name, f"invalid TOML: {str(exc)[:200]}", int(m.group(1)) if m else None) from None
    else:
        node = load_yaml(name, text)
        data = {} if node is None else to_python(name, node)
    if not isinstance(data, dict):
        raise FileFormatError(name, "a metrics file must hold a mapping of names to values",
                              hint="write it as {\"name\": value, ...}")
    return dict(flatten(data))


def _params_of(reader: _Reader, path: str) -> dict[str, Any] | None:
    text = reader.text(path)
    if text is None:
        return None
    try:
        return dict(flatten(parse_params(text, path)))
    except FileFormatError as exc:
        if reader.side.sha is None:
            raise
        raise FileFormatError(reader.name(exc.path), exc.problem, exc.line, exc.hint) from None


def _metrics_of(reader: _Reader, path: str, cached: bool = False) -> dict[str, Any] | None:
    text = reader.text(path)
    if text is None and cached and reader.side.sha is not None:
        text = reader.cached_text(path)
    return None if text is None else parse_metrics(text, path, reader.name(path))


def _params_files(pipeline: Pipeline) -> list[str]:
    return [f for s in pipeline.stages.values() for f in s.param_files()]


def _metrics_files(pipeline: Pipeline) -> dict[str, bool]:
    """Each metrics file -> whether it is cached (then, at a revision, it is in the cache, not in git)."""
    return {o.path: o.cache for s in pipeline.stages.values() for o in s.outs if o.metric}


# ------------------------------------------------------------------ diffing


def _same(a: Any, b: Any) -> bool:
    return a == b and type(a) is type(b)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def difference(old: Any, new: Any) -> int | float | None:
    """``new - old`` for two numbers, as written (0.91 - 0.88 is 0.03, not 0.030000000000000027)."""
    if not (_number(old) and _number(new)):
        return None
    if isinstance(old, int) and isinstance(new, int):
        return new - old
    if not (math.isfinite(old) and math.isfinite(new)):
        return new - old
    try:
        return float(Decimal(repr(float(new))) - Decimal(repr(float(old))))
    except InvalidOperation:  # pragma: no cover - finite floats always subtract
        return new - old


def diff_values(old: dict[str, dict[str, Any] | None], new: dict[str, dict[str, Any] | None],
                with_unchanged: bool = False) -> list[Change]:
    """The changes from ``old`` to ``new`` (``{file: {key: value}}``; None: the file is missing)."""
    changes = []
    for file in sorted(set(old) | set(new)):
        a, b = old.get(file) or {}, new.get(file) or {}
        for key in sorted(set(a) | set(b)):
            if key not in a:
                changes.append(Change(file, key, ADDED, None, b[key]))
            elif key not in b:
                changes.append(Change(file, key, REMOVED, a[key], None))
            elif not _same(a[key], b[key]):
                changes.append(Change(file, key, CHANGED, a[key], b[key], difference(a[key], b[key])))
            elif with_unchanged:
                changes.append(Change(file, key, UNCHANGED, a[key], b[key], difference(a[key], b[key])))
    return changes


def _missing(sides: list[tuple[Side, dict[str, dict[str, Any] | None]]]) -> tuple[tuple[str, str], ...]:
    return tuple((f, side.label) for side, files in sides for f in sorted(files) if files[f] is None)


# ------------------------------------------------------------------ the verbs


def params_diff(repo: Repo, a: str | None = None, b: str | None = None, all: bool = False) -> ValuesDiff:
    """The params that changed from ``a`` (default HEAD) to ``b`` (default the workspace)."""
    old, new = _sides(repo, a, b)
    readers = [_Reader(repo, old), _Reader(repo, new)]
    pipelines = [r.pipeline() for r in readers]
    used = _params_files(pipelines[0]) + _params_files(pipelines[1])
    files = list(dict.fromkeys([DEFAULT_PARAMS] + used))
    values = [{f: _params_of(r, f) for f in files} for r in readers]
    if values[0][DEFAULT_PARAMS] is None and values[1][DEFAULT_PARAMS] is None and DEFAULT_PARAMS not in used:
        del values[0][DEFAULT_PARAMS], values[1][DEFAULT_PARAMS]  # no params.yaml, and no stage asks for one
    return ValuesDiff(old, new, tuple(diff_values(values[0], values[1], all)),
                      _missing([(old, values[0]), (new, values[1])]))


def metrics_show(repo: Repo, revs: list[str] = ()) -> list[MetricsAt]:
    """The metrics in the workspace (no ``revs``) or at each revision."""
    found = []
    for rev in revs or [None]:
        reader = _Reader(repo, _side(repo, rev))
        files = _metrics_files(reader.pipeline())
        found.append(MetricsAt(reader.side, {f: _metrics_of(reader, f, files[f]) for f in sorted(files)}))
    return found


def metrics_diff(repo: Repo, a: str | None = None, b: str | None = None, all: bool = False) -> ValuesDiff:
    """The metrics that changed from ``a`` (default HEAD) to ``b`` (default the workspace)."""
    old, new = _sides(repo, a, b)
    readers = [_Reader(repo, old), _Reader(repo, new)]
    files = [_metrics_files(r.pipeline()) for r in readers]
    names = list(dict.fromkeys([*files[0], *files[1]]))
    values = [{f: _metrics_of(r, f, files[0].get(f, False) or files[1].get(f, False)) for f in names}
              for r in readers]
    return ValuesDiff(old, new, tuple(diff_values(values[0], values[1], all)),
                      _missing([(old, values[0]), (new, values[1])]))
