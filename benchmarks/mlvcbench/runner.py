"""The alternating runner: for every operation, mlvc then DVC (A B A B ...)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .operations import OPS, STEPS, Ctx, Op
from .timing import CommandFailed, run_timed, wait_for_quiet
from .tools import WORK, Floor, Tool
from .workloads import Workload, materialize


@dataclass
class Results:
    samples: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)
    workloads: dict[str, dict] = field(default_factory=dict)
    done_once: set[str] = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"samples": self.samples, "errors": self.errors,
                "anomalies": self.anomalies, "workloads": self.workloads}


def loadavg() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def _fmt(s: float | None) -> str:
    return "timeout" if s is None else f"{s:.3f}s"


def run_workload(w: Workload, kind: str, ops: list[Op], tools: list[Tool], reps: int,
                 res: Results, timeout: float | None = None,
                 skip: set[str] | None = None, quiet_wait: float = 0.0,
                 light: bool = False) -> set[str]:
    """Run ``ops`` ``reps`` times on ``w``; returns the tools that timed out.

    ``light`` (for a million files) leaves out the floors and the ``diff -rq``
    checks, each of which would take longer than the operations themselves."""
    skip = set(skip or ())
    t0 = time.perf_counter()
    print(f"[{w.name}] generating {w.title} ...", flush=True)
    pristine = materialize(w, WORK / "workloads")
    print(f"[{w.name}] workload ready ({time.perf_counter() - t0:.1f}s)", flush=True)
    res.workloads[w.name] = {"title": w.title, "files": w.count, "bytes": w.total_bytes,
                             "kind": kind, "family": family(w), "reps": reps, "seed": w.seed,
                             "loadavg_before": loadavg()}
    ops = [o for o in ops if not (o.once and o.key in res.done_once)]
    res.done_once |= {o.key for o in ops if o.once}
    base = WORK / "runs" / w.name
    logs = WORK / "logs" / w.name
    timed_out: set[str] = set()
    floor = Floor()
    for rep in range(reps):
        broken = set(skip) | timed_out
        ctxs = {t.name: Ctx(t, base / t.name, w, pristine, logs / f"{t.name}.log", res.anomalies,
                            verify=not light)
                for t in tools}
        fctx = Ctx(floor, base / "floor", w, pristine, logs / "floor.log", res.anomalies)
        if not light and any(o.floors for o in ops):
            STEPS["fresh"](fctx)
        for op in ops:
            line = [f"[{w.name} {rep + 1}/{reps}] {op.key}:"]
            for tool in tools:
                if tool.name in broken or tool.name not in op.cmds:
                    continue
                c = ctxs[tool.name]
                try:
                    for step in op.before:
                        STEPS[step](c)
                    cwd = WORK if op.stateless else c.repo
                    if quiet_wait:
                        wait_for_quiet(quiet_wait)
                    s = run_timed(tool.argv(op.cmds[tool.name]), cwd, tool.env(c.repo), c.log,
                                  timeout=timeout, ok_codes=op.ok_codes.get(tool.name, (0,)))
                    res.samples.append({"workload": w.name, "op": op.key, "tool": tool.name,
                                        "rep": rep, "seconds": s.seconds, "rss_kib": s.max_rss_kib,
                                        "timed_out": s.timed_out, "background": round(s.background, 3)})
                    line.append(f"{tool.name} {_fmt(s.seconds)} {s.max_rss_kib // 1024}MiB"
                                + (f" (bg {s.background:.1f})" if s.background >= 0.25 else ""))
                    if s.timed_out:
                        timed_out.add(tool.name)
                        broken.add(tool.name)
                        continue
                    for step in op.after:
                        STEPS[step](c)
                except CommandFailed as e:
                    broken.add(tool.name)
                    res.errors.append({"workload": w.name, "op": op.key, "tool": tool.name,
                                       "rep": rep, "message": str(e)})
                    line.append(f"{tool.name} FAILED")
                    print(f"  ! {e}", flush=True)
            for fl in op.floors:
                if light or (kind == "scaling" and not fl.scaling):
                    continue
                try:
                    for step in fl.before:
                        STEPS[step](fctx)
                    if quiet_wait:
                        wait_for_quiet(quiet_wait)
                    s = run_timed(fl.argv, fctx.repo, floor.env(fctx.repo), fctx.log, timeout=timeout)
                    res.samples.append({"workload": w.name, "op": op.key, "tool": f"floor:{fl.label}",
                                        "rep": rep, "seconds": s.seconds, "rss_kib": s.max_rss_kib,
                                        "timed_out": s.timed_out, "background": round(s.background, 3)})
                    line.append(f"[{fl.label} {_fmt(s.seconds)}]")
                    for step in fl.after:
                        STEPS[step](fctx)
                except CommandFailed as e:
                    res.errors.append({"workload": w.name, "op": op.key, "tool": f"floor:{fl.label}",
                                       "rep": rep, "message": str(e)})
            print("  " + "  ".join(line), flush=True)
    res.workloads[w.name]["loadavg_after"] = loadavg()
    return timed_out


def family(w: Workload) -> str:
    """Which report page a workload belongs to: main, pipeline, remote or history."""
    return "pipeline" if w.pipeline else "remote" if w.remote else "history" if w.history else "main"


def warm_up(tools: list[Tool]) -> None:
    """Compile bytecode and load the interpreters into the page cache, untimed."""
    for tool in tools:
        for _ in range(2):
            try:
                run_timed(tool.argv(["{tool}", "--help"]), WORK, tool.env(WORK),
                          WORK / "logs" / "warmup.log", timeout=120, ok_codes=tuple(range(256)))
            except CommandFailed:
                pass


def select_ops(keys: list[str] | None, scaling: bool) -> list[Op]:
    ops = [o for o in OPS if o.scaling] if scaling else list(OPS)
    if keys:
        ops = [o for o in ops if o.key in keys]
    return ops
