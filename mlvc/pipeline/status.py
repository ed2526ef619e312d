"""Why a stage would run: what changed since mlvc.lock recorded it (its cmd, a dep's id, a
param's value, an out) or what is missing. Nothing is stored in the cache here.

``stage_status`` is the pipeline part of ``mlvc status``: each stage of mlvc.yaml
against its record. ``mlvc.ops.status`` calls it (through ``mlvc.api``, as ops never
imports pipeline) only when mlvc.yaml has stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import StageInputError
from mlvc.formats.lock import Lock, LockEntry, StageRecord
from mlvc.objects.hashing import hash_file
from mlvc.objects.tree import encode_entries
from mlvc.ops.targets import check_inside
from mlvc.pipeline.params import is_missing, lookup, read_params
from mlvc.pipeline.stage import Stage, load_pipeline
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
    old: Any = field(default=None, compare=False)  # as recorded: the id (dep, out), the value (param), the cmd
    new: Any = field(default=None, compare=False)  # as it is now (None: missing or removed)
    key: str = field(default="", compare=False)  # of a param: the key (``name`` is FILE:KEY)

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


def current_params(repo: Repo, stage: Stage) -> tuple[dict[str, dict[str, Any]], list[StageInputError]]:
    """``{params file: {key: value}}`` for the stage's params, as they are now, and what is
    missing (a params file, a key), one error each."""
    found: dict[str, dict[str, Any]] = {}
    missing: list[StageInputError] = []
    for ref in stage.params:
        data = read_params(repo.root, ref.file)
        if data is None:
            error = StageInputError(f"stage {stage.name!r}: params file {ref.file!r} does not exist",
                                    "create it, or change the stage's params in mlvc.yaml")
            error.params = [(ref.file, k) for k in ref.keys] or [(ref.file, "")]
            missing.append(error)
            continue
        values = found.setdefault(ref.file, {})
        if not ref.keys:
            values.update(data)
        for key in ref.keys:
            value = lookup(data, key)
            if is_missing(value):
                error = StageInputError(f"stage {stage.name!r}: param {key!r} is not in {ref.file}",
                                        f"add it to {ref.file}, or change the stage's params in mlvc.yaml")
                error.params = [(ref.file, key)]
                missing.append(error)
                continue
            values[key] = value
    return found, missing


def param_values(repo: Repo, stage: Stage) -> dict[str, dict[str, Any]]:
    """``{params file: {key: value}}`` for the stage's params, as they are now; a missing
    params file or key is an error."""
    found, missing = current_params(repo, stage)
    if missing:
        raise missing[0]
    return found


def _compare(what: str, now: dict[str, LockEntry | None], then: dict[str, LockEntry]) -> list[Reason]:
    reasons = []
    for path, entry in now.items():
        old = then[path].oid if path in then else None
        if entry is None:
            reasons.append(Reason(what, "missing", path, old=old))
        elif path not in then:
            reasons.append(Reason(what, "new", path, new=entry.oid))
        elif old != entry.oid:
            reasons.append(Reason(what, "changed", path, old=old, new=entry.oid))
    reasons.extend(Reason(what, "removed", p, old=then[p].oid) for p in sorted(then) if p not in now)
    return reasons


def reasons_to_run(repo: Repo, stage: Stage, record: StageRecord | None, lock: Lock,
                   deps: dict[str, LockEntry | None], params: dict[str, dict[str, Any]],
                   force: bool = False, progress=NULL, entry=None) -> list[Reason]:
    """Why ``stage`` must run (nothing: it is up to date), given its deps and params now.
    ``entry(path)`` gives an out's id now (default: ``current_entry``, which hashes it)."""
    if entry is None:
        def entry(p):
            return current_entry(repo, p, progress)
    if record is None:
        return [Reason("stage", "not run yet")]
    reasons: list[Reason] = []
    if force:
        reasons.append(Reason("stage", "forced"))
    if stage.always_changed:
        reasons.append(Reason("stage", "always changed"))
    if record.cmd != stage.recorded_cmd:
        reasons.append(Reason("cmd", "changed", old=record.cmd, new=stage.recorded_cmd))
    reasons.extend(_compare("dep", deps, record.deps))
    for file in sorted(set(params) | set(record.params)):
        now, then = params.get(file, {}), record.params.get(file, {})
        for key in now:
            if key not in then:
                reasons.append(Reason("param", "new", f"{file}:{key}", new=now[key], key=key))
            elif then[key] != now[key] or type(then[key]) is not type(now[key]):
                reasons.append(Reason("param", "changed", f"{file}:{key}", old=then[key], new=now[key], key=key))
        reasons.extend(Reason("param", "removed", f"{file}:{k}", old=then[k], key=k) for k in then if k not in now)
    cached = {p: entry(p) for p in stage.cached_outs}
    recorded = {p: lock.artifacts[p] for p in record.outs if p in lock.artifacts}
    reasons.extend(_compare("out", cached, recorded))
    uncached = {p: entry(p) for p in stage.uncached_outs}
    reasons.extend(_compare("out", uncached, record.uncached_outs))
    return reasons


