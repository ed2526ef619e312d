"""The operation table: what is timed, for each tool, and the untimed steps around it.

Each ``Op`` row names the command line per tool (``{tool}`` expands to the
tool's executable) and the untimed steps run before and after it in that
tool's scratch git repository. Rows run in order and share state (``add``
leaves a tracked dataset for ``status``, ``commit`` tags v2 for the checkouts,
...). To benchmark a new command, add one row here (and a step if it needs new
set-up) with its mlvc and DVC command lines. ``PIPELINE_OPS`` are the rows of
the ``pipeline`` workload (``repro`` and ``status`` on a pipeline, ``repro -j``),
``REMOTE_OPS`` those of the remote workloads (push, no-op push, pull into a fresh
clone), ``HISTORY_OPS`` those of the history workloads (mlvc only: log, diff,
diff --rows); ``ops_for`` picks a workload's table.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import s3
from .timing import CommandFailed, run_quiet
from .tools import WORK, Tool, rm_rf
from .workloads import GEN_SCRIPT, Workload, chain_stages, pipeline_file, sleep_stages, touch


@dataclass(frozen=True)
class FloorCmd:
    """A lower bound run on the same files in a plain git repository."""
    label: str
    argv: list[str]
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    scaling: bool = False   # also run in the scaling study


@dataclass(frozen=True)
class Op:
    key: str
    title: str
    cmds: dict[str, list[str]]          # tool name -> argv template
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    floors: tuple[FloorCmd, ...] = ()
    ok_codes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    scaling: bool = False               # part of the scaling study
    stateless: bool = False             # runs outside any repository
    once: bool = False                  # measured in the first workload only
    bound: str = ""                     # label of the floor that bounds it: the
                                        # report's "mlvc / floor" column


def both(*args: str) -> dict[str, list[str]]:
    """Same sub-command for mlvc and DVC."""
    return {"mlvc": ["{tool}", *args], "dvc": ["{tool}", *args]}


CP_R = FloorCmd("cp -r", ["cp", "-r", "data", "../cp-target"], after=("rm-cp-target",), scaling=True)
# No "cp -r; sync" floor: on a file system mounted with `discard` (as here) the
# sync also waits for the discards of files deleted just before, so it measured
# the previous clean-up more than the copy. See benchmarks/analysis.md for the
# cost of mlvc's own sync (core.fsync batch vs never).
# The walk with a stat of every file that a status needs to see an edit in
# place: `find data -type f -printf '%s %T@\n' > /dev/null`, without a shell.
FIND = FloorCmd("find", ["find", "data", "-type", "f", "-fprintf", "/dev/null", r"%s %T@\n"],
                scaling=True)

OPS: list[Op] = [
    Op("help", "`--help` start-up", both("--help"), stateless=True, once=True),
    Op("init", "init", both("init"), before=("fresh",), after=("git-commit",), scaling=True),
    Op("add-copy", "add, copy mode", both("add", "data"),
       before=("cache-copy",), after=("check-ignored", "tag-v1"),
       floors=(FloorCmd("git add", ["git", "add", "data"], after=("floor-commit",)), CP_R),
       scaling=True, bound="cp -r"),
    Op("status-clean", "status, nothing changed", both("status"),
       after=("expect-clean",),
       # mlvc and DVC both exit 0 from plain `status`; --check / -q give exit codes
       floors=(FloorCmd("git status", ["git", "status"]), FIND),
       scaling=True, bound="find"),
    Op("status-changed", "status, one file changed", both("status"),
       before=("touch-one",), after=("expect-dirty",),
       floors=(FloorCmd("git status", ["git", "status"], before=("touch-one",)), FIND),
       bound="find"),
    Op("commit", "commit after a change (1 % of files)",
       {"mlvc": ["{tool}", "commit"], "dvc": ["{tool}", "commit", "-f"]},
       before=("touch-some",), after=("expect-clean", "tag-v2")),
    Op("checkout-full", "checkout into an empty workspace", both("checkout"),
       before=("stash-data",), after=("verify-stash",),
       floors=(CP_R,),  # the same files created and copied, measured beside it
       scaling=True, bound="cp -r"),
    Op("checkout-older", "checkout of the older commit's version", both("checkout"),
       before=("restore-v1",), after=("verify-pristine", "expect-clean")),
    Op("add-hardlink", "add, hardlink cache type", both("add", "data"),
       before=("fresh", "init", "cache-hardlink"), after=("check-ignored",),
       floors=(FloorCmd("cp -al", ["cp", "-al", "data", "../cp-target"], after=("rm-cp-target",)),),
       bound="cp -al"),
]


# The pipeline workload (issue 8): its own rows, run on a Workload with a PipelineSpec.
# First a chain of stages writing many files, the same stages as mlvc.yaml and dvc.yaml
# (cache type copy for both); then, in a new repository, independent branches of sleeping
# stages, mlvc with -j 4 against -j 1 (DVC has no parallel repro).
PIPELINE_OPS: list[Op] = [
    Op("repro-first", "pipeline: first repro (every stage runs)", both("repro"),
       before=("fresh", "init", "cache-copy", "write-chain", "add-input", "commit-pipeline"),
       after=("check-chain-outs",)),
    Op("repro-noop", "pipeline: repro, nothing changed", both("repro"),
       before=("commit-pipeline", "mark-outs"), after=("check-chain-outs", "check-outs-untouched")),
    Op("pipeline-status", "pipeline: status, nothing changed", both("status")),
    Op("repro-j1", "sleeping branches: repro -f -j 1", {"mlvc": ["{tool}", "repro", "-f", "-j", "1"]},
       before=("fresh", "init", "write-sleep", "add-input", "commit-pipeline", "repro"),
       after=("check-sleep-outs",)),
    Op("repro-j4", "sleeping branches: repro -f -j 4", {"mlvc": ["{tool}", "repro", "-f", "-j", "4"]},
       after=("check-sleep-outs",)),
]


# The remote workloads (issue 9): push to an empty remote, a push with nothing to send, and a
# pull into a fresh git clone with an empty cache, for both tools with the same kind of remote
# (a local folder, or a bucket of their own on the S3 server both share). Cache type copy.
REMOTE_OPS: list[Op] = [
    Op("push", "push to an empty remote", both("push"),
       before=("fresh", "init", "cache-copy", "add-input", "remote-setup", "commit-pipeline")),
    Op("push-noop", "push, nothing to send", both("push")),
    Op("pull", "pull into a fresh clone (empty cache)", both("pull"),
       before=("clone",), after=("verify-pristine", "expect-clean")),
]

# The history workloads (issue 10), mlvc only: each in a copy of a repository built once
# (histbuild.py) and cached under benchmarks/.work/workloads/; checked with --json afterwards.
HISTORY_OPS: dict[str, list[Op]] = {
    "log": [Op("log", "log of an artifact changed in every commit", {"mlvc": ["{tool}", "log", "model.bin"]},
               before=("history-repo",), after=("check-log",))],
    "diff": [Op("diff-tree", "diff v1 v2 of a folder", {"mlvc": ["{tool}", "diff", "v1", "v2"]},
                before=("history-repo",), after=("check-diff",))],
    "rows": [Op("diff-rows", "diff --rows of two Parquet files, whole rows",
                {"mlvc": ["{tool}", "diff", "v1", "v2", "table.parquet", "--rows"]},
                before=("history-repo",), after=("check-rows",)),
             Op("diff-rows-key", "diff --rows --key id of the same files",
                {"mlvc": ["{tool}", "diff", "v1", "v2", "table.parquet", "--rows", "--key", "id"]},
                after=("check-rows-key",))],
}


def ops_for(w: Workload, main: list[Op]) -> list[Op]:
    """The operation table of workload ``w`` (``main``: the rows of the main workloads)."""
    if w.pipeline is not None:
        return PIPELINE_OPS
    if w.remote:
        return REMOTE_OPS
    if w.history is not None:
        return HISTORY_OPS[w.history.kind]
    return main


# --- untimed steps ----------------------------------------------------------

@dataclass
class Ctx:
    tool: Tool
    repo: Path
    workload: Workload
    pristine: Path
    log: Path
    anomalies: list[str]
    verify: bool = True   # off for the largest sizes, where diff -rq alone takes minutes

    def git(self, *args: str, ok_codes=(0,)) -> int:
        return run_quiet(["git", *args], self.repo, self.tool.env(self.repo), self.log, ok_codes)

    def note(self, msg: str) -> None:
        self.anomalies.append(f"{self.workload.name}: {self.tool.name}: {msg}")


def _sidecar(c: Ctx, suffix: str) -> Path:
    return c.repo.parent / f"{c.repo.name}-{suffix}"


def fresh(c: Ctx) -> None:
    """New git repository holding a fresh copy of the workload in data/."""
    rm_rf(c.repo)
    rm_rf(_sidecar(c, "dvc-site-cache"))
    rm_rf(_sidecar(c, "origin"))
    c.repo.mkdir(parents=True)
    c.git("init", "-q")
    c.git("commit", "-q", "--allow-empty", "-m", "empty")
    run_quiet(["cp", "-r", str(c.pristine), str(c.repo / "data")], c.repo, c.tool.env(c.repo), c.log)


def git_commit(c: Ctx, msg: str = "bench", tag: str | None = None) -> None:
    present = [f for f in c.tool.meta_files if (c.repo / f).exists()]
    if present:
        c.git("add", "--", *present)
    c.git("commit", "-q", "--allow-empty", "-m", msg)
    if tag:
        c.git("tag", "-f", tag)


def check_ignored(c: Ctx) -> None:
    rc = c.git("check-ignore", "-q", "data", ok_codes=(0, 1))
    if rc != 0:
        c.note("after add, git does not ignore data/ (no .gitignore entry)")


def expect(clean: bool) -> Callable[[Ctx], None]:
    def step(c: Ctx) -> None:
        got = c.tool.status_is_clean(c.repo, c.log)
        if got is not None and got != clean:
            c.note(f"status reports {'clean' if got else 'changes'} where "
                   f"{'nothing' if clean else 'something'} changed")
    return step


def stash_data(c: Ctx) -> None:
    """Move the workspace aside (kept for verification); the cache stays."""
    expected = _sidecar(c, "expected")
    rm_rf(expected)
    (c.repo / "data").rename(expected)


def _same_tree(c: Ctx, a: Path, b: Path, what: str) -> None:
    if not c.verify:
        return
    r = subprocess.run(["diff", "-rq", str(a), str(b)], capture_output=True, text=True)
    if r.returncode != 0:
        lines = (r.stdout + r.stderr).splitlines()
        c.note(f"{what}: workspace differs from expected ({len(lines)} differences, "
               f"e.g. {lines[0] if lines else '?'})")


def verify_stash(c: Ctx) -> None:
    expected = _sidecar(c, "expected")
    _same_tree(c, expected, c.repo / "data", "checkout into an empty workspace")
    rm_rf(expected)


def verify_pristine(c: Ctx) -> None:
    _same_tree(c, c.pristine, c.repo / "data", "checkout of the older version")


def restore_v1(c: Ctx) -> None:
    present = [f for f in c.tool.lock_files]
    c.git("checkout", "v1", "--", *present)


def floor_commit(c: Ctx) -> None:
    c.git("commit", "-q", "-m", "data")


def write_pipeline(stages_of: Callable[[Ctx], dict[str, dict]]) -> Callable[[Ctx], None]:
    """Write the tool's pipeline file (mlvc.yaml or dvc.yaml) and the stages' script."""
    def step(c: Ctx) -> None:
        name, text = pipeline_file(stages_of(c), c.tool.name)
        (c.repo / name).write_text(text)
        (c.repo / "src").mkdir(exist_ok=True)
        (c.repo / "src" / "gen.py").write_text(GEN_SCRIPT)
    return step


def tool_cmd(*args: str) -> Callable[[Ctx], None]:
    def step(c: Ctx) -> None:
        run_quiet([*c.tool.exe, *args], c.repo, c.tool.env(c.repo), c.log)
    return step


def commit_pipeline(c: Ctx) -> None:
    c.git("add", "-A")  # the tools' own .gitignore files keep caches and outs out
    c.git("commit", "-q", "--allow-empty", "-m", "pipeline")


def _out_files(c: Ctx) -> list[Path]:
    out = c.repo / "out"
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name != ".gitignore") if out.is_dir() else []


def check_outs(expected: Callable[[Ctx], int]) -> Callable[[Ctx], None]:
    def step(c: Ctx) -> None:
        got, want = len(_out_files(c)), expected(c)
        if got != want:
            c.note(f"after repro, out/ holds {got} files where the pipeline writes {want}")
    return step


def mark_outs(c: Ctx) -> None:
    files = _out_files(c)
    (c.repo.parent / f"{c.repo.name}-outs").write_text(
        "\n".join(f"{p} {p.stat().st_mtime_ns}" for p in files[:: max(1, len(files) // 50)]))


def check_outs_untouched(c: Ctx) -> None:
    """A no-op repro rewrites no out (a sample of them, by mtime)."""
    for line in (c.repo.parent / f"{c.repo.name}-outs").read_text().splitlines():
        path, mtime = line.rsplit(" ", 1)
        if not Path(path).exists() or Path(path).stat().st_mtime_ns != int(mtime):
            c.note(f"a no-op repro rewrote {Path(path).relative_to(c.repo)}")
            return


def remote_setup(c: Ctx) -> None:
    """The tool's default remote ``store``: an empty folder beside its repository, or a new
    bucket of its own on the shared S3 server (with its endpoint)."""
    if c.workload.remote == "s3":
        srv = s3.current()
        run_quiet([*c.tool.exe, "remote", "add", "-d", "store", f"s3://{srv.new_bucket(c.tool.name)}/store"],
                  c.repo, c.tool.env(c.repo), c.log)
        run_quiet([*c.tool.exe, "remote", "modify", "store", "endpointurl", srv.endpoint],
                  c.repo, c.tool.env(c.repo), c.log)
        return
    folder = _sidecar(c, "remote")
    rm_rf(folder)
    run_quiet([*c.tool.exe, "remote", "add", "-d", "store", str(folder)], c.repo, c.tool.env(c.repo), c.log)


def clone(c: Ctx) -> None:
    """A fresh ``git clone`` of the repository in its place (the original moves aside): the
    committed config names the remote, the cache is empty, DVC's site cache too."""
    origin = _sidecar(c, "origin")
    rm_rf(origin)
    c.repo.rename(origin)
    rm_rf(_sidecar(c, "dvc-site-cache"))
    run_quiet(["git", "clone", "-q", str(origin), str(c.repo)], c.repo.parent, c.tool.env(c.repo), c.log)


