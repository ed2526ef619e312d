"""Plot the scaling study. Run with an interpreter that has matplotlib:

    python -m mlvcbench.plot results.json [more.json ...] out.png

The suite calls it with the benchmark venv's python, so matplotlib never
becomes a dependency of mlvc itself.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict

OPS = [("add-copy", "add (copy)"), ("status-clean", "status, unchanged"),
       ("checkout-full", "checkout, empty workspace")]
STYLE = {"mlvc": dict(color="tab:blue", marker="o"),
         "dvc": dict(color="tab:orange", marker="s"),
         "floor:cp -r": dict(color="tab:gray", marker=".", linestyle="--"),
         "floor:cp -r; sync": dict(color="black", marker=".", linestyle=":"),
         "floor:find": dict(color="tab:green", marker=".", linestyle="--")}
LABEL = {"mlvc": "mlvc", "dvc": "DVC", "floor:cp -r": "cp -r (floor)",
         "floor:cp -r; sync": "cp -r; sync (floor)", "floor:find": "find (floor)"}
# The floor drawn in each panel (as Op.bound in operations.py). Results saved
# before checkout measured its own `cp -r` fall back to the one measured at add.
BOUND = {"add-copy": "floor:cp -r", "status-clean": "floor:find", "checkout-full": "floor:cp -r"}


def main(argv: list[str]) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    *inputs, out = argv
    workloads, samples = {}, []
    for p in inputs:
        d = json.load(open(p))
        workloads.update(d["workloads"])
        samples += d["samples"]
    scaling = {k: v for k, v in workloads.items() if v["kind"] == "scaling"}
    series = defaultdict(dict)  # (op, tool) -> {files: median}
    timeouts = defaultdict(dict)
    for s in samples:
        w = scaling.get(s["workload"])
        if w is None:
            continue
        key = (s["op"], s["tool"])
        if s["seconds"] is None:
            timeouts[key][w["files"]] = True
            continue
        series[key].setdefault(w["files"], []).append(s["seconds"])
    fig, axes = plt.subplots(1, len(OPS), figsize=(13, 4.2), sharey=True)
    for ax, (op, title) in zip(axes, OPS):
        for tool in ("mlvc", "dvc", BOUND[op]):
            pts = series.get((op, tool)) or (series.get(("add-copy", tool), {})
                                             if tool.startswith("floor:") else {})
            if not pts:
                continue
            xs = sorted(pts)
            ys = [statistics.median(pts[x]) for x in xs]
            ax.plot(xs, ys, label=LABEL[tool], **STYLE[tool])
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:.0f}s" if y >= 10 else f"{y:.2g}s", (x, y), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color=STYLE[tool]["color"])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("files (4 KiB each)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds (median, whole process)")
    for ax in axes:  # each panel draws its own floor
        ax.legend(fontsize=8)
    fig.suptitle("mlvc vs DVC: how time grows with the number of files")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
