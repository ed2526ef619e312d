"""Templating in ``mlvc.yaml``, as DVC users rely on it.

- ``vars:`` (at the top, or in a stage): a list of mappings of values and of params
  files (``params.yaml``, ``config.json:train,model`` for some keys only).
  ``params.yaml`` at the repository root, when there is one, is always read first.
- ``${name}``, ``${section.key}``, ``${list[0]}`` in any value of a stage (cmd,
  deps, outs, params, wdir ...). A value that is exactly one ``${...}`` takes the
  variable's value as it is (a list, a number); inside text a variable must be a
  string, number or boolean (``true``/``false``). ``\\${`` stands for a literal ``${``.
  In a cmd, a mapping becomes options as DVC unpacks it: ``--key 'value'``,
  ``--flag`` for true, ``--key a b`` for a list, nested keys joined with '.'.
  Two mappings of one name (in params.yaml and in ``vars:``) merge.
- ``foreach: LIST | MAPPING | ${var}`` with ``do: STAGE`` makes one stage per item,
  named ``NAME@ITEM`` (a string or number item), ``NAME@INDEX`` (other items) or
  ``NAME@KEY`` (a mapping), with ``${item}`` (and ``${key}``) defined;
  ``matrix: {a: LIST, b: LIST}`` makes one per combination, ``NAME@A-B``, with
  ``${item.a}`` and ``${item.b}``.

An undefined variable is an error naming the file, the line and the variable.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
from typing import Any, Iterator

from mlvc.errors import FileFormatError, MlvcError
from mlvc.pipeline.located import LDict, LList, LStr, key_line, line_of, relocate
from mlvc.pipeline.params import DEFAULT_PARAMS, lookup, is_missing, read_params

_VAR = re.compile(r"(\\)?\$\{\s*([^{}]*?)\s*\}")
_PATH = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*")
_KEY = re.compile(r"[^\s:,@\\${}]+")  # what may follow the @ of a generated stage name
MAX_EXPANDED = 100_000  # stages one foreach or matrix may make


def _get(ctx: dict[str, Any], path: str) -> Any:
    value: Any = ctx
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            i = int(part[1:-1])
            if not isinstance(value, list) or i >= len(value):
                return _UNDEFINED
            value = value[i]
        elif isinstance(value, dict):
            found = lookup(value, part) if value is not ctx else value.get(part, _UNDEFINED)
            if found is _UNDEFINED or is_missing(found):
                return _UNDEFINED
            value = found
        else:
            return _UNDEFINED
    return value


_UNDEFINED = object()


def _text(name: str, var: str, value: Any, line: int | None) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else "null"
    raise FileFormatError(name, f"variable {var!r} is {kind}: it cannot be put inside text", line,
                          "use it as a whole value, or name one of its keys")


def _flatten(d: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _options(name: str, var: str, d: dict, line: int | None) -> str:
    """A mapping in a cmd as options, as DVC unpacks it: ``--key value`` (strings quoted for
    the shell; nested keys joined with '.'), ``--flag`` for true (nothing for false),
    ``--key a b`` for a list."""
    words: list[str] = []
    for k, v in _flatten(d):
        if isinstance(v, bool):
            if v:
                words.append(f"--{k}")
        elif isinstance(v, list):
            items = []
            for item in v:
                if isinstance(item, (list, dict)):
                    raise FileFormatError(name, f"variable {var!r}: {k} holds a nested list or mapping, "
                                                "which cannot be put in a command", line)
                items.append(shlex.quote(item) if isinstance(item, str) else _text(name, var, item, line))
            words.append(" ".join([f"--{k}", *items]))
        elif isinstance(v, str):
            words.append(f"--{k} {shlex.quote(v)}")
        elif v is None:
            raise FileFormatError(name, f"variable {var!r}: {k} is null, which cannot be put in a command", line)
        else:
            words.append(f"--{k} {v}")
    return " ".join(words)


def interpolate(name: str, value: Any, ctx: dict[str, Any], line: int | None = None, unpack: bool = False) -> Any:
    """``value`` with every ``${...}`` in its strings replaced, mappings' keys included.
    With ``unpack`` (a stage's cmd) a mapping becomes command-line options, as in DVC."""
    if isinstance(value, dict):
        out = LDict(line=line_of(value, line))
        out.key_lines = dict(getattr(value, "key_lines", {}))
        for k, v in value.items():
            here = key_line(value, k, line)
            key = k
            if isinstance(k, str) and "${" in k:  # `- ${item}.csv: {cache: false}`
                key = interpolate(name, LStr(k, here), ctx, here)
                if not isinstance(key, str):
                    raise FileFormatError(name, f"key {k!r} must become a string, not {type(key).__name__}", here)
                if key in out:
                    raise FileFormatError(name, f"key {k!r} becomes {key!r}, which is there already", here)
                out.key_lines[str(key)] = here
            out[key] = interpolate(name, v, ctx, here, unpack)
        return out
    if isinstance(value, list):
        return LList((interpolate(name, v, ctx, line_of(value, line), unpack) for v in value),
                     line=line_of(value, line))
    if not isinstance(value, str) or "${" not in value:
        return value
    here = line_of(value, line)

    def resolve(m: re.Match) -> Any:
        var = m.group(2)
        if not _PATH.fullmatch(var):
            raise FileFormatError(name, f"${{{var}}} is not a variable name", here,
                                  "write ${name}, ${section.key} or ${list[0]}")
        found = _get(ctx, var)
        if found is _UNDEFINED:
            raise FileFormatError(name, f"undefined variable {var!r}", here,
                                  "define it under vars: (or in params.yaml), or write \\${ for a literal ${")
        return found

    whole = _VAR.fullmatch(value)
    if whole and not whole.group(1) and not (unpack and isinstance(resolve(whole), dict)):
        return relocate(resolve(whole), here)

    def sub(m: re.Match) -> str:
        if m.group(1):
            return m.group(0)[1:]
        found = resolve(m)
        if unpack and isinstance(found, dict):
            return _options(name, m.group(2), found, here)
        return _text(name, m.group(2), found, here)

    return LStr(_VAR.sub(sub, value), here)


def merge(ctx: dict[str, Any], key: str, value: Any) -> None:
    """Put ``value`` at ``key``: two mappings merge (``grp: {a: 1}`` and ``grp: {b: 2}``, as in
    DVC); otherwise the later value wins."""
    old = ctx.get(key)
    if isinstance(old, dict) and isinstance(value, dict):
        both = LDict(old, line=line_of(old))
        for k, v in value.items():
            merge(both, k, v)
        ctx[key] = both
    else:
        ctx[key] = value


def load_vars(root: str, name: str, items: Any, ctx: dict[str, Any], wdir: str = "",
              line: int | None = None) -> None:
    """Add the values of a ``vars:`` list to ``ctx`` (later ones win over earlier ones)."""
    if items is None:
        return
    if not isinstance(items, list):
        raise FileFormatError(name, "vars must be a list of params files and mappings", line_of(items, line))
    for item in items:
        here = line_of(item, line_of(items, line))
        if isinstance(item, dict):
            for k, v in item.items():
                merge(ctx, str(k), interpolate(name, v, ctx, key_line(item, k, here)))
            continue
        if not isinstance(item, str):
            raise FileFormatError(name, f"vars: {item!r} is neither a params file nor a mapping", here)
        path, _, keys = item.partition(":")
        rel = os.path.normpath(os.path.join(wdir, path)).replace(os.sep, "/")
        if rel.startswith("../") or rel == ".." or os.path.isabs(path):
            raise FileFormatError(name, f"vars file {path!r} is outside the repository", here)
        try:
            data = read_params(root, rel)
        except MlvcError as exc:
            raise FileFormatError(name, f"vars file {path!r}: {exc.message}", here, exc.hint) from None
        if data is None:
            raise FileFormatError(name, f"vars file {path!r} does not exist", here)
        if keys:
            for key in (k.strip() for k in keys.split(",")):
                found = lookup(data, key)
                if is_missing(found):
                    raise FileFormatError(name, f"vars file {path!r} has no key {key!r}", here)
                merge(ctx, key.split(".")[-1] if "." in key else key, relocate(found, here))
        else:
            for k, v in data.items():
                merge(ctx, k, relocate(v, here))


def base_context(root: str, name: str, vars_value: Any) -> dict[str, Any]:
    """The variables every stage sees: ``params.yaml`` (when there is one), then ``vars:``."""
    ctx: dict[str, Any] = {}
    try:
        data = read_params(root, DEFAULT_PARAMS)
    except MlvcError:
        data = None  # a broken params.yaml is reported where a stage uses it
    if data:
        ctx.update((k, relocate(v, None)) for k, v in data.items())
    load_vars(root, name, vars_value, ctx)
    return ctx


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float))  # bool is an int


