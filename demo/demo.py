#!/usr/bin/env python3
"""The mlvc demo: the main job, end to end, in a temporary git repository.

It creates a repo, tracks a dataset, commits it, changes it, records the
change, checks the old version out again, and shows `mlvc status` at each
step. Then it runs the pipeline of examples/digits (scikit-learn's bundled
digits: prepare, featurize, train, evaluate) in a repo of its own: repro,
a changed param that re-runs only the stages after it, the param switched
back (restored from the run-cache), and `mlvc verify`; then it pushes to a local
folder remote and pulls into a fresh clone. Every command is
really run; the demo stops with an error if any result is not what it should be.

    python3 dev.py demo [--keep]
"""

from __future__ import annotations

import os
import json
import shlex
import shutil
import subprocess
import sys
import tempfile

BOLD = "\033[1m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


MLVC = shutil.which("mlvc") or f"{shlex.quote(sys.executable)} -m mlvc"
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "digits")
# The example's stages run `python3`: this interpreter's (the venv with scikit-learn) comes first.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")


def run(cmd: str, cwd: str, check: bool = True) -> str:
    print(f"{BOLD}$ {cmd.replace(MLVC, 'mlvc')}{RESET}", flush=True)
    proc = subprocess.run(cmd, shell=True, cwd=cwd, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if output.strip():
        print("  " + output.rstrip().replace("\n", "\n  "))
    if check and proc.returncode != 0:
        sys.exit(f"demo failed: `{cmd}` exited {proc.returncode}")
    return proc.stdout


def repro(mlvc: str, cwd: str) -> dict[str, str]:
    """`mlvc repro --json`: the commands' output as it came, then each stage's action."""
    print(f"{BOLD}$ mlvc repro --json{RESET}", flush=True)
    proc = subprocess.run(f"{mlvc} repro --json", shell=True, cwd=cwd, capture_output=True, text=True)
    if proc.stderr.strip():
        print("  " + proc.stderr.rstrip().replace("\n", "\n  "))
    if proc.returncode != 0:
        sys.exit(f"demo failed: `mlvc repro --json` exited {proc.returncode}")
    stages = json.loads(proc.stdout)["stages"]
    for st in stages:
        why = f" ({'; '.join(st['reason_text'])})" if st["reason_text"] else ""
        print(f"  {st['name']}: {st['action']}{why}")
    return {st["name"]: st["action"] for st in stages}


def set_param(path: str, old: str, new: str) -> None:
    with open(path) as f:
        text = f.read()
    if old not in text:
        sys.exit(f"demo failed: {old.strip()!r} is not in {path}")
    with open(path, "w") as f:
        f.write(text.replace(old, new))
    print(f"{BOLD}$ edit params.yaml: {old.strip()} -> {new.strip()}{RESET}")


def accuracy(repo: str) -> float:
    with open(os.path.join(repo, "reports", "metrics.json")) as f:
        return json.load(f)["accuracy"]


def pipeline_demo(mlvc: str, work: str) -> None:
    repo = os.path.join(work, "digits")
    shutil.copytree(EXAMPLE, repo)
    stages = ["prepare", "featurize", "train", "evaluate"]

    step("A pipeline: examples/digits in a repository of its own")
    run("git init -q -b main && git config user.email demo@example.com && git config user.name Demo", repo)
    run(f"{mlvc} init", repo)
    run("git add . && git commit -q -m 'digits pipeline'", repo)
    run(f"{mlvc} stage list", repo)
    run(f"{mlvc} dag", repo)

    step("Run it: every stage runs once")
    got = repro(mlvc, repo)
    expect(got == dict.fromkeys(stages, "ran"), "prepare, featurize, train and evaluate ran")
    run("cat reports/metrics.json", repo)
    first = accuracy(repo)
    expect(first > 0.9, f"the model is accurate ({first:.4f} on the test images)")
    run("git add mlvc.lock data/.gitignore models/.gitignore reports/metrics.json"
        " && git commit -q -m 'digits: first run'", repo)
    got = repro(mlvc, repo)
    expect(got == dict.fromkeys(stages, "skipped"), "a second repro skips every stage")

    step("Change a param of train: only the stages after it run")
    params = os.path.join(repo, "params.yaml")
    set_param(params, "  C: 1.0 ", "  C: 0.1 ")
    run(f"{mlvc} repro --dry-run", repo)
    got = repro(mlvc, repo)
    expect(got == {"prepare": "skipped", "featurize": "skipped", "train": "ran", "evaluate": "ran"},
           "prepare and featurize were skipped; train and evaluate ran")
    expect(accuracy(repo) != first, f"the accuracy changed ({first:.4f} -> {accuracy(repo):.4f})")
    run(f"{mlvc} params diff", repo)
    run(f"{mlvc} metrics diff", repo)

    step("Switch it back: train comes from the run-cache")
    set_param(params, "  C: 0.1 ", "  C: 1.0 ")
    got = repro(mlvc, repo)
    expect(got["train"] == "restored", "train was restored from the run-cache, not trained again")
    expect(got["prepare"] == got["featurize"] == "skipped", "prepare and featurize were skipped")
    expect(accuracy(repo) == first, "the metrics are those of the first run again")
    code = subprocess.run("git diff --quiet -- mlvc.lock reports/metrics.json", shell=True, cwd=repo).returncode
    expect(code == 0, "mlvc.lock and reports/metrics.json are as committed after the first run")
    run(f"{mlvc} status --check", repo)

    step("Verify, as CI does: every stage rebuilt from scratch in a worktree of HEAD")
    said = run(f"{mlvc} verify", repo)  # the demo fails on exit 1 (an out differs) or 2 (a stage cannot run)
    expect("reproduced bit for bit" in said, "`mlvc verify` exits 0: every out at HEAD reproduced bit for bit")

    step("Share it through a local folder remote: push, a fresh clone, pull")
    remote = os.path.join(work, "remote")
    run(f"{mlvc} remote add --default store {shlex.quote(remote)}", repo)
    run("git add .mlvc/config && git commit -q -m 'digits: a default remote'", repo)
    run(f"{mlvc} push", repo)
    run(f"{mlvc} status --remote store --check", repo)  # exit 1 if the remote lacks anything the lock needs
    clone = os.path.join(work, "clone")
    run(f"git clone -q {shlex.quote(repo)} {shlex.quote(clone)}", work)
    run(f"{mlvc} pull", clone)  # its own empty cache: every object comes from the remote
    out = os.path.join("data", "features", "train.parquet")
    with open(os.path.join(repo, out), "rb") as a, open(os.path.join(clone, out), "rb") as b:
        expect(a.read() == b.read(), f"the clone's {out} is byte for byte the original's")
    run(f"{mlvc} status --check", clone)


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

        pipeline_demo(mlvc, work)
        print(f"\nDemo finished: every step worked. ({'kept in ' + work if keep else 'temporary folder removed'})")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
