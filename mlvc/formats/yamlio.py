"""YAML in and out for the committed text files: composing with line numbers, bounded
nesting, conflict markers, and the one writer (``dump_yaml``).

Every problem found on read names the file, the line and what is wrong.
"""

from __future__ import annotations

import os
import re
from typing import Any

from mlvc.errors import FileFormatError, InvalidPathError
from mlvc.fs.atomic import atomic_write_all
from mlvc.fs.paths import read_regular
from mlvc.objects.paths import check_relpath

CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(\s|$)", re.M)
MAX_DEPTH = 100
OWN_FILES = ("mlvc.yaml", "mlvc.lock")  # at the repository root; with every .gitignore, never an artifact
MAX_FILE_BYTES = 256 * 1024 * 1024  # mlvc.yaml, mlvc.lock: a million artifacts fit in a tenth of it
MAX_INT_DIGITS = 20  # sizes and counts: 2**64 has 20 digits (and int() refuses more than 4,300)



def load_yaml(name: str, text: str, conflict_hint: str | None = None):
    """Compose ``text`` into YAML nodes (which keep line numbers); ``conflict_hint`` says
    what to do when the file holds git merge conflict markers."""
    import yaml

    m = CONFLICT.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise FileFormatError(name, "has git merge conflict markers", line,
                              conflict_hint or "resolve the merge first: edit the file and remove the conflict markers")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        check_depth(name, text, loader)
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


def check_depth(name: str, text: str, loader) -> None:
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
            if depth > MAX_DEPTH:
                raise FileFormatError(name, "nested too deeply to be an mlvc file", event.start_mark.line + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def line_of(node) -> int:
    return node.start_mark.line + 1


def mapping(name: str, node, what: str) -> list[tuple[Any, Any]]:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise FileFormatError(name, f"{what} must be a mapping", line_of(node))
    seen = set()
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode):
            raise FileFormatError(name, f"keys of {what} must be strings", line_of(k))
        if k.value in seen:
            raise FileFormatError(name, f"duplicate key {k.value!r} in {what}", line_of(k))
        seen.add(k.value)
    return node.value


def scalar(name: str, node, what: str, kind: type):
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        raise FileFormatError(name, f"{what} must be a {kind.__name__}", line_of(node))
    if kind is int:
        if node.tag != "tag:yaml.org,2002:int" or not re.fullmatch(r"[0-9]+", node.value):
            raise FileFormatError(name, f"{what} must be a non-negative integer, got {node.value[:40]!r}",
                                  line_of(node))
        if len(node.value.lstrip("0")) > MAX_INT_DIGITS:
            raise FileFormatError(name, f"{what} is too large ({len(node.value):,} digits)", line_of(node))
        return int(node.value)
    if node.tag != "tag:yaml.org,2002:str" and not (node.tag.endswith(":int") or node.tag.endswith(":float")):
        raise FileFormatError(name, f"{what} must be a string, got {node.value!r}", line_of(node))
    return node.value


def artifact_path(name: str, node, value: str) -> str:
    try:
        check_relpath(value, "artifact path")
    except InvalidPathError as exc:
        raise FileFormatError(name, exc.message, line_of(node)) from None
    first = value.split("/", 1)[0]
    if first in (".git", ".mlvc"):
        raise FileFormatError(name, f"artifact path {value!r} is inside {first}/", line_of(node))
    if value in OWN_FILES or value.rpartition("/")[2] == ".gitignore":
        raise FileFormatError(name, f"artifact path {value!r} is a file git must track, not data",
                              line_of(node), "remove that entry")
    return value


def check_schema(name: str, node, known: int) -> int:
    """The file's schema: any from 1 to ``known`` is read; a newer one needs a newer mlvc."""
    value = scalar(name, node, "schema", int)
    if not 1 <= value <= known:
        raise FileFormatError(name, f"unsupported schema {value} (this mlvc reads schemas 1 to {known})",
                              line_of(node), "upgrade mlvc" if value > known else None)
    return value


def is_null(node) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def to_python(name: str, node) -> Any:
    """A node's plain value (any YAML type: a parameter's value, a key kept for a newer mlvc)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise FileFormatError(name, f"invalid YAML: {getattr(exc, 'problem', None) or exc}", line_of(node)) from None
    except (ValueError, OverflowError, RecursionError) as exc:  # an integer of more than 4,300 digits ...
        raise FileFormatError(name, f"invalid value: {str(exc)[:100]}", line_of(node)) from None
    finally:
        loader.dispose()


def dump_yaml(data: dict) -> str:
    """The one YAML writer: PyYAML's emitter (C where present: the same text), block style,
    keys in the order given, no line folding, UTF-8 kept. Pinned by golden tests."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
                     width=2**31 - 1, indent=2)


def check_nesting(name: str, paths: list[str]) -> None:
    ordered = sorted(paths)
    for a, b in zip(ordered, ordered[1:]):
        if b.startswith(a + "/"):
            raise FileFormatError(name, f"artifact {b!r} is inside artifact {a!r}", hint="track one or the other")


def read_text(path: str, name: str) -> str | None:
    """The text of a committed file (None if there is none): a regular file only, never through a
    symlink, at most ``MAX_FILE_BYTES``; anything else is a ``FileFormatError`` naming it."""
    data = read_regular(path, name, MAX_FILE_BYTES, os.path.dirname(path))
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(name, "is not valid UTF-8") from None


def _tmp_dir(root: str) -> str:
    return os.path.join(root, ".mlvc", "tmp")


def write_text(root: str, name: str, text: str) -> None:
    """Write a committed file at the repository root atomically (its temp file in .mlvc/tmp)."""
    write_texts(root, {name: text})


def write_texts(root: str, texts: dict[str, str]) -> None:
    """Write committed files at the repository root: all of them or, on any error, none."""
    atomic_write_all([(os.path.join(root, name), text.encode("utf-8")) for name, text in texts.items()],
                     tmp_dir=_tmp_dir(root))
