"""Turn raw results (JSON) into docs/benchmarks.md."""

from __future__ import annotations

import shlex
import statistics
from collections import defaultdict
from dataclasses import dataclass, replace

from .operations import HISTORY_OPS, OPS, PIPELINE_OPS, REMOTE_OPS

ALL_OPS = OPS + PIPELINE_OPS + REMOTE_OPS + [o for ops in HISTORY_OPS.values() for o in ops]
OP_TITLES = {o.key: o.title for o in ALL_OPS}
OP_ORDER = [o.key for o in ALL_OPS]
FLOOR_LABELS = {o.key: [f.label for f in o.floors] for o in ALL_OPS}
BOUNDS = {o.key: o.bound for o in ALL_OPS}  # the floor that bounds each operation


@dataclass(frozen=True)
class Stat:
    median: float | None
    lo: float | None
    hi: float | None
    n: int
    rss_kib: int
    timeouts: int
    bg: float = 0.0  # most CPU (cores) other processes used during one of the samples


def aggregate(samples: list[dict]) -> dict[tuple[str, str, str], Stat]:
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for s in samples:
        groups[(s["workload"], s["op"], s["tool"])].append(s)
    out = {}
    for key, ss in groups.items():
        secs = [s["seconds"] for s in ss if s["seconds"] is not None]
        out[key] = Stat(statistics.median(secs) if secs else None,
                        min(secs) if secs else None, max(secs) if secs else None,
                        len(secs), max(s["rss_kib"] for s in ss),
                        sum(1 for s in ss if s["seconds"] is None),
                        max(s.get("background", 0.0) for s in ss))
    return out


def fmt_s(x: float | None) -> str:
    if x is None:
        return "n/a"
    if x < 1:
        return f"{x * 1000:.0f} ms" if x < 0.1 else f"{x:.3f} s"
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def fmt_stat(st: Stat | None) -> str:
    if st is None:
        return "–"
    if st.median is None:
        return f"timed out ({st.timeouts}x)"
    mark = " †" if st.bg >= BUSY else ""
    if st.n == 1:
        return fmt_s(st.median) + mark
    return f"{fmt_s(st.median)} ({fmt_s(st.lo)}–{fmt_s(st.hi)}){mark}"


BUSY = 0.25  # cores of background load that mark a figure as disturbed


def fmt_mib(kib: int | None) -> str:
    return "–" if kib is None else f"{kib / 1024:.0f} MiB"


def ratio(a: Stat | None, b: Stat | None) -> float | None:
    if not a or not b or a.median is None or b.median is None or b.median == 0:
        return None
    return a.median / b.median


def fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}x" if r >= 0.1 else f"{r:.3f}x"


def floor_stat(agg, wname: str, op: str, label: str) -> tuple[str, Stat | None]:
    """The floor ``label`` for ``op`` in workload ``wname``, and how to name it.

    A floor is measured beside the operation it bounds. Raw results saved before
    an operation had its own floor (checkout got its `cp -r` later) fall back to
    the same floor measured for another operation of the same workload and run,
    named with that operation; a floor measured nowhere gives ``None``."""
    st = agg.get((wname, op, f"floor:{label}"))
    if st is not None or not label:
        return label, st
    for other in OP_ORDER:
        st = agg.get((wname, other, f"floor:{label}"))
        if st is not None:
            return f"{label} at {other}", st
    return label, None


def fmt_bound(agg, wname: str, op: str, m: Stat | None) -> str:
    """The "mlvc / floor" cell: mlvc's median over its floor's, naming the floor."""
    label, st = floor_stat(agg, wname, op, BOUNDS.get(op, ""))
    r = ratio(m, st)
    return "–" if r is None else f"{fmt_ratio(r)} {label}"


# --- pages: the main report, and the pipeline, remote and history pages ----------

# each family's page beside docs/benchmarks.md, which links to them and repeats their goals
COMPANIONS = {"pipeline": "benchmarks-pipeline.md", "remote": "benchmarks-remote.md",
              "history": "benchmarks-history.md"}