def history_cache(w: Workload) -> Path:
    """Where the history workload's repository is built once, with ``expect.json`` beside it."""
    return WORK / "workloads" / f"{w.name}-{w.spec_id()}"


def history_repo(c: Ctx) -> None:
    """A copy of the history workload's repository (built by histbuild.py the first time)."""
    h = c.workload.history
    assert h is not None, f"workload {c.workload.name} has no history"
    cache = history_cache(c.workload)
    built, expect = cache / "repo", cache / "expect.json"
    if not expect.exists():
        rm_rf(built)
        py = c.tool.python() if hasattr(c.tool, "python") else sys.executable
        argv = [py, str(Path(__file__).with_name("histbuild.py")), h.kind, str(built),
                "--mlvc", " ".join(c.tool.exe), "--seed", str(c.workload.seed),
                "--commits", str(h.commits), "--rows", str(h.rows), "--data", str(c.pristine)]
        r = subprocess.run(argv, capture_output=True, text=True, env=c.tool.env(built.parent))
        if r.returncode != 0:
            raise CommandFailed(f"building {c.workload.name} failed: {r.stderr.strip()[-500:]}")
        expect.write_text(r.stdout.strip().splitlines()[-1])
    rm_rf(c.repo)
    c.repo.parent.mkdir(parents=True, exist_ok=True)
    run_quiet(["cp", "-a", str(built), str(c.repo)], c.repo.parent, c.tool.env(c.repo), c.log)


