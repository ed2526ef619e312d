"""Why a stage would run: what changed since mlvc.lock recorded it (its cmd, a dep's id, a
param's value, an out) or what is missing. Nothing is stored in the cache here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlvc.errors import StageInputError
from mlvc.formats.lock import Lock, LockEntry, StageRecord
from mlvc.objects.hashing import hash_file
from mlvc.objects.tree import encode_entries
from mlvc.ops.targets import check_inside
from mlvc.pipeline.params import is_missing, lookup, read_params
from mlvc.pipeline.stage import Stage
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace.build import file_entries, hash_files
from mlvc.workspace.scan import fingerprint, scan


@dataclass(frozen=True)
class Reason:
    """One reason a stage runs. ``what``: stage | cmd | dep | param | out; ``change``:
    not run yet | forced | always changed | changed | new | removed | missing | upstream (a dep
    that a stage which would run makes) | upstream failed (``stage`` failed; with keep-going)."""

    what: str
    change: str
    name: str = ""  # the path, or FILE:KEY for a param
    stage: str = ""  # for "upstream": the stage that makes the dep; for "upstream failed": the one that failed

    def __str__(self) -> str:
        if self.what == "stage":
            return f"stage {self.stage} failed" if self.change == "upstream failed" else self.change
        if self.what == "cmd":
            return "cmd changed"
        if self.change == "upstream":
            return f"dep {self.name} comes from stage {self.stage}, which would run"
        return f"{self.what} {self.name} {'is ' if self.change in ('new', 'missing') else ''}{self.change}"

    def to_json(self) -> dict[str, str]:
        d = {"what": self.what, "change": self.change}
        if self.name:
            d["name"] = self.name
        if self.stage:
            d["stage"] = self.stage
        return d


def current_entry(repo: Repo, rel: str, progress=NULL) -> LockEntry | None:
    """The id a path has now (None when it does not exist), hashed with the stat cache and
    stored nowhere. Executable bits count in a folder's id, as ``mlvc add`` records them."""
    check_inside(repo, rel)
    found = scan(repo.root, rel)
    if found.kind == "missing":
        return None

    def hasher(abspath, size, known):
        return (known, size) if known is not None else hash_file(abspath, size)

    fp = fingerprint(found) if found.kind == "dir" else None
    if fp is not None:
        saved = repo.state.get_dir(rel)
        if saved is not None and saved[0] == fp:
            return LockEntry(rel, saved[1], sum(s for _, _, _, _, s, _ in found.stats()), len(found))
    oids, sizes = hash_files(rel, found, repo.state, hasher, progress, f"Checking {rel}")
    if found.kind == "file":
        return LockEntry(rel, oids[0], sizes[0])
    oid = encode_entries(file_entries(found, oids, sizes), lambda o, d: None)[0]
    if fp is not None:
        repo.state.save_dir(rel, fp, oid)
    return LockEntry(rel, oid, sum(sizes), len(found))


def param_values(repo: Repo, stage: Stage) -> dict[str, dict[str, Any]]:
    """``{params file: {key: value}}`` for the stage's params, as they are now."""
    found: dict[str, dict[str, Any]] = {}
    for ref in stage.params:
        data = read_params(repo.root, ref.file)
        if data is None:
            raise StageInputError(f"stage {stage.name!r}: params file {ref.file!r} does not exist",
                                  "create it, or change the stage's params in mlvc.yaml")
        values = found.setdefault(ref.file, {})
        if not ref.keys:
            values.update(data)
        for key in ref.keys:
            value = lookup(data, key)
            if is_missing(value):
                raise StageInputError(f"stage {stage.name!r}: param {key!r} is not in {ref.file}",
                                      f"add it to {ref.file}, or change the stage's params in mlvc.yaml")
            values[key] = value
    return found


def _compare(what: str, now: dict[str, LockEntry | None], then: dict[str, LockEntry]) -> list[Reason]:
    reasons = []
    for path, entry in now.items():
        if entry is None:
            reasons.append(Reason(what, "missing", path))
        elif path not in then:
            reasons.append(Reason(what, "new", path))
        elif then[path].oid != entry.oid:
            reasons.append(Reason(what, "changed", path))
    reasons.extend(Reason(what, "removed", p) for p in sorted(then) if p not in now)
    return reasons


def reasons_to_run(repo: Repo, stage: Stage, record: StageRecord | None, lock: Lock,
                   deps: dict[str, LockEntry | None], params: dict[str, dict[str, Any]],
                   force: bool = False, progress=NULL) -> list[Reason]:
    """Why ``stage`` must run (nothing: it is up to date), given its deps and params now."""
    if record is None:
        return [Reason("stage", "not run yet")]
    reasons: list[Reason] = []
    if force:
        reasons.append(Reason("stage", "forced"))
    if stage.always_changed:
        reasons.append(Reason("stage", "always changed"))
    if record.cmd != stage.recorded_cmd:
        reasons.append(Reason("cmd", "changed"))
    reasons.extend(_compare("dep", deps, record.deps))
    for file in sorted(set(params) | set(record.params)):
        now, then = params.get(file, {}), record.params.get(file, {})
        for key in now:
            if key not in then:
                reasons.append(Reason("param", "new", f"{file}:{key}"))
            elif then[key] != now[key] or type(then[key]) is not type(now[key]):
                reasons.append(Reason("param", "changed", f"{file}:{key}"))
        reasons.extend(Reason("param", "removed", f"{file}:{k}") for k in then if k not in now)
    cached = {p: current_entry(repo, p, progress) for p in stage.cached_outs}
    recorded = {p: lock.artifacts[p] for p in record.outs if p in lock.artifacts}
    reasons.extend(_compare("out", cached, recorded))
    uncached = {p: current_entry(repo, p, progress) for p in stage.uncached_outs}
    reasons.extend(_compare("out", uncached, record.uncached_outs))
    return reasons
