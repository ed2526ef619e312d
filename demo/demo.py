#!/usr/bin/env python3
"""The mlvc demo: the main job, end to end, in a temporary git repository.

It creates a repo, tracks a dataset, commits it, changes it, records the
change, checks the old version out again, and shows `mlvc status` at each
step. Every command is really run; the demo stops with an error if any
result is not what it should be.

    python3 dev.py demo [--keep]
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


MLVC = shutil.which("mlvc") or f"{shlex.quote(sys.executable)} -m mlvc"


def run(cmd: str, cwd: str, check: bool = True) -> str:
    print(f"{BOLD}$ {cmd.replace(MLVC, 'mlvc')}{RESET}", flush=True)
    proc = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if output.strip():
        print("  " + output.rstrip().replace("\n", "\n  "))
    if check and proc.returncode != 0:
        sys.exit(f"demo failed: `{cmd}` exited {proc.returncode}")
    return proc.stdout


def step(title: str) -> None:
    print(f"\n{BOLD}== {title}{RESET}")


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def expect(cond: bool, what: str) -> None:
    if not cond:
        sys.exit(f"demo failed: {what}")
    print(f"  ok: {what}")


def main() -> int:
    keep = "--keep" in sys.argv
    mlvc = MLVC
    work = tempfile.mkdtemp(prefix="mlvc-demo-")
    repo = os.path.join(work, "project")
    os.makedirs(repo)
    try:
        step("A git repository with mlvc in it")
        run("git init -q -b main && git config user.email demo@example.com && git config user.name Demo", repo)
        run(f"{mlvc} init", repo)
        run("git add .mlvc && git commit -q -m 'mlvc init'", repo)

        step("Track a dataset (v1)")
        for i in range(50):
            write(os.path.join(repo, "data", "train", f"part-{i:03d}.csv"),
                  "id,x,y\n" + "".join(f"{j},{i * j % 97},{(i + j) % 2}\n" for j in range(200)))
        write(os.path.join(repo, "data", "labels.csv"), "label,name\n0,cat\n1,dog\n")
        run(f"{mlvc} add data", repo)
        run(f"{mlvc} status", repo)
        run("git add .gitignore mlvc.yaml mlvc.lock"
            " && git commit -q -m 'data v1' && git tag v1", repo)
        run("cat mlvc.lock", repo)

        step("Change the dataset")
        write(os.path.join(repo, "data", "labels.csv"), "label,name\n0,cat\n1,dog\n2,bird\n")
        os.remove(os.path.join(repo, "data", "train", "part-007.csv"))
        write(os.path.join(repo, "data", "train", "part-050.csv"), "id,x,y\n1,2,3\n")
        run(f"{mlvc} status", repo)
        print(f"{BOLD}$ mlvc status --check{RESET}")
        code = subprocess.run(f"{mlvc} status --check", shell=True, cwd=repo, capture_output=True).returncode
        expect(code == 1, "`mlvc status --check` exits 1 while the data differs from mlvc.lock")

        step("Record it (v2)")
        run(f"{mlvc} commit", repo)
        run(f"{mlvc} status", repo)
        run("git commit -q -am 'data v2' && git tag v2 && git log --oneline", repo)
        run(f"{mlvc} ls --rev v1", repo)

        step("Go back to v1: git checkout, then mlvc checkout")
        run("git checkout -q v1", repo)
        run(f"{mlvc} status", repo, check=False)
        run(f"{mlvc} checkout", repo)
        run(f"{mlvc} status --check", repo)
        with open(os.path.join(repo, "data", "labels.csv")) as f:
            expect("bird" not in f.read(), "data/labels.csv is the v1 version again")
        expect(os.path.exists(os.path.join(repo, "data", "train", "part-007.csv")), "the deleted file is back")
        expect(not os.path.exists(os.path.join(repo, "data", "train", "part-050.csv")), "the v2-only file is gone")

        step("And forward to v2 again")
        run("git checkout -q main", repo)
        run(f"{mlvc} checkout", repo)
        run(f"{mlvc} status --check", repo)
        with open(os.path.join(repo, "data", "labels.csv")) as f:
            expect("bird" in f.read(), "data/labels.csv is the v2 version")

        step("Check the cache")
        run(f"{mlvc} fsck", repo)
        print(f"\nDemo finished: every step worked. ({'kept in ' + work if keep else 'temporary folder removed'})")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