PAGE_TITLES = {"main": "Benchmarks: mlvc against DVC", "pipeline": "Benchmarks: pipelines, mlvc against DVC",
               "remote": "Benchmarks: remotes, mlvc against DVC",
               "history": "Benchmarks: history (log, diff, diff --rows), mlvc alone"}
PAGE_WHAT = {"pipeline": "the pipeline rows of issue 8 (`repro` and pipeline `status` beside `dvc repro`, "
                         "`repro -j`)",
             "remote": "the remote rows of issue 9 (push, no-op push and pull into a fresh clone beside "
                       "DVC, to a local folder and to a local SeaweedFS S3 server, and the server's own "
                       "ceiling)",
             "history": "the history rows of issue 10 (`mlvc log`, `mlvc diff`, `mlvc diff --rows`; mlvc "
                        "alone, against absolute goals)"}


def family_of(wname: str, v: dict | None = None) -> str:
    """main, pipeline, remote or history (raw results before the field: by the name)."""
    if v and v.get("family"):
        return v["family"]
    if wname == "pipeline":
        return "pipeline"
    return next((f for f in ("remote", "history") if wname.startswith(f + "-")), "main")


def families(workloads: dict) -> set[str]:
    return {family_of(w, v) for w, v in workloads.items()}


def page_family(workloads: dict) -> str:
    """The page a run's report is: a companion family's when only its workloads ran."""
    fams = families(workloads)
    return fams.pop() if len(fams) == 1 else "main"


def goal_rows(page_text: str) -> list[str]:
    """The rows of the goals table of a generated page (without its header)."""
    rows, inside = [], False
    for line in page_text.splitlines():
        if line.startswith("## "):
            inside = line.startswith("## Where we stand against the goals")
        elif inside and line.startswith("| ") and not line.startswith(("| Goal |", "| --- ")):
            rows.append(line)
    return rows


# --- goals: the core issue and issues 6, 8, 9 and 10 ---------------------------

@dataclass(frozen=True)
class Goal:
    what: str
    target: str
    workload: str
    op: str
    against: str          # "abs" (seconds), "rss" (bytes), "dvc", a floor such as "floor:cp -r",
                          # or mlvc's figure of another operation, "op:repro-j1"
    limit: float
    reference: str = ""
    strict: bool = False  # met only below the limit ("<"), not at it ("≤")


MB = 1_000_000

