"""``mlvc.yaml``: what is tracked and how it is built; written by commands, edited by people.

Schema 2 (written; schema 1 is read)::

    schema: 2
    artifacts:            # paths tracked with `mlvc add`
    - data/images
    - model.pkl
    vars:                 # values and params files for ${...} in stages (optional)
    - params.yaml
    stages:               # how artifacts are built (mlvc/pipeline reads these)
      featurize:
        cmd: python featurize.py
        ...

People write this file, so a key this version does not know is refused naming
its line (a typo must not be ignored); a newer schema asks for a newer mlvc.
``stages`` and ``vars`` are kept exactly as read (order included) when mlvc rewrites
the file; their YAML nodes are kept too, so ``mlvc.pipeline`` can name lines.

When mlvc writes over a file people edited, ``serialize_project(project, over=old_text)``
keeps their text (comments, blank lines, order, layout) wherever mlvc changed no entry
(``yamltext.update_yaml_blocks``), and only if that text parses back to exactly ``project``;
otherwise the file is written afresh, as a new file is.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import FileFormatError
from mlvc.formats.yamlio import (artifact_path, check_nesting, check_schema, dump_yaml, is_null, line_of,
                                 load_yaml, mapping, read_text, scalar, to_python, write_text)
from mlvc.formats.yamltext import update_yaml_blocks

PROJECT_FILE = "mlvc.yaml"
PROJECT_SCHEMA = 2
_KEYS = ("schema", "artifacts", "vars", "stages")


@dataclass
class Project:
    artifacts: list[str] = field(default_factory=list)
    stages: dict[str, Any] = field(default_factory=dict)  # as written; interpreted by mlvc.pipeline
    vars: list[Any] = field(default_factory=list)  # as written; interpreted by mlvc.pipeline
    exists: bool = field(default=False, compare=False)  # read from a file (not a default)
    nodes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # "stages"/"vars": YAML nodes
    text: str | None = field(default=None, compare=False, repr=False)  # the text it was parsed from
    schema: int | None = field(default=None, compare=False, repr=False)  # the schema that text declares
    read: tuple | None = field(default=None, compare=False, repr=False)  # (artifacts, stages, vars) as read


def parse_project(text: str, name: str = PROJECT_FILE) -> Project:
    import yaml

    node = load_yaml(name, text)
    project = Project(text=text)
    if node is None:
        return project
    for k, v in mapping(name, node, "the file"):
        if k.value == "schema":
            project.schema = check_schema(name, v, PROJECT_SCHEMA)
        elif k.value == "artifacts":
            if is_null(v):
                continue
            if not isinstance(v, yaml.SequenceNode):
                raise FileFormatError(name, "artifacts must be a list of paths", line_of(v))
            seen = set()
            for item in v.value:
                path = artifact_path(name, item, scalar(name, item, "an artifact path", str))
                if path in seen:
                    raise FileFormatError(name, f"artifact {path!r} is listed twice", line_of(item))
                seen.add(path)
                project.artifacts.append(path)
        elif k.value == "stages":
            if is_null(v):
                continue
            for sk, sv in mapping(name, v, "stages"):
                mapping(name, sv, f"stage {sk.value!r}")
            project.stages = to_python(name, v)
            project.nodes["stages"] = v
        elif k.value == "vars":
            if is_null(v):
                continue
            if not isinstance(v, yaml.SequenceNode):
                raise FileFormatError(name, "vars must be a list (of params files and mappings)", line_of(v))
            project.vars = to_python(name, v)
            project.nodes["vars"] = v
        else:
            raise FileFormatError(name, f"unknown key {k.value!r}", line_of(k),
                                  f"known keys: {', '.join(_KEYS)}; if a newer mlvc wrote it, upgrade mlvc")
    check_nesting(name, project.artifacts)
    # what was read, for serialize_project(over=text): a copy, which a verb's changes leave alone
    project.read = (tuple(project.artifacts), *copy.deepcopy((project.stages, project.vars)))
    return project


def read_project(root: str) -> Project:
    text = read_text(os.path.join(root, PROJECT_FILE), PROJECT_FILE)
    if text is None:
        return Project()
    project = parse_project(text)
    project.exists = True
    return project


def serialize_project(project: Project, over: str | None = None) -> str:
    """The text of ``project``: mlvc's own layout (artifacts sorted) or, given ``over`` (the
    text of the file it replaces, ``project.text`` when read from it), that text with what
    changed changed and the rest as people wrote it."""
    text = _dump(project, PROJECT_SCHEMA)
    if over is None:
        return text
    kept = _kept(over, text, project if over == project.text else None)
    return text if kept is None else kept


def _dump(project: Project, schema: int | None) -> str:
    data: dict[str, Any] = {} if schema is None else {"schema": schema}
    data["artifacts"] = sorted(project.artifacts)
    if project.vars:
        data["vars"] = project.vars
    if project.stages:
        data["stages"] = project.stages
    return dump_yaml(data)


def _kept(old: str, new: str, read_from: Project | None) -> str | None:
    """``old`` brought up to ``new`` (mlvc's text of the new entries) as a three-way text merge
    from what mlvc would have written for ``old``'s entries (those ``read_from`` read from it,
    or else ``old`` parsed again); None unless it reads as ``new``."""
    if read_from is not None and read_from.read is not None:
        artifacts, stages, vars_ = read_from.read
        before = Project(list(artifacts), stages, vars_, schema=read_from.schema)
    else:
        try:
            before = parse_project(old)
        except FileFormatError:
            return None
    base = _dump(before, before.schema)
    if old == base:
        return new  # mlvc's own layout: nothing of people's to keep
    if new == base:
        return old  # no entry changed
    if "\r\n" in old:  # people's line ends
        merged = update_yaml_blocks(base.replace("\n", "\r\n"), old, new.replace("\n", "\r\n"))
    else:
        merged = update_yaml_blocks(base, old, new)
    if merged is None:
        return None
    try:
        after = parse_project(merged)
    except FileFormatError:
        return None
    return merged if after.schema == PROJECT_SCHEMA and _dump(after, PROJECT_SCHEMA) == new else None


def write_project(root: str, project: Project) -> None:
    write_text(root, PROJECT_FILE, serialize_project(project, over=project.text))