def _key(value: Any, index: int) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if _scalar(value) else str(index)


def _items(name: str, stage: str, what: str, value: Any, ctx: dict[str, Any], line: int | None) -> Any:
    value = interpolate(name, value, ctx, line)
    if not isinstance(value, (list, dict)) or not value:
        raise FileFormatError(name, f"stage {stage!r}: {what} must be a non-empty list or mapping",
                              line_of(value, line))
    return value


def expand(root: str, name: str, stages: dict, ctx: dict[str, Any]) -> Iterator[tuple[str, LDict, str | None]]:
    """Each stage of ``stages`` (a located mapping) as ``(name, resolved body, group)``;
    ``group`` is the name of the ``foreach``/``matrix`` it came from, else None."""
    for stage, body in stages.items():
        here = key_line(stages, stage)
        if not isinstance(body, dict):
            raise FileFormatError(name, f"stage {stage!r} must be a mapping", here)
        if "foreach" in body or "matrix" in body:
            yield from _generate(root, name, str(stage), body, ctx, here)
            continue
        yield str(stage), _resolve(root, name, str(stage), body, ctx, here), None


def _resolve(root: str, name: str, stage: str, body: dict, ctx: dict[str, Any], line: int | None) -> LDict:
    local = ctx
    if "vars" in body:
        local = dict(ctx)
        wdir = body.get("wdir")
        load_vars(root, name, body["vars"], local, wdir if isinstance(wdir, str) and "${" not in wdir else "",
                  key_line(body, "vars", line))
    out = LDict(line=line_of(body, line))
    out.key_lines = dict(getattr(body, "key_lines", {}))
    for k, v in body.items():
        if k != "vars":
            out[k] = interpolate(name, v, local, key_line(body, k, line), unpack=(k == "cmd"))
    return out