GOALS = [
    Goal("full checkout, 20,000 x 4 KiB files", "≤ 1.2x `cp -r` (same run)", "small",
         "checkout-full", "floor:cp -r", 1.2, "issue 6"),
    Goal("add 20,000 x 4 KiB files (copy)", "≤ 1.5x `cp -r` (same run)", "small", "add-copy",
         "floor:cp -r", 1.5, "issue 6"),
    Goal("clean status, 20,000 files", "< 0.15 s", "small", "status-clean", "abs", 0.15,
         "issue 6", strict=True),
    Goal("checkout of the older version, one 1 GiB file", "faster than DVC (< 1.0x)", "large",
         "checkout-older", "dvc", 1.0, "issue 6", strict=True),
    Goal("add one 1 GiB file (hardlink)", "< 0.5 s", "large", "add-hardlink", "abs", 0.5,
         "core issue"),
    Goal("`--help` start-up", "≤ 0.5x `dvc --help`", "*", "help", "dvc", 0.5, "core issue"),
    Goal("first repro, 10 stages writing 20,000 files", "≤ 0.5x DVC", "pipeline", "repro-first",
         "dvc", 0.5, "issue 8"),
    Goal("no-op repro of that pipeline", "≤ 0.2x DVC", "pipeline", "repro-noop", "dvc", 0.2, "issue 8"),
    Goal("status of that pipeline", "≤ 0.2x DVC", "pipeline", "pipeline-status", "dvc", 0.2, "issue 8"),
    Goal("4 branches of sleeping stages, `repro -j 4`", "≤ 0.3x `-j 1`", "pipeline", "repro-j4",
         "op:repro-j1", 0.3, "issue 8"),
    *(Goal(f"peak memory, {what} of 1,000,000 files", "< 400 MB (381 MiB)", "files-1000000",
           op, "rss", 400 * MB, "issue 6", strict=True)
      for what, op in (("add", "add-copy"), ("clean status", "status-clean"),
                       ("checkout", "checkout-full"))),
    Goal("push of 20,000 x 4 KiB files to a local folder remote", "≤ 0.15x DVC", "remote-small",
         "push", "dvc", 0.15, "issue 9"),
    Goal("pull of them into a fresh clone (empty cache)", "≤ 0.15x DVC", "remote-small", "pull",
         "dvc", 0.15, "issue 9"),
    Goal("no-op push of the 20,000 files", "< 1 s", "remote-small", "push-noop", "abs", 1.0,
         "issue 9", strict=True),
    Goal("push of one 1 GiB file to a local folder remote", "≤ 0.15x DVC", "remote-large", "push",
         "dvc", 0.15, "issue 9"),
    Goal("pull of it into a fresh clone", "≤ 0.15x DVC", "remote-large", "pull", "dvc", 0.15, "issue 9"),
    Goal("push of the 20,000 files to SeaweedFS (S3)", "≤ 0.5x DVC", "remote-s3", "push", "dvc", 0.5,
         "issue 9"),
    Goal("pull of them from SeaweedFS into a fresh clone", "≤ 0.5x DVC", "remote-s3", "pull", "dvc", 0.5,
         "issue 9"),
    Goal("no-op push of them to SeaweedFS", "≤ 0.1x DVC", "remote-s3", "push-noop", "dvc", 0.1, "issue 9"),
    Goal("`mlvc log PATH` over 1,000 commits changing it", "< 2 s", "history-log", "log", "abs", 2.0,
         "issue 10", strict=True),
    Goal("`mlvc diff A B`, two versions of a 20,000-file folder", "< 1 s", "history-diff", "diff-tree",
         "abs", 1.0, "issue 10", strict=True),
    Goal("`mlvc diff A B PATH --rows`, two 1,000,000-row Parquet files", "< 5 s", "history-rows",
         "diff-rows", "abs", 5.0, "issue 10", strict=True),
    Goal("the same with `--key id`", "< 5 s", "history-rows", "diff-rows-key", "abs", 5.0, "issue 10",
         strict=True),
]


def goals_table(agg, workloads, companions: dict[str, list[str]] | None = None) -> list[str]:
    """The goals of the families this run measured, then the goals rows of the ``companions``
    pages (family -> rows), each naming its page."""
    rows = ["| Goal | Target | Measured (mlvc) | Compared with | Met? | Source |",
            "| --- | --- | --- | --- | --- | --- |"]
    ran = families(workloads)
    for g in GOALS:
        if family_of("small" if g.workload == "*" else g.workload) not in ran:
            continue
        if g.workload == "*":  # measured once, in whichever workload ran first
            g = next((replace(g, workload=w) for w in workloads
                      if (w, g.op, "mlvc") in agg or (w, g.op, "dvc") in agg), g)
        if g.workload not in workloads:
            rows.append(f"| {g.what} | {g.target} | not run | | – | {g.reference} |")
            continue
        m = agg.get((g.workload, g.op, "mlvc"))
        measured = fmt_s(m.median) if m else "n/a"
        cmp_ = ""
        if g.against == "abs":
            value = m.median if m else None
        elif g.against == "rss":
            value = m.rss_kib * 1024 if m else None
            measured = f"peak RSS {fmt_mib(m.rss_kib)}" if m else "n/a"
        else:
            if g.against == "dvc":
                name, other = "DVC", agg.get((g.workload, g.op, "dvc"))
            elif g.against.startswith("op:"):
                name, other = OP_TITLES[g.against[3:]], agg.get((g.workload, g.against[3:], "mlvc"))
            else:
                name, other = floor_stat(agg, g.workload, g.op, g.against.split(":", 1)[1])
            value = ratio(m, other)
            cmp_ = f"{name} {fmt_s(other.median) if other else 'n/a'} → {fmt_ratio(value)}"
        if value is None:
            met = "–"
        else:
            ok = value < g.limit if g.strict else value <= g.limit
            met = "**met**" if ok else "**not met**"
        rows.append(f"| {g.what} | {g.target} | {measured} | {cmp_} | {met} | {g.reference} |")
    for fam, page_rows in (companions or {}).items():
        link = f"[{COMPANIONS[fam]}]({COMPANIONS[fam]})"
        rows += [r.rstrip().removesuffix("|").rstrip() + f", {link} |" for r in page_rows]
    return rows