OK = "ok"
CHANGED = "changed"
NOT_RUN = "not run yet"
FROZEN = "frozen"


@dataclass(frozen=True)
class StageStatus:
    """A stage against its record in mlvc.lock: ``ok``, ``changed`` (``reasons`` say what),
    ``not run yet``, or ``frozen`` (never stale: `mlvc repro` does not run it)."""

    name: str
    status: str  # ok | changed | not run yet | frozen
    reasons: tuple[Reason, ...] = ()

    @property
    def stale(self) -> bool:
        return self.status in (CHANGED, NOT_RUN)


def _overlaps(path: str, paths: list[str]) -> bool:
    return any(path == p or path.startswith(p + "/") or p.startswith(path + "/") for p in paths)


def stage_status(repo: Repo, project, lock: Lock, paths: list[str] | None = None,
                 progress=NULL, known: dict[str, LockEntry | None] | None = None) -> list[StageStatus]:
    """Each stage of ``project`` (the ones with an out at, inside or above one of ``paths``,
    when given), in the order of mlvc.yaml, against its record in ``lock``: the reasons
    ``mlvc repro`` would run it, judged on its own (a dep that a stale stage makes counts
    as it is in the workspace now). A missing dep, params file or param is a reason, not an
    error. ``always_changed`` stages are always stale; frozen ones never.

    Each path is hashed once however many stages name it (nothing changes while status
    runs), and not at all when ``known`` (``{path: its entry now, None if missing}``, from
    the artifact statuses ``mlvc status`` took just before) has it."""
    pipeline = load_pipeline(repo.root, project)
    seen: dict[str, LockEntry | None] = dict(known or {})

    def entry(path: str) -> LockEntry | None:
        if path not in seen:
            seen[path] = current_entry(repo, path, progress)
        return seen[path]

    result = []
    for stage in pipeline.stages.values():
        if paths is not None and not any(_overlaps(o.path, paths) for o in stage.outs):
            continue
        record = lock.stages.get(stage.name)
        if stage.frozen:
            result.append(StageStatus(stage.name, FROZEN))
            continue
        if record is None:
            result.append(StageStatus(stage.name, NOT_RUN, (Reason("stage", NOT_RUN),)))
            continue
        deps = {d: entry(d) for d in stage.deps}
        params, missing = current_params(repo, stage)
        gone = {fk for error in missing for fk in error.params}  # (file, key), key "" for a whole file
        reasons = []
        for r in reasons_to_run(repo, stage, record, lock, deps, params, progress=progress, entry=entry):
            if r.what == "param" and r.change == "removed":
                file = r.name[:-len(r.key) - 1]
                if (file, r.key) in gone or (file, "") in gone:  # still asked for, but not there
                    gone.discard((file, r.key))
                    r = Reason("param", "missing", r.name, old=r.old, key=r.key)
            reasons.append(r)
        for file, key in sorted(gone):  # missing, and not in the record either
            if key or not any(r.what == "param" and r.name.startswith(file + ":") for r in reasons):
                reasons.append(Reason("param", "missing", f"{file}:{key}" if key else file, key=key))
        result.append(StageStatus(stage.name, CHANGED if reasons else OK, tuple(reasons)))
    return result
