"""``mlvc.yaml``: what is tracked; written by commands, editable by people.

mlvc.yaml::

    schema: 1
    artifacts:
    - data/images
    - model.pkl
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from mlvc.errors import FileFormatError
from mlvc.formats.yamlio import (artifact_path, check_nesting, check_schema, line_of, load_yaml, mapping, q,
                                 read_text, scalar, write_text)

PROJECT_FILE = "mlvc.yaml"
PROJECT_SCHEMA = 1


@dataclass
class Project:
    artifacts: list[str] = field(default_factory=list)
    exists: bool = field(default=False, compare=False)  # read from a file (not a default)


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
            if isinstance(v, yaml.ScalarNode) and v.tag.endswith(":null"):
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
        else:
            raise FileFormatError(name, f"unknown key {k.value!r}", line_of(k), "expected schema and artifacts")
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
    lines = [f"schema: {PROJECT_SCHEMA}", "artifacts:" if project.artifacts else "artifacts: []"]
    lines.extend(f"- {q(p)}" for p in sorted(project.artifacts))
    return "\n".join(lines) + "\n"


def write_project(root: str, project: Project) -> None:
    write_text(root, PROJECT_FILE, serialize_project(project))