def ceiling_table(agg, w: str, v: dict) -> list[str]:
    """The S3 server's own rate with s3fs beside the tools' files per second."""
    runs = v.get("ceiling") or []
    if not runs:
        return []
    jobs, count = runs[0]["jobs"], runs[0]["count"]

    def rate(key: str) -> str:
        vals = [r[key]["per_s"] for r in runs if key in r]
        return f"{statistics.median(vals):,.0f}" if vals else "–"

    def tool_rate(tool: str, op: str) -> str:
        st = agg.get((w, op, tool))
        return f"{v['files'] / st.median:,.0f}" if st and st.median else "–"

    def cpu(key: str) -> str:
        vals = [(r[key].get("client_cpu_ms"), r[key].get("server_cpu_ms")) for r in runs if key in r]
        if not vals or vals[0][0] is None:
            return "– | –"
        client = statistics.median(c for c, _ in vals)
        servers = [s for _, s in vals if s is not None]
        return f"{client:.2f} | " + (f"{statistics.median(servers):.2f}" if servers else "–")

    def row(label: str, put: str, get: str) -> str:
        return f"| {label} | {rate(put)} | {rate(get)} | {cpu(put)} | {cpu(get)} |"

    return ["### The server's ceiling, and the tools' files per second", "",
            f"A tight loop of {count:,} PUTs, then {count:,} GETs, of distinct 4 KiB objects against "
            f"the same server, {jobs} requests in flight (mlvc's default `-j`), with s3fs "
            f"(aiobotocore, DVC's client and the one of mlvc's larger files) and with mlvc's own client "
            f"(`mlvc.odb.s3http`, its push and pull's per-object requests); s3fs opened as mlvc opens "
            f"it. Timed inside the process, after the imports and the first request; median of "
            f"{len(runs)} run(s), after the tools' rows. The CPU columns are milliseconds of CPU per "
            f"request of the client's process and of the server's (`weed`): the two share the 2 "
            f"cores, so their sum bounds the rate. The tools' figures are files over the whole command "
            f"(start-up, the walk, trees, and for pull the checkout into the workspace).", "",
            "| Client | PUT files/s | GET files/s | PUT CPU ms: client | server | GET CPU ms: client | server |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
            row(f"s3fs, one event loop, {jobs} coroutines (`_pipe_file`, `_cat_file`)", "put_async", "get_async"),
            row(f"s3fs, blocking calls from {jobs} threads (`pipe_file`, `cat_file`)", "put_threads",
                "get_threads"),
            f"| s3fs, `open` + `read` from {jobs} threads | – | {rate('open_threads')} | – | – | {cpu('open_threads')} |",
            row(f"mlvc's client, {jobs} threads (`S3HTTP.pipe_file`, `cat_file`: how mlvc pushes and pulls)",
                "put_mlvc", "get_mlvc"),
            f"| mlvc push / pull ({v['files']:,} files) | {tool_rate('mlvc', 'push')} "
            f"| {tool_rate('mlvc', 'pull')} | | | | |",
            f"| DVC push / pull ({v['files']:,} files) | {tool_rate('dvc', 'push')} "
            f"| {tool_rate('dvc', 'pull')} | | | | |", ""]


