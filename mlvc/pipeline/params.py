"""Params files: YAML (``params.yaml`` is the default), JSON and TOML, and the values of
keys in them (``train.lr``; a key may name a whole section)."""

from __future__ import annotations

import json
import os
from typing import Any

from mlvc.errors import FileFormatError
from mlvc.fs.paths import is_within
from mlvc.formats.yamlio import load_yaml, read_text, to_python

DEFAULT_PARAMS = "params.yaml"
KINDS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
_MISSING = object()


def kind_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in KINDS:
        raise FileFormatError(path, "is not a params file mlvc reads",
                              hint="params files are YAML (.yaml, .yml), JSON (.json) or TOML (.toml)")
    return KINDS[ext]


def parse_params(text: str, name: str) -> dict[str, Any]:
    """The values of a params file's text (``name`` says its kind and is named in errors)."""
    kind = kind_of(name)
    if kind == "yaml":
        node = load_yaml(name, text)
        data = {} if node is None else to_python(name, node)
    elif kind == "json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            line = getattr(exc, "lineno", None)
            raise FileFormatError(name, f"invalid JSON: {getattr(exc, 'msg', str(exc)[:100])}", line) from None
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            raise FileFormatError(name, f"invalid TOML: {str(exc)[:200]}") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise FileFormatError(name, "a params file must hold a mapping of names to values")
    return data


def read_params(root: str, path: str) -> dict[str, Any] | None:
    """The values in the params file at repo-relative ``path``; None when there is no such file.

    A params file may be a symlink to a file inside the repository; one that leads out of
    it is refused. Only a regular file is read, and at most ``MAX_FILE_BYTES`` of it."""
    real = os.path.realpath(os.path.join(root, path))
    if not is_within(os.path.realpath(root), real):
        raise FileFormatError(path, f"leads out of the repository (to {real})",
                              hint="params files are read inside the repository only")
    text = read_text(real, path)
    return None if text is None else parse_params(text, path)


def lookup(data: dict[str, Any], key: str) -> Any:
    """The value at ``key`` (``a.b.c`` walks sections; a key that holds dots itself is found
    too); ``_MISSING`` when there is none."""
    if key in data:
        return data[key]
    head, dot, rest = key.partition(".")
    while dot:
        if head in data and isinstance(data[head], dict):
            found = lookup(data[head], rest)
            if found is not _MISSING:
                return found
        more, dot, rest = rest.partition(".")
        head = f"{head}.{more}"
    return _MISSING


def values(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """``{key: value}`` for ``keys`` (every top-level key when empty); a key absent from
    ``data`` is left out (the caller says it is missing)."""
    if not keys:
        return dict(data)
    found = {}
    for key in keys:
        value = lookup(data, key)
        if value is not _MISSING:
            found[key] = value
    return found


def is_missing(value: Any) -> bool:
    return value is _MISSING