def _tool_json(c: Ctx, *args: str):
    r = subprocess.run([*c.tool.exe, *args, "--json"], cwd=c.repo, env=c.tool.env(c.repo),
                       capture_output=True, text=True)
    if r.returncode != 0:
        c.note(f"`{' '.join(args)} --json` exited {r.returncode}: {r.stderr.strip()[-200:]}")
        return None
    return json.loads(r.stdout)


def _expected(c: Ctx) -> dict:
    return json.loads((history_cache(c.workload) / "expect.json").read_text())


def _compare(c: Ctx, what: str, got: dict, want: dict) -> None:
    if got != want:
        c.note(f"{what}: got {got}, the workload holds {want}")


def check_log(c: Ctx) -> None:
    out = _tool_json(c, "log", "model.bin")
    if out is not None:
        _compare(c, "log", {"commits": len(out["commits"])}, _expected(c))


def check_diff(c: Ctx) -> None:
    out = _tool_json(c, "diff", "v1", "v2")
    if out is not None:
        files = [f for ch in out["changes"] for f in ch["files"]]
        got = {k: sum(1 for f in files if f["change"] == k) for k in ("modified", "deleted", "added")}
        _compare(c, "diff", got, _expected(c))


def check_rows(key: bool) -> Callable[[Ctx], None]:
    def step(c: Ctx) -> None:
        out = _tool_json(c, "diff", "v1", "v2", "table.parquet", "--rows", *(["--key", "id"] if key else []))
        if out is None:
            return
        r, e = out["rows"], _expected(c)
        got = {k: r[k] for k in ("rows_old", "added", "removed", "modified")}
        if key:
            want = {"rows_old": e["rows"], "added": e["added"], "removed": e["removed"], "modified": e["modified"]}
        else:  # whole rows: a modified row is one removed and one added
            want = {"rows_old": e["rows"], "added": e["added"] + e["modified"],
                    "removed": e["removed"] + e["modified"], "modified": 0}
        _compare(c, f"diff --rows{' --key id' if key else ''}", got, want)
    return step


