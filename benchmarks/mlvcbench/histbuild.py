"""Build the git repositories of the history workloads (run with mlvc's own Python).

    python histbuild.py log  DEST --commits N --seed S
    python histbuild.py diff DEST --data PRISTINE --seed S
    python histbuild.py rows DEST --rows N --seed S

Not imported by the runner (it needs mlvc and pyarrow, the runner only the standard
library): the runner starts it with the Python beside ``.venv/bin/mlvc`` and caches what it
builds under ``benchmarks/.work/workloads/``. Every commit has a fixed author, committer and
date, and every byte comes from the seed, so a rebuild gives the same history. What the
workload's check steps expect (the counts of changes) is printed as one JSON line.

- ``log``: ``model.bin`` (4 KiB) changed and recorded (``mlvc add``, ``git commit``) in each
  of N commits; ``mlvc.api.add`` in this process, so N commits cost N adds, not N
  interpreter start-ups.
- ``diff``: ``data/`` (the pristine folder, e.g. 20,000 files) recorded at tag ``v1``; then
  1 % of its files modified, 0.25 % deleted and as many added, recorded at tag ``v2``.
- ``rows``: ``table.parquet`` of N rows (``id``, ``x``, ``y``, ``name``, ``flag``) at tag
  ``v1``; at ``v2`` 1 % of the rows have a new ``x``, 0.5 % are gone and 0.5 % new ids are
  appended.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C.UTF-8"}
EPOCH = 1_767_225_600  # 2026-01-01 00:00 UTC: commit i is dated EPOCH + 60 * i


class Git:
    def __init__(self, repo: Path, mlvc: list[str]):
        self.repo, self.mlvc, self.n = repo, mlvc, 0
        self.env = {**os.environ, **GIT_ENV}

    def __call__(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.repo, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)

    def commit(self, msg: str, tag: str | None = None) -> None:
        self.n += 1
        date = f"@{EPOCH + 60 * self.n} +0000"
        self.env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
        self("add", "-A")
        self("commit", "-q", "--allow-empty", "-m", msg)
        if tag:
            self("tag", tag)

    def tool(self, *args: str) -> None:
        subprocess.run([*self.mlvc, *args], cwd=self.repo, env=self.env, check=True,
                       stdout=subprocess.DEVNULL)


def start(dest: Path, mlvc: list[str]) -> Git:
    dest.mkdir(parents=True)
    git = Git(dest, mlvc)
    git("init", "-q")
    git.commit("empty")
    git.tool("init")
    git.commit("mlvc init")
    return git


def build_log(dest: Path, mlvc: list[str], commits: int, seed: int) -> dict:
    from mlvc import api

    git = start(dest, mlvc)
    for i in range(commits):
        (dest / "model.bin").write_bytes(random.Random(f"{seed}:history-log:{i}").randbytes(4096))
        api.add(["model.bin"], cwd=str(dest))
        git.commit(f"model, version {i + 1}")
    return {"commits": commits}


def build_diff(dest: Path, mlvc: list[str], data: Path, seed: int) -> dict:
    git = start(dest, mlvc)
    shutil.copytree(data, dest / "data")
    git.tool("add", "data")
    git.commit("data v1", tag="v1")
    files = sorted(str(p.relative_to(dest / "data")) for p in (dest / "data").rglob("*") if p.is_file())
    rng = random.Random(f"{seed}:history-diff:edits")
    n_mod, n_del = max(1, len(files) // 100), max(1, len(files) // 400)
    picked = rng.sample(files, n_mod + n_del)
    deleted, modified = picked[:n_del], picked[n_del:]
    for rel in modified:
        with open(dest / "data" / rel, "ab") as f:
            f.write(b"\nv2\n")
    for rel in deleted:
        os.unlink(dest / "data" / rel)
    folders = sorted({str(Path(rel).parent) for rel in files})
    for k in range(n_del):
        path = dest / "data" / folders[k % len(folders)] / f"new{k:05d}.bin"
        path.write_bytes(random.Random(f"{seed}:history-diff:new:{k}").randbytes(4096))
    git.tool("add", "data")
    git.commit("data v2", tag="v2")
    return {"modified": len(modified), "deleted": n_del, "added": n_del}


def build_rows(dest: Path, mlvc: list[str], rows: int, seed: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    git = start(dest, mlvc)
    rng = np.random.default_rng(seed)
    ids = np.arange(rows, dtype=np.int64)
    x = rng.random(rows)
    y = rng.integers(0, 1_000_000, rows, dtype=np.int64)
    names = pa.array([f"item-{v:06d}" for v in rng.integers(0, 1_000_000, rows)])
    flag = rng.random(rows) < 0.5

    def write(ids, x, y, names, flag) -> None:
        table = pa.table({"id": ids, "x": x, "y": y, "name": names, "flag": flag})
        pq.write_table(table, dest / "table.parquet", row_group_size=128 * 1024)

    write(ids, x, y, names, flag)
    git.tool("add", "table.parquet")
    git.commit("table v1", tag="v1")
    n_mod, n_del = max(1, rows // 100), max(1, rows // 200)
    order = rng.permutation(rows)
    mod, gone = order[:n_mod], order[n_mod:n_mod + n_del]
    x2 = x.copy()
    x2[mod] += 1.0
    keep = np.ones(rows, dtype=bool)
    keep[gone] = False
    new_ids = np.arange(rows, rows + n_del, dtype=np.int64)
    write(np.concatenate([ids[keep], new_ids]),
          np.concatenate([x2[keep], rng.random(n_del)]),
          np.concatenate([y[keep], rng.integers(0, 1_000_000, n_del, dtype=np.int64)]),
          pa.concat_arrays([names.filter(pa.array(keep)),
                            pa.array([f"new-{k:06d}" for k in range(n_del)])]),
          np.concatenate([flag[keep], np.zeros(n_del, dtype=bool)]))
    git.tool("add", "table.parquet")
    git.commit("table v2", tag="v2")
    return {"rows": rows, "modified": n_mod, "removed": n_del, "added": n_del}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=("log", "diff", "rows"))
    p.add_argument("dest", type=Path)
    p.add_argument("--mlvc", required=True, help="the mlvc command (space separated)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--commits", type=int, default=1000)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--data", type=Path)
    a = p.parse_args(argv)
    mlvc = a.mlvc.split()
    if a.kind == "log":
        expect = build_log(a.dest, mlvc, a.commits, a.seed)
    elif a.kind == "diff":
        expect = build_diff(a.dest, mlvc, a.data, a.seed)
    else:
        expect = build_rows(a.dest, mlvc, a.rows, a.seed)
    print(json.dumps(expect))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
