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
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import FileFormatError
from mlvc.formats.yamlio import (artifact_path, check_nesting, check_schema, dump_yaml, is_null, line_of,
                                 load_yaml, mapping, read_text, scalar, to_python, write_text)

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


def parse_project(text: str, name: str = PROJECT_FILE) -> Project:
    import yaml

    node = load_yaml(name, text)
    project = Project()
    if node is None:
        return project
    for k, v in mapping(name, node, "the file"):
        if k.value == "schema":
            check_schema(name, v, PROJECT_SCHEMA)
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
    return project


def read_project(root: str) -> Project:
    text = read_text(os.path.join(root, PROJECT_FILE), PROJECT_FILE)
    if text is None:
        return Project()
    project = parse_project(text)
    project.exists = True
    return project


def serialize_project(project: Project) -> str:
    data: dict[str, Any] = {"schema": PROJECT_SCHEMA, "artifacts": sorted(project.artifacts)}
    if project.vars:
        data["vars"] = project.vars
    if project.stages:
        data["stages"] = project.stages
    return dump_yaml(data)


def write_project(root: str, project: Project) -> None:
    write_text(root, PROJECT_FILE, serialize_project(project))
