"""Pipeline commands: ``stage add``, ``stage list``, ``repro``, ``verify``.

Each one: parse options, call one ``mlvc.api`` function, render."""

from __future__ import annotations

import sys
import threading
from typing import List, Optional

import typer

from mlvc.cli import app, command, render
from mlvc.cli.render import data, emit_json, out

JSON = typer.Option(False, "--json", help="Print the result as JSON.")

stage_app = typer.Typer(
    name="stage",
    help="Define pipeline stages in mlvc.yaml and list them.\n\n"
    "A stage is a command with its deps (inputs), params and outs; `mlvc repro` runs the "
    "stages whose inputs changed.\n\n"
    "Example: mlvc stage add train -d train.py -d data -p train.lr -o model.pkl -- python train.py",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(stage_app)


def _stage_json(s) -> dict:
    return {
        "name": s.name, "cmd": s.recorded_cmd, "wdir": s.wdir or ".", "deps": list(s.deps),
        "params": {p.file: list(p.keys) for p in s.params},
        "outs": [{"path": o.path, "cache": o.cache, "persist": o.persist, "metric": o.metric} for o in s.outs],
        "desc": s.desc, "frozen": s.frozen, "always_changed": s.always_changed, "group": s.group,
    }


@stage_app.command("add")
@command
def stage_add(
    name: str = typer.Argument(..., metavar="NAME", help="The stage's name: letters, digits, '_' and '-'."),
    cmd: List[str] = typer.Argument(..., metavar="CMD...", help="The command (put -- before it if it has options)."),
    deps: List[str] = typer.Option([], "--deps", "-d", metavar="DEP", help="An input file or folder (repeatable)."),
    outs: List[str] = typer.Option([], "--outs", "-o", metavar="OUT", help="An output, cached and git-ignored."),
    outs_no_cache: List[str] = typer.Option([], "--outs-no-cache", "-O", metavar="OUT",
                                            help="An output that is not cached (git may track it)."),
    params: List[str] = typer.Option([], "--params", "-p", metavar="KEY",
                                     help="A param: KEY in params.yaml, or FILE:KEY,KEY, or FILE: for all its keys."),
    metrics: List[str] = typer.Option([], "--metrics", "-m", metavar="METRIC",
                                      help="A metrics file (small, not cached: commit it with git)."),
    wdir: Optional[str] = typer.Option(None, "--wdir", "-w", metavar="WDIR",
                                       help="Where the command runs; deps, outs and params are relative to it."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace a stage of the same name."),
    as_json: bool = JSON,
):
    """Write a stage into mlvc.yaml.

    Nothing runs: `mlvc repro` runs it. Refused (mlvc.yaml unchanged) when an
    out is another stage's, is inside another out or holds one, is tracked
    by `mlvc add`, or (cached) is tracked by git. A CMD of several words is
    written with each word quoted as typed; one word is a shell line as it is.

    Example: mlvc stage add featurize -d src/featurize.py -d data/raw -p featurize.window -o data/features -m reports/features.json -- python src/featurize.py data/raw data/features
    """
    from mlvc import api

    stage = api.stage_add(name, cmd, deps=deps, outs=outs, outs_no_cache=outs_no_cache, params=params,
                          metrics=metrics, wdir=wdir, force=force)
    if as_json:
        emit_json(_stage_json(stage))
        return
    out(f"Added stage '{stage.name}' to mlvc.yaml.")
    out("\nTo track the change with git, run:\n\n    git add mlvc.yaml\n\nTo run it: mlvc repro " + stage.name)


@stage_app.command("list")
@command
def stage_list(as_json: bool = JSON):
    """List the stages of mlvc.yaml with their deps and outs (foreach and matrix expanded).

    Example: mlvc stage list --json
    """
    from mlvc import api

    stages = api.stage_list()
    if as_json:
        emit_json({"stages": [_stage_json(s) for s in stages]})
        return
    if not stages:
        out("No stages yet; define one with `mlvc stage add NAME -d DEP -o OUT -- CMD`.")
        return
    width = max(len(s.name) for s in stages)
    for s in stages:
        flags = [f for f, on in (("frozen", s.frozen), ("always changed", s.always_changed)) if on]
        data(f"{s.name:<{width}}  deps: {', '.join(s.deps) or '-'}  outs: {', '.join(o.path for o in s.outs) or '-'}"
             + (f"  ({', '.join(flags)})" if flags else ""))


def _announce(run) -> None:
    reasons = "; ".join(str(r) for r in run.reasons)
    if run.action == "running":
        out(f"Running stage '{run.name}' ({reasons}):")
        for c in run.cmd:
            out(f"> {c}")
        sys.stdout.flush()  # before the command writes to the same terminal
    elif run.action == "restored":
        out(f"Stage '{run.name}' restored from run-cache ({reasons}).")
    elif run.action == "would restore":
        out(f"Would restore stage '{run.name}' from run-cache: {reasons}")
    elif run.action == "skipped":
        out(f"Stage '{run.name}' is up to date: skipped.")
    elif run.action == "frozen":
        out(f"Stage '{run.name}' is frozen: skipped.")
    elif run.action == "failed":
        out(run.error[:1].upper() + run.error[1:] + ".")
    elif run.action == "blocked":
        out(f"Stage '{run.name}' did not run: {reasons}.")
    elif run.action == "would run":
        out(f"Would run stage '{run.name}': {reasons}")
        for c in run.cmd:
            out(f"> {c}")


def _repro_json(result) -> dict:
    return {"dry_run": result.dry_run, "git_add": result.git_files, "dropped": result.dropped, "stages": [
        {"name": r.name, "action": r.action, "reasons": [x.to_json() for x in r.reasons],
         "reason_text": [str(x) for x in r.reasons], "cmd": list(r.cmd), **({"error": r.error} if r.error else {})}
        for r in result.stages]}


class _Prefixed:
    """Each output line of a stage run in parallel, prefixed with its name, written whole."""

    def __init__(self, to_stderr: bool) -> None:
        self.lock = threading.Lock()
        self.to_stderr = to_stderr

    def __call__(self, stage: str, stream: str, line: bytes) -> None:
        target = sys.stderr if stream == "stderr" or self.to_stderr else sys.stdout
        if not line.endswith(b"\n"):
            line += b"\n"
        with self.lock:
            target.flush()
            target.buffer.write(f"[{stage}] ".encode() + line)
            target.buffer.flush()


@app.command()
@command
def repro(
    targets: Optional[List[str]] = typer.Argument(None, metavar="[TARGET]...",
                                                  help="Stages, groups (NAME of NAME@KEY) or output paths "
                                                  "(default: every stage)."),
    force: bool = typer.Option(False, "--force", "-f", help="Run the stages even if nothing changed."),
    single: bool = typer.Option(False, "--single-item", "-s", help="Only the targets, not the stages they depend on."),
    downstream: bool = typer.Option(False, "--downstream", help="The targets and every stage that depends on them."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would run and why; run nothing."),
    jobs: int = typer.Option(1, "--jobs", "-j", metavar="N", min=1,
                             help="Run up to N independent stages at once; their output lines start with [NAME]."),
    keep_going: bool = typer.Option(False, "--keep-going", "-k",
                                    help="After a failure, still run every stage that does not depend on it."),
    no_run_cache: bool = typer.Option(False, "--no-run-cache",
                                      help="Run the commands even when the run-cache has their outputs."),
    pull: bool = typer.Option(False, "--pull", help="First fetch from the default remote what the cache lacks of "
                              "the stages' recorded deps and outs (and run-cache records); check out the missing."),
    as_json: bool = JSON,
):
    """Run the stages whose inputs changed, and record them in mlvc.lock.

    A stage runs when it never ran, or its cmd, a dep, a param or an out
    changed or is missing; otherwise it is skipped. The stages the targets
    depend on come first. Outs (unless persist: true) are removed before
    their stage runs. The command's output streams to the terminal (with
    --json, to stderr). A failing command stops the run, naming the stage
    and the exit code; mlvc.lock keeps the stages that finished. With -j N,
    independent stages run at once, each line of their output prefixed with
    [NAME]; a failure lets the running stages finish (and be recorded) and
    starts no new one, unless -k. A stage that ran before with the same
    cmd, deps and params has its outs checked out from the run-cache
    instead of running (unless -f or --no-run-cache). Cached outs are stored
    and git-ignored like `mlvc add`, so `mlvc status` and `mlvc checkout`
    treat them the same. --pull first fetches from the default remote what
    the cache lacks of the stages' recorded deps and outs, with the remote's
    run-cache records, and checks out those missing from the workspace.

    Example: mlvc repro train --dry-run && mlvc repro && git add mlvc.lock
    """
    from mlvc import api

    from mlvc.cli.exitcodes import exit_status_for
    from mlvc.errors import MlvcError

    bar = render.progress()
    try:
        result = api.repro(targets or [], force=force, single=single, downstream=downstream, dry_run=dry_run,
                           progress=bar, on_stage=None if as_json else _announce, output_to_stderr=as_json,
                           jobs=jobs, keep_going=keep_going, on_output=_Prefixed(as_json),
                           run_cache=not no_run_cache, **({"pull": True} if pull else {}))
    except MlvcError as exc:
        if not as_json or getattr(exc, "result", None) is None:
            raise
        code = int(exit_status_for(exc))  # a stage failed: the JSON says what ran too
        render.error(exc, code)
        emit_json({**_repro_json(exc.result), "error": exc.message, "hint": exc.hint, "exit_code": code})
        return code
    finally:
        if hasattr(bar, "stop"):
            bar.stop()
    if as_json:
        emit_json(_repro_json(result))
        return
    if not result.stages:
        out("No stages to run; define one with `mlvc stage add`.")
    elif result.dry_run:
        n = sum(1 for r in result.stages if r.action in ("would run", "would restore"))
        out(f"\n{n} stage{'s' if n != 1 else ''} would run (dry run: nothing ran)." if n else
            "\nEverything is up to date (dry run).")
    elif result.ran:
        for name in result.dropped:
            out(f"Dropped the record of stage '{name}' from mlvc.lock: mlvc.yaml no longer has it.")
        out("\nTo track the changes with git, run:\n\n    git add " + " ".join(result.git_files))
    else:
        out("\nEverything is up to date.")


def _verify_announce(run) -> None:
    if run.action == "running":
        out(f"Running stage '{run.name}':")
        for c in run.cmd:
            out(f"> {c}")
        sys.stdout.flush()  # before the command writes to the same terminal
    elif run.action == "frozen":
        out(f"Stage '{run.name}' is frozen: its outs are checked out as recorded, not verified.")
    elif run.action in ("failed", "blocked"):
        _announce(run)


def _verify_json(result) -> dict:
    return {"rev": result.rev, "commit": result.commit, "reproduced": result.reproduced, "stages": [
        {"name": s.name, "result": s.result, "stale": list(s.stale), "outs": [
            {"path": o.path, "cached": o.cached, "recorded": o.recorded, "reproduced": o.reproduced, "same": o.same,
             "files": None if o.files is None else [
                 {"path": f.path, "change": f.change, "recorded": f.recorded, "reproduced": f.reproduced}
                 for f in o.files]}
            for o in s.outs]}
        for s in result.stages]}


def _verify_table(result) -> None:
    from mlvc.cli.render import user_path

    rows = []  # (stage, out, result, details)
    for s in result.stages:
        if not s.outs:
            rows.append((s.name, "-", s.result, []))
        for i, o in enumerate(s.outs):
            details = []
            if not o.same:
                details.append(f"recorded    {o.recorded or '(not recorded)'}")
                details.append(f"reproduced  {o.reproduced or '(not made)'}")
                if o.files:
                    details.extend(f"{f.change:<10}  {user_path(result.root, f.path)}" for f in o.files)
                elif o.files is None and o.recorded and o.reproduced and o.recorded.endswith(".tree"):
                    details.append("(which files differ is not known: a tree is not in the cache)")
            rows.append((s.name if i == 0 else "", user_path(result.root, o.path),
                         REPRODUCED_TEXT if o.same else "DIFFERS", details))
        if s.stale and s.result == "differs":
            rows.append(("", "", "", [f"note: the record at this revision is stale ({'; '.join(s.stale)})"]))
    w1 = max([len("stage")] + [len(r[0]) for r in rows])
    w2 = max([len("out")] + [len(r[1]) for r in rows])
    data(f"{'stage':<{w1}}  {'out':<{w2}}  result")
    for name, path, res, details in rows:
        if res:
            data(f"{name:<{w1}}  {path:<{w2}}  {res}")
        for d in details:
            data(f"{'':<{w1}}  {'':<{w2}}    {d}")


REPRODUCED_TEXT = "reproduced"


@app.command()
@command
def verify(
    targets: Optional[List[str]] = typer.Argument(None, metavar="[TARGET]...",
                                                  help="Stages, groups or output paths, with the stages they "
                                                  "depend on (default: every stage)."),
    rev: str = typer.Option("HEAD", "--rev", metavar="REV", help="The git revision to verify (default HEAD)."),
    jobs: int = typer.Option(1, "--jobs", "-j", metavar="N", min=1,
                             help="Run up to N independent stages at once; their output lines start with [NAME]."),
    as_json: bool = JSON,
):
    """Re-run the pipeline from scratch at REV and check every out against mlvc.lock.

    In a temporary git worktree of REV (sharing this repository's cache),
    the inputs that no stage makes are checked out from the cache, every
    stage (or the TARGETs and what they depend on) runs in the order of the
    graph, without the run-cache, and each out's id is compared with
    mlvc.lock at REV. Exit 0 when every out reproduces bit for bit; 1 when
    one differs (the table names it, both ids, and for a folder the files
    that differ); 2 when the stages could not run (a missing input, a
    failing command, a stage mlvc.lock never recorded). Your workspace,
    mlvc.lock, branch and index are not touched, and the worktree is removed
    afterwards, also after Ctrl-C or SIGTERM (exit 130). What the run stores
    stays in the cache.

    Example: mlvc verify || exit 1
    """
    from mlvc import api

    from mlvc.cli.exitcodes import ExitStatus

    def started(rev_name: str, commit: str) -> None:
        if not as_json:
            out(f"Verifying {rev_name} ({commit[:10]}) in a temporary worktree.")
            sys.stdout.flush()

    import signal

    def terminated(signum, frame):  # a CI job cancelled: clean up as after Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)
    bar = render.progress()
    try:
        result = api.verify(targets or [], rev=rev, jobs=jobs, progress=bar,
                            on_stage=None if as_json else _verify_announce, output_to_stderr=as_json,
                            on_output=_Prefixed(as_json), on_start=started)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if hasattr(bar, "stop"):
            bar.stop()
    if as_json:
        emit_json(_verify_json(result))
    elif not result.stages:
        out("No stages to verify; define one with `mlvc stage add`.")
    else:
        out("")
        _verify_table(result)
        bad = result.differing
        verified = sum(1 for s in result.stages if s.result != "frozen")
        if bad:
            out(f"\n{len(bad)} of {verified} stage{'s' if verified != 1 else ''} did not reproduce: "
                + ", ".join(f"{s.name} ({', '.join(render.user_path(result.root, o.path) for o in s.outs if not o.same)})"
                            for s in bad) + ".")
        else:
            out(f"\nEvery out of {verified} stage{'s' if verified != 1 else ''} reproduced bit for bit "
                f"at {result.rev} ({result.commit[:10]}).")
    if not result.reproduced:
        return ExitStatus.NOT_REPRODUCED
