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
from dataclasses import dataclass, field
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CHUNK = 1 * MiB


@dataclass(frozen=True)
class Workload:
    name: str          # key used by --only and in the report
    title: str         # human description for the report
    files: tuple[tuple[str, int], ...] = field(repr=False)
    seed: int = 0

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    @property
    def count(self) -> int:
        return len(self.files)

    def spec_id(self) -> str:
        import hashlib

        h = hashlib.sha256(json.dumps([self.name, self.seed, self.files]).encode())
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


def standard(quick: bool, seed: int) -> dict[str, Workload]:
    """The three main workloads of the issue, or their --quick miniatures."""
    if quick:
        return {
            "small": small_files(200, seed=seed, name="small"),
            "large": large_file(4 * MiB, seed=seed),
            "mixed": mixed(60, 2 * MiB, seed=seed),
        }
    return {
        "small": small_files(20_000, seed=seed, name="small"),
        "large": large_file(1 * GiB, seed=seed),
        "mixed": mixed(2_000, 50 * MiB, seed=seed),
    }


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
