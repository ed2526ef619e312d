"""Deterministic workloads: the same seed gives the same bytes on any machine.

Each workload is a list of (relative path, size) under a ``data/`` folder and
the content of file *i* is ``random.Random(f"{seed}:{name}:{i}").randbytes``,
so contents are unique (no accidental deduplication in either cache) and a
workload can be regenerated anywhere. Generated trees are cached under
``benchmarks/.work/workloads/`` with a marker naming their spec.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CHUNK = 1 * MiB


@dataclass(frozen=True)
class PipelineSpec:
    """The pipelines of the ``pipeline`` workload, written the same way as mlvc.yaml and dvc.yaml.

    A chain of ``stages`` stages (``s01`` reads ``data/``, each next one the
    previous one's out) each writing ``files_per_stage`` files of ``size``
    bytes into ``out/sNN/``, ``per_folder`` to a folder; and, in a repository
    of its own, ``branches`` independent chains of ``depth`` stages that each
    sleep ``sleep`` seconds (for ``repro -j``)."""
    stages: int
    files_per_stage: int
    size: int = 4 * KiB
    per_folder: int = 100
    branches: int = 4
    depth: int = 2
    sleep: float = 1.0

    @property
    def out_files(self) -> int:
        return self.stages * self.files_per_stage


@dataclass(frozen=True)
class HistorySpec:
    """A history workload's git repository, built once by ``histbuild.py`` (mlvc only):
    ``log``: an artifact changed in each of ``commits`` commits; ``diff``: the workload's
    files recorded at v1 and, 1 % modified and a few deleted and added, at v2; ``rows``:
    two versions of a Parquet file of ``rows`` rows."""
    kind: str            # "log", "diff" or "rows"
    commits: int = 0
    rows: int = 0


@dataclass(frozen=True)
class Workload:
    name: str          # key used by --only and in the report
    title: str         # human description for the report
    files: tuple[tuple[str, int], ...] = field(repr=False)
    seed: int = 0
    pipeline: PipelineSpec | None = None   # the pipeline ops' stages (the files are their input)
    remote: str = ""   # "local" or "s3": the remote rows (push, no-op push, pull into a clone)
    history: HistorySpec | None = None     # the history rows (log, diff, diff --rows)

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def count(self) -> int:
        return len(self.files)

    def spec_id(self) -> str:
        import hashlib

        spec = [self.name, self.seed, self.files]
        if self.history is not None:  # (left out otherwise: the other workloads keep their ids)
            spec.append([self.history.kind, self.history.commits, self.history.rows])
        h = hashlib.sha256(json.dumps(spec).encode())
        return h.hexdigest()[:16]

    # --- deterministic edits used by "status after a change" / "commit" ---
    def one_file(self) -> str:
        rng = random.Random(f"{self.seed}:{self.name}:one")
        return self.files[rng.randrange(len(self.files))][0]

    def some_files(self, fraction: float = 0.01) -> list[str]:
        rng = random.Random(f"{self.seed}:{self.name}:some")
        k = max(1, int(len(self.files) * fraction))
        picked = rng.sample(range(len(self.files)), k)
        return sorted({self.files[i][0] for i in picked} | {self.one_file()})


def _content(seed: int, name: str, index: int, size: int):
    rng = random.Random(f"{seed}:{name}:{index}")
    left = size
    while left > 0:
        n = min(CHUNK, left)
        yield rng.randbytes(n)
        left -= n


def small_files(count: int, per_folder: int = 100, size: int = 4 * KiB,
                seed: int = 0, name: str | None = None) -> Workload:
    folders = max(1, math.ceil(count / per_folder))
    width = len(str(folders - 1))
    files = tuple(
        (f"d{i % folders:0{width}d}/f{i:07d}.bin", size) for i in range(count)
    )
    label = name or f"files-{count}"
    return Workload(label, f"{count:,} files x {size // KiB} KiB in {folders:,} folders",
                    files, seed)


def large_file(size: int, seed: int = 0, name: str = "large") -> Workload:
    human = f"{size // GiB} GiB" if size >= GiB else f"{size // MiB} MiB"
    return Workload(name, f"one {human} file", (("model.bin", size),), seed)


def mixed(count: int, max_size: int, seed: int = 0, name: str = "mixed") -> Workload:
    """Mostly small files with a heavy tail, 1 KiB up to ``max_size``.

    90 % log-uniform in [1 KiB, 1 MiB), 9 % in [1 MiB, 10 MiB), 1 % in
    [10 MiB, max_size]; the largest file is exactly ``max_size``.
    """
    rng = random.Random(f"{seed}:{name}:sizes")
    hi_small = min(1 * MiB, max_size)
    hi_mid = min(10 * MiB, max_size)
    files = []
    kinds = ("images", "audio", "text", "tables", "models")
    for i in range(count):
        r = rng.random()
        lo, hi = (KiB, hi_small) if r < 0.90 else (hi_small, hi_mid) if r < 0.99 else (hi_mid, max_size)
        size = int(math.exp(rng.uniform(math.log(lo), math.log(max(hi, lo + 1)))))
        files.append((f"{kinds[i % len(kinds)]}/part{i % 17:02d}/item{i:05d}.bin", size))
    files[-1] = (files[-1][0], max_size)
    total = sum(s for _, s in files)
    human = f"{total / GiB:.2f} GiB" if total >= GiB else f"{total / MiB:.0f} MiB"
    return Workload(name, f"{count:,} files, 1 KiB to {max_size // MiB} MiB, {human} in all",
                    tuple(files), seed)


def pipeline(spec: PipelineSpec, seed: int = 0, name: str = "pipeline", inputs: int = 100) -> Workload:
    """``inputs`` files of 4 KiB in ``data/`` (the first stage's dep) and the pipelines of ``spec``."""
    files = tuple((f"in{i:04d}.bin", 4 * KiB) for i in range(inputs))
    title = (f"{spec.stages}-stage pipeline writing {spec.out_files:,} files x {spec.size // KiB} KiB "
             f"({spec.files_per_stage:,} a stage); {spec.branches} branches of {spec.depth} stages "
             f"sleeping {spec.sleep:g} s")
    return Workload(name, title, files, seed, spec)


def standard(quick: bool, seed: int) -> dict[str, Workload]:
    """The main workloads of the issues, or their --quick miniatures."""
    if quick:
        return {
            "small": small_files(200, seed=seed, name="small"),
            "large": large_file(4 * MiB, seed=seed),
            "mixed": mixed(60, 2 * MiB, seed=seed),
            "pipeline": pipeline(PipelineSpec(stages=10, files_per_stage=20, sleep=0.1), seed, inputs=10),
        }
    return {
        "small": small_files(20_000, seed=seed, name="small"),
        "large": large_file(1 * GiB, seed=seed),
        "mixed": mixed(2_000, 50 * MiB, seed=seed),
        "pipeline": pipeline(PipelineSpec(stages=10, files_per_stage=2_000, sleep=1.0), seed),
    }


def remote(quick: bool, seed: int) -> dict[str, Workload]:
    """Issue 9's remote workloads: push, no-op push and pull into a fresh clone, to a local
    folder (20,000 files of 4 KiB; one 1 GiB file) and to a local S3 server (the 20,000)."""
    n, big = (200, 4 * MiB) if quick else (20_000, 1 * GiB)
    where = {"local": "a local folder remote", "s3": "a local SeaweedFS S3 server"}
    ws = [(small_files(n, seed=seed, name="remote-small"), "local"),
          (large_file(big, seed=seed, name="remote-large"), "local"),
          (small_files(n, seed=seed, name="remote-s3"), "s3")]
    return {w.name: replace(w, remote=kind, title=f"{w.title}, to and from {where[kind]}")
            for w, kind in ws}


def history(quick: bool, seed: int) -> dict[str, Workload]:
    """Issue 10's history workloads (mlvc only, absolute goals)."""
    commits, n, rows = (20, 200, 10_000) if quick else (1_000, 20_000, 1_000_000)
    folder = small_files(n, seed=seed, name="history-diff")
    return {
        "history-log": Workload("history-log", f"`mlvc log` of an artifact changed in each of "
                                f"{commits:,} commits", (), seed, history=HistorySpec("log", commits=commits)),
        "history-diff": replace(folder, title=f"`mlvc diff v1 v2` of a folder of {folder.title}, "
                                f"1 % modified, 0.25 % deleted and added", history=HistorySpec("diff")),
        "history-rows": Workload("history-rows", f"`mlvc diff --rows` of two {rows:,}-row Parquet files "
                                 f"(1 % of the rows modified, 0.5 % removed, 0.5 % added)", (), seed,
                                 history=HistorySpec("rows", rows=rows)),
    }


# The command of every stage of the chain (stdlib only, run by the runner's Python for both
# tools): a digest of its input (file names and the first file's bytes), then its files.
GEN_SCRIPT = """\
import hashlib, os, random, sys

stage, count, size, per_folder, out, src = sys.argv[1:7]
count, size, per_folder = int(count), int(size), int(per_folder)
names = sorted(os.path.relpath(os.path.join(d, f), src) for d, _, fs in os.walk(src) for f in fs)
h = hashlib.sha256(stage.encode() + "\\n".join(names).encode())
with open(os.path.join(src, names[0]), "rb") as f:
    h.update(f.read())
digest = h.hexdigest()
folders = max(1, -(-count // per_folder))
for k in range(folders):
    os.makedirs(os.path.join(out, f"d{k:03d}"), exist_ok=True)
for i in range(count):
    with open(os.path.join(out, f"d{i % folders:03d}", f"f{i:05d}.bin"), "wb") as f:
        f.write(random.Random(f"{digest}:{i}").randbytes(size))
"""


def _q(s: str) -> str:
    return json.dumps(s)  # a JSON string is a YAML double-quoted scalar


def _stages_yaml(stages: dict[str, dict], top: str) -> str:
    lines = [top] if top else []
    lines.append("stages:")
    for name, st in stages.items():
        lines += [f"  {name}:", f"    cmd: {_q(st['cmd'])}"]
        for key in ("deps", "outs"):
            if st.get(key):
                lines.append(f"    {key}:")
                lines += [f"    - {_q(p)}" for p in st[key]]
    return "\n".join(lines) + "\n"


def pipeline_file(stages: dict[str, dict], tool: str) -> tuple[str, str]:
    """(file name, text) of ``stages`` for ``tool``: mlvc.yaml or dvc.yaml, same stages."""
    return ("mlvc.yaml", _stages_yaml(stages, "schema: 2")) if tool == "mlvc" else \
        ("dvc.yaml", _stages_yaml(stages, ""))


def chain_stages(spec: PipelineSpec, python: str) -> dict[str, dict]:
    """The chain: s01 reads data/, sNN reads out/s(NN-1); each writes out/sNN/."""
    import shlex

    stages = {}
    for i in range(1, spec.stages + 1):
        name, src = f"s{i:02d}", "data" if i == 1 else f"out/s{i - 1:02d}"
        cmd = shlex.join([python, "src/gen.py", name, str(spec.files_per_stage), str(spec.size),
                          str(spec.per_folder), f"out/{name}", src])
        stages[name] = {"cmd": cmd, "deps": ["src/gen.py", src], "outs": [f"out/{name}"]}
    return stages


def sleep_stages(spec: PipelineSpec) -> dict[str, dict]:
    """``branches`` independent chains: bJsK sleeps, then writes out/bJsK.txt."""
    stages = {}
    for j in range(1, spec.branches + 1):
        for k in range(1, spec.depth + 1):
            name = f"b{j}s{k}"
            dep = "data" if k == 1 else f"out/b{j}s{k - 1}.txt"
            stages[name] = {"cmd": f"sleep {spec.sleep:g} && mkdir -p out && echo {name} > out/{name}.txt",
                            "deps": [dep], "outs": [f"out/{name}.txt"]}
    return stages


def scaling_sizes(quick: bool, million: bool) -> list[int]:
    if quick:
        return [100, 500]
    return [10_000, 100_000] + ([1_000_000] if million else [])


def materialize(w: Workload, root: Path) -> Path:
    """Generate ``w`` once under ``root``; return the path of its data folder."""
    base = root / f"{w.name}-{w.spec_id()}"
    data = base / "data"
    marker = base / "complete.json"
    if marker.exists():
        return data
    if base.exists():
        shutil.rmtree(base)
    data.mkdir(parents=True)  # (empty for a workload without files of its own)
    made = set()
    for i, (rel, size) in enumerate(w.files):
        path = data / rel
        parent = path.parent
        if parent not in made:
            parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        with open(path, "wb") as f:
            for chunk in _content(w.seed, w.name, i, size):
                f.write(chunk)
    marker.write_text(json.dumps({"name": w.name, "title": w.title, "files": w.count,
                                  "bytes": w.total_bytes, "seed": w.seed}))
    return data


def touch(data: Path, rels: list[str], tag: str) -> None:
    """Change files in place: append a few bytes (new size, new mtime, new hash)."""
    for rel in rels:
        with open(data / rel, "ab") as f:
            f.write(f"\n{tag}\n".encode())