def workload_table(agg, wname: str, tools: list[str]) -> list[str]:
    rows = ["| Operation | mlvc | DVC | mlvc/DVC | mlvc / floor | Floors | Peak RSS mlvc "
            "| Peak RSS DVC |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for op in OP_ORDER:
        m, d = agg.get((wname, op, "mlvc")), agg.get((wname, op, "dvc"))
        floors = [(lbl, agg.get((wname, op, f"floor:{lbl}"))) for lbl in FLOOR_LABELS[op]]
        floors_s = "; ".join(f"{lbl} {fmt_s(st.median)}" for lbl, st in floors if st)
        if m is None and d is None and not floors_s:
            continue
        rows.append(f"| {OP_TITLES[op]} | {fmt_stat(m)} | {fmt_stat(d)} | {fmt_ratio(ratio(m, d))} "
                    f"| {fmt_bound(agg, wname, op, m)} "
                    f"| {floors_s} | {fmt_mib(m.rss_kib) if m else '–'} "
                    f"| {fmt_mib(d.rss_kib) if d else '–'} |")
    return rows


def scaling_table(agg, workloads) -> list[str]:
    scal = sorted((w for w, v in workloads.items() if v["kind"] == "scaling"),
                  key=lambda w: workloads[w]["files"])
    rows = ["| Operation | Files | mlvc | DVC | mlvc/DVC | mlvc / floor | mlvc µs/file "
            "| DVC µs/file | Floor | Peak RSS mlvc | Peak RSS DVC |",
            "| --- | ---: | --- | --- | --- | --- | ---: | ---: | --- | --- | --- |"]
    for op in ("add-copy", "status-clean", "checkout-full"):
        for w in scal:
            n = workloads[w]["files"]
            m, d = agg.get((w, op, "mlvc")), agg.get((w, op, "dvc"))
            label, fl = floor_stat(agg, w, op, BOUNDS[op])
            per = lambda st: f"{st.median / n * 1e6:.0f}" if st and st.median else "–"  # noqa: E731
            rows.append(f"| {OP_TITLES[op]} | {n:,} | {fmt_stat(m)} | {fmt_stat(d) if d else 'not run'} "
                        f"| {fmt_ratio(ratio(m, d))} | {fmt_bound(agg, w, op, m)} | {per(m)} | {per(d)} "
                        f"| {f'{label} {fmt_s(fl.median)}' if fl else '–'} "
                        f"| {fmt_mib(m.rss_kib) if m else '–'} | {fmt_mib(d.rss_kib) if d else '–'} |")
    return rows


def how_measured(ran: set[str]) -> list[str]:
    """The "How it is measured" bullets of the families a report holds."""
    out = ["- Each operation is one process launched by the runner; wall time from spawn to "
           "`wait4`. Peak RSS is `ru_maxrss` from `wait4` (the kernel's accounting): the largest "
           "peak among the process and the children it waited for, such as a `git` it ran.",
           "- For each operation the runner does mlvc, then DVC, then the floors, and the whole "
           "sequence repeats (A B A B ...). Both tools get a fresh git repository with a "
           "fresh `cp -r` of the generated data, so both start with the data in the page cache."
           if ran - {"history"} else
           "- Each operation runs once per repetition, mlvc alone (DVC has no such commands to "
           "compare with), and the sequence repeats."]
    if "main" in ran:
        out += ["- Sequence per repetition: `init`; `add` (cache type `copy` for both); `status` with "
                "nothing changed; `status` after one file changed; `commit` after 1 % of the files "
                "changed (tag v2); delete `data/` keeping the cache and `checkout`; "
                "`git checkout v1 -- <lock file>` and `checkout`; finally a new repository with "
                "cache type `hardlink` and `add`."]
    if "pipeline" in ran:
        out += ["- The `pipeline` workload: the same stages as `mlvc.yaml` and `dvc.yaml` (each writes "
                "its files with the suite's own Python); first `repro`, `repro` with nothing changed "
                "(after a git commit of the lock), `status`; then, in a new repository, mlvc alone "
                "forces a run of 4 independent branches of sleeping stages with `-j 1` and `-j 4`."]
    if "remote" in ran:
        out += ["- The remote workloads, per repetition and tool (untimed set-up: `init`, cache type "
                "`copy`, `add data`, `remote add -d store` and a git commit of everything): `push` to "
                "an empty remote, `push` again with nothing to send, then the repository is moved "
                "aside, `git clone`d into its place (the committed config names the remote; empty "
                "cache; DVC's site cache removed) and `pull` is timed there; the workspace is then "
                "compared with the generated data (`diff -rq`). Each tool uses its own defaults for "
                "parallel transfers.",
                "- The local-folder remote is an empty folder beside each tool's repository, on the "
                "same file system. The S3 remote is one SeaweedFS server (`weed server -s3`, "
                "master, volume, filer and S3 gateway in one process, on 127.0.0.1, data under "
                "`benchmarks/.work/s3/`) started for the run and shared by both tools, a new bucket "
                "per tool and repetition, dummy credentials (`endpointurl` set on the remote)."]
    if "history" in ran:
        out += ["- The history workloads (mlvc only; absolute goals): each repository is built once "
                "by `benchmarks/mlvcbench/histbuild.py` (seeded contents, fixed commit dates) and "
                "cached under `benchmarks/.work/workloads/`; every repetition times a command in a "
                "fresh `cp -a` of it, then checks the command's `--json` answer against what was "
                "built (the number of commits, of files changed, of rows added, removed and "
                "modified); a mismatch is listed under Anomalies."]
    out += ["- The runner calls `sync` before each timed command, so no tool pays for writing back "
            "the untimed copy of the workload. mlvc then syncs its own writes once per command "
            "(`core.fsync batch`, its default); DVC does not sync."]
    if ran & {"main", "remote"}:
        out += ["- After every checkout (and pull) the workspace is compared with the expected tree "
                "(`diff -rq`), and `mlvc status --check` is asked whether the workspace is clean; "
                "any disagreement is listed under Anomalies."]
    if ran - {"history"}:
        out += ["- DVC's site cache (its hash state and index) lives beside each scratch repository, so "
                "each fresh DVC repository starts cold, as each fresh mlvc repository does. "
                "Analytics are off (`DVC_NO_ANALYTICS=1`)."]
    if "main" in ran:
        out += ["- Floors run on the same files in a plain git repository, right after the tools, in "
                "the same loop: `git add`, `git status`, `cp -r`, `cp -al`, and `find data -type f "
                "-printf '%s %T@\\n' > /dev/null` (a walk with a stat of every file).",
                "- \"mlvc / floor\" is mlvc's median over the median of the floor that bounds the "
                "operation, which it names: `cp -r` for add (copy) and for checkout into an empty "
                "workspace, `cp -al` for add (hardlink), `find` for status. It tells how much is left "
                "to gain; \"–\" where the operation has no floor or the run did not measure it."]
    return out


def render(data: dict, plot_name: str | None, notes: list[str], extra: str = "",
           companions: dict[str, list[str]] | None = None) -> str:
    meta, workloads, samples = data["meta"], data["workloads"], data["samples"]
    agg = aggregate(samples)
    page = page_family(workloads)
    ran = families(workloads)
    out = [f"# {PAGE_TITLES[page]}", ""]
    if meta.get("quick"):
        out += ["> **Quick run** (`--quick`): tiny workloads, to exercise the suite. "
                "These numbers say nothing about speed.", ""]
    out += ["Generated by `benchmarks/run.py` (see [benchmarks/README.md](../benchmarks/README.md)). "
            "Every figure is a whole process, start to exit, timed by the runner; "
            + ("mlvc alone, each command in a fresh copy of a repository built from seeded data."
               if ran == {"history"} else
               "mlvc and DVC run alternately on identical copies of the same seeded data, in the "
               "same run."), ""]
    if page != "main":
        out += [f"This page holds {PAGE_WHAT[page]} only; the core's figures are in "
                "[benchmarks.md](benchmarks.md), from a run of their own.", ""]
    elif companions:
        out += ["From runs of their own, each on its page: "
                + "; ".join(f"{PAGE_WHAT[f]} in [{COMPANIONS[f]}]({COMPANIONS[f]})" for f in companions)
                + ". Their goals are repeated at the end of the goals table below.", ""]
    out += ["## Machine and versions", ""]
    m = meta["machine"]
    versions = meta["versions"]
    out += [f"- Date: {meta['date']}",
            f"- Machine: {m['cores']} cores ({m['cpu']}), {m['memory']} memory, "
            f"filesystem {m['filesystem']}; {m['os']}"]
    if meta.get("loadavg_start"):
        out += [f"- Load average (1, 5, 15 min) at the start and the end of the run: "
                f"{meta['loadavg_start']} / {meta.get('loadavg_end', '?')}"]
    out += [f"- mlvc: {versions.get('mlvc', 'not run')}",
            f"- DVC: {versions.get('dvc', 'not run')}" + (" (not run on this page's rows)"
                                                           if ran == {"history"} else "")]
    if "seaweedfs" in versions:
        out += [f"- SeaweedFS: `weed` {versions['seaweedfs']}"]
    if ran & {"main"}:
        out += [f"- Floors: {versions.get('floor', '?')}"]
    out += [f"- Python {m['python']} (runner)",
            "- Command(s):", ""]
    out += [f"      {shown_command(c)}" for c in meta["commands"]]
    out += [""]
    out += ["## Where we stand against the goals", ""]
    out += goals_table(agg, workloads, companions)
    out += [""]
    if extra:
        out += [extra.rstrip(), ""]
    bgs = [s.get("background", 0.0) for s in samples]
    if bgs:
        busy = sum(1 for b in bgs if b >= BUSY)
        out += [f"Background load: other processes used {statistics.median(bgs):.2f} cores "
                f"(median; max {max(bgs):.2f}) while the timed commands ran; {busy} of {len(bgs)} "
                f"samples saw ≥ {BUSY} cores, and figures with such a sample carry a †.", ""]
    for w, v in workloads.items():
        if v["kind"] != "main":
            continue
        out += [f"## Workload `{w}`: {v['title']}", "",
                f"{v['reps']} repetition(s); median (min–max). Seed {v['seed']}. "
                f"Load average before/after: {v.get('loadavg_before', '?')} / "
                f"{v.get('loadavg_after', '?')}.", ""]
        out += workload_table(agg, w, ["mlvc", "dvc"])
        out += [""]
        out += ceiling_table(agg, w, v)
    if any(v["kind"] == "scaling" for v in workloads.values()):
        out += ["## Scaling study", "",
                "Files of 4 KiB, 100 per folder. DVC is stopped at the timeout given on the "
                "command line; sizes above the first DVC timeout run mlvc only.", ""]
        out += scaling_table(agg, workloads)
        out += [""]
        if plot_name:
            out += [f"![scaling plot]({plot_name})", ""]
    if data["errors"]:
        out += ["## Errors", ""]
        out += [f"- `{e['workload']}` {e['op']} ({e['tool']}, rep {e['rep'] + 1}): {e['message']}"
                for e in data["errors"]]
        out += [""]
    if data["anomalies"]:
        out += ["## Anomalies found by the verification steps", ""]
        seen = []
        for a in data["anomalies"]:
            if a not in seen:
                seen.append(a)
        out += [f"- {a} ({data['anomalies'].count(a)}x)" for a in seen]
        out += [""]
    out += ["## How it is measured", ""] + how_measured(ran) + [""]
    out += notes
    return "\n".join(out).rstrip() + "\n"


def shown_command(command: str) -> str:
    """A run's command as the page shows it: without ``--output PATH``, where that run wrote
    its own copy of the page (a scratch file), so that the command shown remakes this page."""
    words = shlex.split(command)
    kept, skip = [], False
    for w in words:
        if skip:
            skip = False
        elif w == "--output":
            skip = True
        elif not w.startswith("--output="):
            kept.append(w)
    return shlex.join(kept)
