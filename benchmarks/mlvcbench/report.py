"""Turn raw results (JSON) into docs/benchmarks.md."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, replace

from .operations import OPS

OP_TITLES = {o.key: o.title for o in OPS}
OP_ORDER = [o.key for o in OPS]
FLOOR_LABELS = {o.key: [f.label for f in o.floors] for o in OPS}


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


# --- goals from the core issue ----------------------------------------------

@dataclass(frozen=True)
class Goal:
    what: str
    target: str
    workload: str
    op: str
    against: str          # "abs", "dvc" or a floor tool name such as "floor:cp -r"
    limit: float
    reference: str = ""


GOALS = [
    Goal("add 20,000 x 4 KiB files (copy)", "≤ 0.15x DVC", "small", "add-copy", "dvc", 0.15,
         "DVC 3.67: 22 s; git add 4.9 s"),
    Goal("clean status, 20,000 files", "< 0.3 s", "small", "status-clean", "abs", 0.3,
         "DVC 3.67: 1.6–1.9 s; git status 0.06 s"),
    Goal("full checkout, 20,000 files", "≤ 0.15x DVC", "small", "checkout-full", "dvc", 0.15,
         "DVC 3.67: 14.6 s"),
    Goal("add one 1 GiB file (copy)", "≤ 1.15x cp", "large", "add-copy", "floor:cp -r", 1.15,
         "DVC 3.67: 6.6 s; cp 3.7 s"),
    Goal("add one 1 GiB file (hardlink)", "< 0.5 s", "large", "add-hardlink", "abs", 0.5, ""),
    Goal("`--help` start-up", "≤ 0.5x `dvc --help`", "*", "help", "dvc", 0.5, ""),
    Goal("status, unchanged 1,000,000 files", "seconds, not minutes (< 60 s)",
         "files-1000000", "status-clean", "abs", 60.0, ""),
]


def goals_table(agg, workloads) -> list[str]:
    rows = ["| Goal | Target | Measured (mlvc) | Compared with | Met? | Reference (core issue) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for g in GOALS:
        if g.workload == "*":  # measured once, in whichever workload ran first
            g = next((replace(g, workload=w) for w in workloads
                      if (w, g.op, "mlvc") in agg or (w, g.op, "dvc") in agg), g)
        if g.workload not in workloads:
            rows.append(f"| {g.what} | {g.target} | not run | | – | {g.reference} |")
            continue
        m = agg.get((g.workload, g.op, "mlvc"))
        if g.against == "abs":
            value = m.median if m else None
            cmp_ = ""
        else:
            other = agg.get((g.workload, g.op, g.against))
            value = ratio(m, other)
            name = "DVC" if g.against == "dvc" else g.against.split(":", 1)[1]
            cmp_ = f"{name} {fmt_s(other.median) if other else 'n/a'} → {fmt_ratio(value)}"
        met = "–" if value is None else ("**met**" if value <= g.limit else "**not met**")
        rows.append(f"| {g.what} | {g.target} | {fmt_s(m.median) if m else 'n/a'} | {cmp_} "
                    f"| {met} | {g.reference} |")
    return rows


def workload_table(agg, wname: str, tools: list[str]) -> list[str]:
    rows = ["| Operation | mlvc | DVC | mlvc/DVC | Floors | Peak RSS mlvc | Peak RSS DVC |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for op in OP_ORDER:
        m, d = agg.get((wname, op, "mlvc")), agg.get((wname, op, "dvc"))
        floors = [(lbl, agg.get((wname, op, f"floor:{lbl}"))) for lbl in FLOOR_LABELS[op]]
        floors_s = "; ".join(f"{lbl} {fmt_s(st.median)}" for lbl, st in floors if st)
        if m is None and d is None and not floors_s:
            continue
        rows.append(f"| {OP_TITLES[op]} | {fmt_stat(m)} | {fmt_stat(d)} | {fmt_ratio(ratio(m, d))} "
                    f"| {floors_s} | {fmt_mib(m.rss_kib) if m else '–'} "
                    f"| {fmt_mib(d.rss_kib) if d else '–'} |")
    return rows


def scaling_table(agg, workloads) -> list[str]:
    scal = sorted((w for w, v in workloads.items() if v["kind"] == "scaling"),
                  key=lambda w: workloads[w]["files"])
    rows = ["| Operation | Files | mlvc | DVC | mlvc/DVC | mlvc µs/file | DVC µs/file | cp -r "
            "| Peak RSS mlvc | Peak RSS DVC |",
            "| --- | ---: | --- | --- | --- | ---: | ---: | --- | --- | --- |"]
    for op in ("add-copy", "status-clean", "checkout-full"):
        for w in scal:
            n = workloads[w]["files"]
            m, d = agg.get((w, op, "mlvc")), agg.get((w, op, "dvc"))
            cp = agg.get((w, "add-copy", "floor:cp -r")) if op != "status-clean" else None
            per = lambda st: f"{st.median / n * 1e6:.0f}" if st and st.median else "–"  # noqa: E731
            rows.append(f"| {OP_TITLES[op]} | {n:,} | {fmt_stat(m)} | {fmt_stat(d) if d else 'not run'} "
                        f"| {fmt_ratio(ratio(m, d))} | {per(m)} | {per(d)} "
                        f"| {fmt_s(cp.median) if cp else ''} "
                        f"| {fmt_mib(m.rss_kib) if m else '–'} | {fmt_mib(d.rss_kib) if d else '–'} |")
    return rows


def render(data: dict, plot_name: str | None, notes: list[str], extra: str = "") -> str:
    meta, workloads, samples = data["meta"], data["workloads"], data["samples"]
    agg = aggregate(samples)
    out = ["# Benchmarks: mlvc against DVC", ""]
    if meta.get("quick"):
        out += ["> **Quick run** (`--quick`): tiny workloads, to exercise the suite. "
                "These numbers say nothing about speed.", ""]
    out += ["Generated by `benchmarks/run.py` (see [benchmarks/README.md](../benchmarks/README.md)). "
            "Every figure is a whole process, start to exit, timed by the runner; mlvc and DVC run "
            "alternately on identical copies of the same seeded data, in the same run.", ""]
    out += ["## Machine and versions", ""]
    m = meta["machine"]
    out += [f"- Date: {meta['date']}",
            f"- Machine: {m['cores']} cores ({m['cpu']}), {m['memory']} memory, "
            f"filesystem {m['filesystem']}; {m['os']}",
            f"- mlvc: {meta['versions'].get('mlvc', 'not run')}",
            f"- DVC: {meta['versions'].get('dvc', 'not run')}",
            f"- Floors: {meta['versions'].get('floor', '?')}",
            f"- Python {m['python']} (runner)",
            "- Command(s):", ""]
    out += [f"      {c}" for c in meta["commands"]]
    out += [""]
    out += ["## Where we stand against the goals", ""]
    out += goals_table(agg, workloads)
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
    out += ["## How it is measured", "",
            "- Each operation is one process launched by the runner; wall time from spawn to "
            "`wait4`. Peak RSS is `ru_maxrss` from `wait4` (the kernel's accounting): the largest "
            "peak among the process and the children it waited for, such as a `git` it ran.",
            "- For each operation the runner does mlvc, then DVC, then the floors, and the whole "
            "sequence repeats (A B A B ...). Both tools get a fresh git repository with a "
            "fresh `cp -r` of the generated data, so both start with the data in the page cache.",
            "- Sequence per repetition: `init`; `add` (cache type `copy` for both); `status` with "
            "nothing changed; `status` after one file changed; `commit` after 1 % of the files "
            "changed (tag v2); delete `data/` keeping the cache and `checkout`; "
            "`git checkout v1 -- <lock file>` and `checkout`; finally a new repository with "
            "cache type `hardlink` and `add`.",
            "- The runner calls `sync` before each timed command, so no tool pays for writing back "
            "the untimed copy of the workload. mlvc then syncs its own writes once per command "
            "(`core.fsync batch`, its default); DVC does not sync.",
            "- After every checkout the workspace is compared with the expected tree (`diff -rq`), "
            "and `mlvc status --check` is asked whether the workspace is clean; "
            "any disagreement is listed under Anomalies.",
            "- DVC's site cache (its hash state and index) lives beside each scratch repository, so "
            "each fresh DVC repository starts cold, as each fresh mlvc repository does. "
            "Analytics are off (`DVC_NO_ANALYTICS=1`).",
            "- Floors run on the same files in a plain git repository: `git add`, `git status`, "
            "`cp -r`, `cp -al`.", ""]
    out += notes
    return "\n".join(out).rstrip() + "\n"
