"""``mlvc.yaml`` (what is tracked; written by commands, editable by people) and
``mlvc.lock`` (the exact hashes; written only by mlvc, committed to git).

Both are YAML, sorted and deterministic, so a change shows as a small git diff.
Every problem found on read names the file, the line and what is wrong.

mlvc.lock, schema 1::

    schema: 1
    artifacts:
      data/images:             # repo-relative POSIX path
        oid: <32 hex>.tree     # a tree for a directory, 32 hex for a file
        size: 81920000         # bytes (for a directory: all its files)
        nfiles: 20000          # directories only

mlvc.yaml::

    schema: 1
    artifacts:
    - data/images
    - model.pkl
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import FileFormatError, InvalidPathError
from mlvc.fsutil import atomic_write, check_relpath
from mlvc.hashing import is_tree_oid, is_valid_oid

PROJECT_FILE = "mlvc.yaml"
LOCK_FILE = "mlvc.lock"
LOCK_SCHEMA = 1
PROJECT_SCHEMA = 1
_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.M)
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./@+-]*\Z")
# Characters a YAML document cannot hold raw (DEL, C1 controls, U+FFFE/FFFF) or
# reads as line breaks (NEL, LS, PS): written as \uXXXX escapes in double quotes.
# (Lone surrogates are left alone: they cannot be written as UTF-8 at all.)
_RAW_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufffe\uffff]")
_SIMPLE_KEY_MAX = 1000
_MAX_DEPTH = 100
_NOT_STR = re.compile(
    r"(?i:y|n|yes|no|true|false|on|off|null|~)\Z|[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?\Z|"
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}.*|0[xob].*|[-+]?\.(inf|nan|Inf|NaN|INF|NAN)\Z|[0-9:]+\Z"
)


@dataclass(frozen=True)
class LockEntry:
    path: str
    oid: str
    size: int
    nfiles: int | None = None

    @property
    def is_dir(self) -> bool:
        return is_tree_oid(self.oid)


@dataclass
class Lock:
    artifacts: dict[str, LockEntry] = field(default_factory=dict)


@dataclass
class Project:
    artifacts: list[str] = field(default_factory=list)
    exists: bool = field(default=False, compare=False)  # read from a file (not a default)


# ------------------------------------------------------------------ reading


def _load_yaml(name: str, text: str):
    import yaml

    m = _CONFLICT.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise FileFormatError(
            name, "has git merge conflict markers", line,
            f"resolve the merge first: take one side's data with `git checkout --theirs {name}` (or --ours) "
            f"and run `mlvc checkout`, or keep the workspace's data with `git checkout --ours {name}` "
            f"and run `mlvc commit`" if name == LOCK_FILE
            else "resolve the merge first: edit the file and remove the conflict markers",
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _check_depth(name, text, loader)
        node = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise FileFormatError(name, f"invalid YAML: {problem}", line) from None
    except UnicodeError:  # a lone surrogate: only a str that never came from a UTF-8 file holds one
        raise FileFormatError(name, "is not valid UTF-8") from None
    except yaml.YAMLError as exc:
        raise FileFormatError(name, f"invalid YAML: {exc}") from None
    return node


def _check_depth(name: str, text: str, loader) -> None:
    """Refuse deeply nested YAML before composing it.

    libyaml's composer recurses once per level and crashes the process (a
    segfault, not an exception) some 25,000 levels down; its parser does not
    recurse. Nesting needs a '[', '{', '-' or '?' per level, or ever deeper
    indentation, so only a text with many of those (or a huge one) is scanned.
    """
    if sum(map(text.count, "[{-?")) < 1000 and len(text) < 1_000_000:
        return
    import yaml

    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > _MAX_DEPTH:
                raise FileFormatError(name, "nested too deeply to be an mlvc file", event.start_mark.line + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _line(node) -> int:
    return node.start_mark.line + 1


def _mapping(name: str, node, what: str) -> list[tuple[Any, Any]]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise FileFormatError(name, f"{what} must be a mapping", _line(node))
    seen = set()
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise FileFormatError(name, f"keys of {what} must be strings", _line(k))
        if k.value in seen:
            raise FileFormatError(name, f"duplicate key {k.value!r} in {what}", _line(k))
        seen.add(k.value)
    return node.value


def _scalar(name: str, node, what: str, kind: type):
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise FileFormatError(name, f"{what} must be a {kind.__name__}", _line(node))
    if kind is int:
        if node.tag != "tag:yaml.org,2002:int" or not re.fullmatch(r"[0-9]+", node.value):
            raise FileFormatError(name, f"{what} must be a non-negative integer, got {node.value!r}", _line(node))
        return int(node.value)
    if node.tag != "tag:yaml.org,2002:str" and not (node.tag.endswith(":int") or node.tag.endswith(":float")):
        raise FileFormatError(name, f"{what} must be a string, got {node.value!r}", _line(node))
    return node.value


def _artifact_path(name: str, node, value: str) -> str:
    try:
        check_relpath(value, "artifact path")
    except InvalidPathError as exc:
        raise FileFormatError(name, exc.message, _line(node)) from None
    first = value.split("/", 1)[0]
    if first in (".git", ".mlvc"):
        raise FileFormatError(name, f"artifact path {value!r} is inside {first}/", _line(node))
    return value


def _schema(name: str, node, expected: int) -> None:
    value = _scalar(name, node, "schema", int)
    if value != expected:
        raise FileFormatError(name, f"unsupported schema {value} (this mlvc reads schema {expected})",
                              _line(node), "upgrade mlvc")


def parse_lock(text: str, name: str = LOCK_FILE) -> Lock:
    node = _load_yaml(name, text)
    lock = Lock()
    if node is None:
        return lock
    have_schema = False
    for k, v in _mapping(name, node, "the file"):
        if k.value == "schema":
            _schema(name, v, LOCK_SCHEMA)
            have_schema = True
        elif k.value == "artifacts":
            import yaml

            if isinstance(v, yaml.ScalarNode) and v.tag.endswith(":null"):
                continue
            for pk, pv in _mapping(name, v, "artifacts"):
                path = _artifact_path(name, pk, pk.value)
                fields: dict[str, Any] = {}
                for fk, fv in _mapping(name, pv, f"artifact {path!r}"):
                    if fk.value == "oid":
                        oid = _scalar(name, fv, "oid", str)
                        if not is_valid_oid(oid):
                            raise FileFormatError(name, f"bad object id {oid!r} for {path!r}", _line(fv))
                        fields["oid"] = oid
                    elif fk.value in ("size", "nfiles"):
                        fields[fk.value] = _scalar(name, fv, fk.value, int)
                    else:
                        raise FileFormatError(name, f"unknown key {fk.value!r} in artifact {path!r}", _line(fk))
                if "oid" not in fields or "size" not in fields:
                    raise FileFormatError(name, f"artifact {path!r} needs oid and size", _line(pk))
                if is_tree_oid(fields["oid"]) != ("nfiles" in fields):
                    raise FileFormatError(name, f"artifact {path!r}: nfiles goes with a tree oid, and only with one",
                                          _line(pk))
                lock.artifacts[path] = LockEntry(path, fields["oid"], fields["size"], fields.get("nfiles"))
        else:
            raise FileFormatError(name, f"unknown key {k.value!r}", _line(k), "expected schema and artifacts")
    if not have_schema and lock.artifacts:
        raise FileFormatError(name, "missing 'schema: 1'")
    _check_nesting(name, list(lock.artifacts))
    return lock


def parse_project(text: str, name: str = PROJECT_FILE) -> Project:
    import yaml

    node = _load_yaml(name, text)
    project = Project()
    if node is None:
        return project
    for k, v in _mapping(name, node, "the file"):
        if k.value == "schema":
            _schema(name, v, PROJECT_SCHEMA)
        elif k.value == "artifacts":
            if isinstance(v, yaml.ScalarNode) and v.tag.endswith(":null"):
                continue
            if not isinstance(v, yaml.SequenceNode):
                raise FileFormatError(name, "artifacts must be a list of paths", _line(v))
            seen = set()
            for item in v.value:
                path = _artifact_path(name, item, _scalar(name, item, "an artifact path", str))
                if path in seen:
                    raise FileFormatError(name, f"artifact {path!r} is listed twice", _line(item))
                seen.add(path)
                project.artifacts.append(path)
        else:
            raise FileFormatError(name, f"unknown key {k.value!r}", _line(k), "expected schema and artifacts")
    _check_nesting(name, project.artifacts)
    return project


def _check_nesting(name: str, paths: list[str]) -> None:
    ordered = sorted(paths)
    for a, b in zip(ordered, ordered[1:]):
        if b.startswith(a + "/"):
            raise FileFormatError(name, f"artifact {b!r} is inside artifact {a!r}", hint="track one or the other")


def _read_text(path: str, name: str) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise FileFormatError(name, "is a folder, expected a file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(name, "is not valid UTF-8") from None


def read_lock(root: str) -> Lock:
    text = _read_text(os.path.join(root, LOCK_FILE), LOCK_FILE)
    return Lock() if text is None else parse_lock(text)


def read_project(root: str) -> Project:
    text = _read_text(os.path.join(root, PROJECT_FILE), PROJECT_FILE)
    if text is None:
        return Project()
    project = parse_project(text)
    project.exists = True
    return project


# ------------------------------------------------------------------ writing


def _q(value: str) -> str:
    """A YAML scalar for a string: plain when that reads back as the same string."""
    if _PLAIN.match(value) and not _NOT_STR.match(value):
        return value
    return _RAW_UNSAFE.sub(_escape, json.dumps(value, ensure_ascii=False))


def _escape(m: re.Match) -> str:
    return f"\\u{ord(m.group()):04x}"


def serialize_lock(lock: Lock) -> str:
    lines = [f"schema: {LOCK_SCHEMA}", "artifacts:" if lock.artifacts else "artifacts: {}"]
    for path in sorted(lock.artifacts):
        e = lock.artifacts[path]
        key = _q(path)
        if len(key.encode("utf-8", "surrogatepass")) > _SIMPLE_KEY_MAX:
            lines.append(f"  ? {key}")  # an explicit key: YAML's simple keys stop at 1024 characters
            lines.append("  :")
        else:
            lines.append(f"  {key}:")
        lines.append(f"    oid: {e.oid}")
        lines.append(f"    size: {e.size}")
        if e.nfiles is not None:
            lines.append(f"    nfiles: {e.nfiles}")
    return "\n".join(lines) + "\n"


def serialize_project(project: Project) -> str:
    lines = [f"schema: {PROJECT_SCHEMA}", "artifacts:" if project.artifacts else "artifacts: []"]
    lines.extend(f"- {_q(p)}" for p in sorted(project.artifacts))
    return "\n".join(lines) + "\n"


def _tmp_dir(root: str) -> str:
    return os.path.join(root, ".mlvc", "tmp")


def write_lock(root: str, lock: Lock) -> None:
    atomic_write(os.path.join(root, LOCK_FILE), serialize_lock(lock).encode("utf-8"), tmp_dir=_tmp_dir(root))


def write_project(root: str, project: Project) -> None:
    atomic_write(os.path.join(root, PROJECT_FILE), serialize_project(project).encode("utf-8"), tmp_dir=_tmp_dir(root))