def _spec(c: Ctx):
    assert c.workload.pipeline is not None, f"workload {c.workload.name} has no pipeline"
    return c.workload.pipeline


STEPS: dict[str, Callable[[Ctx], None]] = {
    "fresh": fresh,
    "init": lambda c: (c.tool.init(c.repo, c.log), git_commit(c, "init")),
    "git-commit": lambda c: git_commit(c, "init"),
    "cache-copy": lambda c: c.tool.set_cache_type(c.repo, "copy", c.log),
    "cache-hardlink": lambda c: c.tool.set_cache_type(c.repo, "hardlink", c.log),
    "check-ignored": check_ignored,
    "tag-v1": lambda c: git_commit(c, "v1", tag="v1"),
    "tag-v2": lambda c: git_commit(c, "v2", tag="v2"),
    "touch-one": lambda c: touch(c.repo / "data", [c.workload.one_file()], "one"),
    "touch-some": lambda c: touch(c.repo / "data", c.workload.some_files(), "some"),
    "expect-clean": expect(True),
    "expect-dirty": expect(False),
    "stash-data": stash_data,
    "verify-stash": verify_stash,
    "restore-v1": restore_v1,
    "verify-pristine": verify_pristine,
    "rm-cp-target": lambda c: rm_rf(c.repo.parent / "cp-target"),
    "floor-commit": floor_commit,
    # pipeline rows
    "write-chain": write_pipeline(lambda c: chain_stages(_spec(c), sys.executable)),
    "write-sleep": write_pipeline(lambda c: sleep_stages(_spec(c))),
    "add-input": tool_cmd("add", "data"),
    "commit-pipeline": commit_pipeline,
    "repro": tool_cmd("repro"),
    "mark-outs": mark_outs,
    "check-chain-outs": check_outs(lambda c: _spec(c).out_files),
    "check-outs-untouched": check_outs_untouched,
    "check-sleep-outs": check_outs(lambda c: _spec(c).branches * _spec(c).depth),
    # remote rows
    "remote-setup": remote_setup,
    "clone": clone,
    # history rows
    "history-repo": history_repo,
    "check-log": check_log,
    "check-diff": check_diff,
    "check-rows": check_rows(key=False),
    "check-rows-key": check_rows(key=True),
}
