"""YAML values that remember their line, so an error found after templating still names it.

``located(name, node)`` turns a composed YAML node into plain values where every
string is an ``LStr``, every mapping an ``LDict`` and every list an ``LList``,
each with the ``line`` it came from (an ``LDict`` also knows each key's line).
Numbers, booleans and nulls stay plain; ``line_of`` falls back to the parent's.
"""

from __future__ import annotations

from typing import Any

from mlvc.formats.yamlio import line_of as node_line
from mlvc.formats.yamlio import mapping, to_python


class LStr(str):
    line: int | None = None

    def __new__(cls, value: str, line: int | None = None) -> "LStr":
        s = super().__new__(cls, value)
        s.line = line
        return s


class LDict(dict):
    line: int | None = None
    key_lines: dict

    def __init__(self, *args, line: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.line = line
        self.key_lines = {}


class LList(list):
    line: int | None = None

    def __init__(self, *args, line: int | None = None) -> None:
        super().__init__(*args)
        self.line = line


def line_of(value: Any, default: int | None = None) -> int | None:
    line = getattr(value, "line", None)
    return line if line is not None else default


def key_line(d: Any, key: str, default: int | None = None) -> int | None:
    lines = getattr(d, "key_lines", None)
    if lines and key in lines:
        return lines[key]
    return line_of(d, default)


def located(name: str, node) -> Any:
    import yaml

    if node is None:
        return None
    if isinstance(node, yaml.MappingNode):
        d = LDict(line=node_line(node))
        for k, v in mapping(name, node, "a mapping"):
            d[LStr(k.value, node_line(k))] = located(name, v)
            d.key_lines[k.value] = node_line(k)
        return d
    if isinstance(node, yaml.SequenceNode):
        return LList((located(name, item) for item in node.value), line=node_line(node))
    value = to_python(name, node)
    if isinstance(value, str):
        return LStr(value, node_line(node))
    return value


def plain(value: Any) -> Any:
    """The same value with plain ``str``, ``dict`` and ``list`` (for writing, JSON and the lock)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def relocate(value: Any, line: int | None) -> Any:
    """A plain value (from a params file or ``vars``) as located values on ``line``."""
    if isinstance(value, dict):
        d = LDict(line=line)
        for k, v in value.items():
            d[k] = relocate(v, line)
        return d
    if isinstance(value, list):
        return LList((relocate(v, line) for v in value), line=line)
    if isinstance(value, str) and not isinstance(value, LStr):
        return LStr(value, line)
    return value