def _generate(root: str, name: str, stage: str, body: dict, ctx: dict[str, Any], line: int | None):
    if "foreach" in body and "matrix" in body:
        raise FileFormatError(name, f"stage {stage!r} has both foreach and matrix", line, "keep one of them")
    do_line = key_line(body, "do", line)
    if "foreach" in body:
        extra = set(body) - {"foreach", "do"}
        if extra:
            raise FileFormatError(name, f"stage {stage!r}: beside foreach only do: goes ({sorted(extra)[0]!r} is here)",
                                  key_line(body, sorted(extra)[0], line), "move it into do:")
        if not isinstance(body.get("do"), dict):
            raise FileFormatError(name, f"stage {stage!r}: foreach needs a do: mapping (the stage to make)", do_line)
        items = _items(name, stage, "foreach", body["foreach"], ctx, key_line(body, "foreach", line))
        template = body["do"]
        if isinstance(items, dict):
            pairs = [(str(k), {"key": LStr(str(k), line), "item": v}) for k, v in items.items()]
        else:
            pairs = [(_key(v, i), {"item": v}) for i, v in enumerate(items)]
    else:
        matrix = _items(name, stage, "matrix", body["matrix"], ctx, key_line(body, "matrix", line))
        if not isinstance(matrix, dict):
            raise FileFormatError(name, f"stage {stage!r}: matrix must map names to lists", line_of(matrix, line))
        lists = []
        for k, v in matrix.items():
            if not isinstance(v, list) or not v:
                raise FileFormatError(name, f"stage {stage!r}: matrix {k!r} must be a non-empty list",
                                      key_line(matrix, k, line))
            lists.append([(_key(x, i) if _scalar(x) else f"{k}{i}", x) for i, x in enumerate(v)])
        total = 1
        for v in lists:
            total *= len(v)
        if total > MAX_EXPANDED:
            raise FileFormatError(name, f"stage {stage!r}: matrix makes {total:,} stages", line)
        keys = list(matrix)
        template = LDict({k: v for k, v in body.items() if k != "matrix"}, line=line_of(body, line))
        template.key_lines = dict(getattr(body, "key_lines", {}))
        pairs = []
        for combo in itertools.product(*lists):
            item = LDict({k: x for k, (_, x) in zip(keys, combo)}, line=line)
            pairs.append(("-".join(label for label, _ in combo), {"item": item}))
    if len(pairs) > MAX_EXPANDED:
        raise FileFormatError(name, f"stage {stage!r}: foreach makes {len(pairs):,} stages", line)
    seen = set()
    for key, local_vars in pairs:
        if not _KEY.fullmatch(key):
            raise FileFormatError(name, f"stage {stage!r}: {key!r} cannot name a stage ({stage}@{key})", line,
                                  "use items without spaces, ':', ',' or '@', or a mapping with such keys")
        if key in seen:
            raise FileFormatError(name, f"stage {stage!r}: two items make the stage {stage}@{key}", line)
        seen.add(key)
        local = dict(ctx)
        local.update(local_vars)
        yield f"{stage}@{key}", _resolve(root, name, stage, template, local, do_line), stage
