"""``mlvc.lock``: the exact hashes of every artifact; written only by mlvc, committed to git.

Sorted and deterministic, so a change shows as a small git diff.

mlvc.lock, schema 1::

    schema: 1
    artifacts:
      data/images:             # repo-relative POSIX path
        oid: <32 hex>.tree     # a tree for a directory, 32 hex for a file
        size: 81920000         # bytes (for a directory: all its files)
        nfiles: 20000          # directories only
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import FileFormatError
from mlvc.formats.yamlio import (SIMPLE_KEY_MAX, artifact_path, check_nesting, check_schema, line_of, load_yaml,
                                 mapping, q, read_text, scalar, write_text)
from mlvc.objects.hashing import is_tree_oid, is_valid_oid

LOCK_FILE = "mlvc.lock"
LOCK_SCHEMA = 1


def _conflict_hint(name: str) -> str:
    return (f"resolve the merge first: take one side's data with `git checkout --theirs {name}` (or --ours) "
            f"and run `mlvc checkout`, or keep the workspace's data with `git checkout --ours {name}` "
            f"and run `mlvc commit`")


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


def parse_lock(text: str, name: str = LOCK_FILE) -> Lock:
    node = load_yaml(name, text, _conflict_hint(name) if name == LOCK_FILE else None)
    lock = Lock()
    if node is None:
        return lock
    have_schema = False
    for k, v in mapping(name, node, "the file"):
        if k.value == "schema":
            check_schema(name, v, LOCK_SCHEMA)
            have_schema = True
        elif k.value == "artifacts":
            import yaml

            if isinstance(v, yaml.ScalarNode) and v.tag.endswith(":null"):
                continue
            for pk, pv in mapping(name, v, "artifacts"):
                path = artifact_path(name, pk, pk.value)
                fields: dict[str, Any] = {}
                for fk, fv in mapping(name, pv, f"artifact {path!r}"):
                    if fk.value == "oid":
                        oid = scalar(name, fv, "oid", str)
                        if not is_valid_oid(oid):
                            raise FileFormatError(name, f"bad object id {oid!r} for {path!r}", line_of(fv))
                        fields["oid"] = oid
                    elif fk.value in ("size", "nfiles"):
                        fields[fk.value] = scalar(name, fv, fk.value, int)
                    else:
                        raise FileFormatError(name, f"unknown key {fk.value!r} in artifact {path!r}", line_of(fk))
                if "oid" not in fields or "size" not in fields:
                    raise FileFormatError(name, f"artifact {path!r} needs oid and size", line_of(pk))
                if is_tree_oid(fields["oid"]) != ("nfiles" in fields):
                    raise FileFormatError(name, f"artifact {path!r}: nfiles goes with a tree oid, and only with one",
                                          line_of(pk))
                lock.artifacts[path] = LockEntry(path, fields["oid"], fields["size"], fields.get("nfiles"))
        else:
            raise FileFormatError(name, f"unknown key {k.value!r}", line_of(k), "expected schema and artifacts")
    if not have_schema and lock.artifacts:
        raise FileFormatError(name, "missing 'schema: 1'")
    check_nesting(name, list(lock.artifacts))
    return lock


def read_lock(root: str) -> Lock:
    text = read_text(os.path.join(root, LOCK_FILE), LOCK_FILE)
    return Lock() if text is None else parse_lock(text)


def serialize_lock(lock: Lock) -> str:
    lines = [f"schema: {LOCK_SCHEMA}", "artifacts:" if lock.artifacts else "artifacts: {}"]
    for path in sorted(lock.artifacts):
        e = lock.artifacts[path]
        key = q(path)
        if len(key.encode("utf-8", "surrogatepass")) > SIMPLE_KEY_MAX:
            lines.append(f"  ? {key}")  # an explicit key: YAML's simple keys stop at 1024 characters
            lines.append("  :")
        else:
            lines.append(f"  {key}:")
        lines.append(f"    oid: {e.oid}")
        lines.append(f"    size: {e.size}")
        if e.nfiles is not None:
            lines.append(f"    nfiles: {e.nfiles}")
    return "\n".join(lines) + "\n"


def write_lock(root: str, lock: Lock) -> None:
    write_text(root, LOCK_FILE, serialize_lock(lock))
