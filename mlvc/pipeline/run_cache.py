"""The run-cache: what every successful stage run made, by what it ran with.

A run's signature is its cmd, its wdir, each dep's id, each param's value and
the outs it declares. After a stage runs, ``save`` writes the ids of its outs
to ``<cache>/runs/<2 hex>/<30 hex>`` (the signature's XXH3-128: content
addressed, beside the cache's ``files/``, so a shared cache shares it too).
When a stage must run and its signature was seen before, and every object of
those outs is in the cache, ``mlvc repro`` checks the outs out instead of
running the command ("restored from run-cache").

Only stages whose outs are all cached and none ``persist`` take part: an out
that is not cached cannot be brought back, and a persistent one depends on
what was there before. A record is small JSON; one that cannot be read is
ignored (the stage runs), never trusted.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mlvc import fs
from mlvc.errors import FileFormatError, MlvcError
from mlvc.formats.lock import LockEntry
from mlvc.objects.hashing import hash_bytes, is_tree_oid, is_valid_oid
from mlvc.objects.paths import check_relpath
from mlvc.objects.tree import file_oids
from mlvc.pipeline.stage import Stage
from mlvc.repo import Repo

RUNS = "runs"
SCHEMA = 1
MAX_RECORD_BYTES = 1024 * 1024


def eligible(stage: Stage) -> bool:
    return bool(stage.outs) and all(o.cache and not o.persist for o in stage.outs)


def signature(stage: Stage, deps: dict[str, LockEntry], params: dict[str, dict[str, Any]]) -> str:
    data = {
        "cmd": stage.recorded_cmd, "wdir": stage.wdir,
        "deps": {p: deps[p].oid for p in sorted(deps)},
        "params": _canonical(params),
        "outs": sorted(o.path for o in stage.outs),
    }
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr, ensure_ascii=False)
    return hash_bytes(text.encode("utf-8"))


def _canonical(value: Any) -> Any:
    """A value JSON can sort: a key that is not a string (YAML allows ``1:`` or ``true:``)
    is written with its type, so ``1`` and ``"1"`` stay apart."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else f"{type(k).__name__}:{k!r}": _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def _path(repo: Repo, key: str, create: bool) -> str:
    folder = fs.safe_dir(repo.odb.cache, f"{RUNS}/{key[:2]}", create=create, shown_root=None)
    return os.path.join(folder, key[2:])


def _entry_json(e: LockEntry) -> dict[str, Any]:
    d: dict[str, Any] = {"oid": e.oid, "size": e.size}
    if e.nfiles is not None:
        d["nfiles"] = e.nfiles
    if e.executable:
        d["executable"] = True
    return d


def save(repo: Repo, key: str, outs: list[LockEntry]) -> None:
    """Remember that the run with signature ``key`` made ``outs`` (already in the cache)."""
    text = json.dumps({"schema": SCHEMA, "outs": {e.path: _entry_json(e) for e in outs}}, sort_keys=True)
    path = _path(repo, key, create=True)
    fs.atomic_write(path, text.encode("utf-8"), fsync=False, tmp_dir=os.path.dirname(path))


def _parse(data: bytes, stage: Stage) -> list[LockEntry] | None:
    try:
        record = json.loads(data)
        outs = record["outs"]
        if record.get("schema") != SCHEMA or not isinstance(outs, dict):
            return None
        if sorted(outs) != sorted(o.path for o in stage.outs):
            return None
        entries = []
        for path, d in outs.items():
            check_relpath(path)
            oid, size, nfiles = d["oid"], d["size"], d.get("nfiles")
            if not is_valid_oid(oid) or type(size) is not int or size < 0:
                return None
            if is_tree_oid(oid) != (type(nfiles) is int):
                return None
            entries.append(LockEntry(path, oid, size, nfiles, d.get("executable") is True))
        return entries
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, MlvcError):
        return None


def lookup(repo: Repo, key: str, stage: Stage) -> list[LockEntry] | None:
    """The outs a run with signature ``key`` made, if known and every object is in the cache."""
    try:
        data = fs.read_regular(_path(repo, key, create=False), "a run-cache record", MAX_RECORD_BYTES)
    except (OSError, FileFormatError, MlvcError):
        return None
    if data is None:
        return None
    entries = _parse(data, stage)
    if entries is None:
        return None
    odb = repo.odb
    for e in entries:
        if not odb.exists(e.oid):
            return None
        if e.is_dir:
            try:
                if odb.missing(file_oids(odb.walk_tree(e.oid, check_meta=False))):
                    return None
            except MlvcError:
                return None
    return entries
