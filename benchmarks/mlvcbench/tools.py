"""The tools under test and how to reach them.

A tool knows its executable, its environment and the few untimed primitives
the operation table needs (init, choose a cache type, which files to commit
to git, which files to roll back to an older commit). Adding a tool means one
more subclass; adding an operation means one more row in operations.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

from . import s3
from .timing import run_quiet

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCH_DIR.parent
WORK = BENCH_DIR / ".work"

DVC_REQUIREMENTS = ["dvc>=3,<4", "dvc-s3", "matplotlib"]

GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env.update(GIT_ENV)
    env["LC_ALL"] = "C.UTF-8"
    env.update(s3.env())  # dummy credentials while the benchmark's S3 server runs
    return env


@dataclass
class Tool:
    name: str
    exe: list[str] = field(default_factory=list)
    meta_files: tuple[str, ...] = ()   # files the tool wants committed to git
    lock_files: tuple[str, ...] = ()   # rolled back to v1 for "checkout older"

    def env(self, repo: Path) -> dict[str, str]:
        return base_env()

    def argv(self, template: list[str]) -> list[str]:
        out: list[str] = []
        for part in template:
            out.extend(self.exe if part == "{tool}" else [part])
        return out

    def version(self) -> str:
        return "n/a"

    # untimed primitives ---------------------------------------------------
    def init(self, repo: Path, log: Path) -> None:
        pass

    def set_cache_type(self, repo: Path, kind: str, log: Path) -> None:
        pass

    def status_is_clean(self, repo: Path, log: Path) -> bool | None:
        """Independent check of the status a user would see; None if unknown."""
        return None


class Mlvc(Tool):
    def __init__(self, exe: list[str], rev: str | None = None):
        super().__init__("mlvc", exe, ("mlvc.yaml", "mlvc.lock", ".gitignore", ".mlvc/config"),
                         ("mlvc.lock",))
        self.rev = rev  # the commit of a snapshot (--mlvc-rev), else the working tree runs

    def version(self) -> str:
        v = _capture(self.exe + ["--version"])
        v = (v or "?").splitlines()[-1].strip() if v else "?"
        if self.rev:
            last = _capture(["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%h", self.rev, "--", "mlvc"])
            return (f"{v} (mlvc/ as committed at git {self.rev[:7]}, last changed in {last or '?'}; "
                    "exported with git archive)")
        sha = _capture(["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%h", "--", "mlvc"])
        dirty = _capture(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "mlvc"])
        return f"{v} (git {sha or '?'}{', uncommitted changes in mlvc/' if dirty else ''})"

    def python(self) -> str:
        """The interpreter mlvc runs in (beside a venv's ``mlvc`` script, or the one of
        ``python -m mlvc``), for the helpers that use mlvc's libraries (s3fs, pyarrow)."""
        if len(self.exe) >= 3 and self.exe[1:3] == ["-m", "mlvc"]:
            return self.exe[0]
        beside = Path(self.exe[0]).with_name("python")
        return str(beside) if beside.exists() else sys.executable

    def init(self, repo: Path, log: Path) -> None:
        run_quiet(self.exe + ["init"], repo, self.env(repo), log)

    def set_cache_type(self, repo: Path, kind: str, log: Path) -> None:
        run_quiet(self.exe + ["config", "cache.type", kind], repo, self.env(repo), log)

    def status_is_clean(self, repo: Path, log: Path) -> bool | None:
        rc = run_quiet(self.exe + ["status", "--check"], repo, self.env(repo), log,
                       ok_codes=tuple(range(256)))
        return rc == 0


class Dvc(Tool):
    def __init__(self, exe: list[str]):
        super().__init__("dvc", exe, ("data.dvc", ".gitignore", ".dvc", ".dvcignore"),
                         ("data.dvc",))

    def env(self, repo: Path) -> dict[str, str]:
        env = base_env()
        env["DVC_NO_ANALYTICS"] = "1"
        # DVC keeps its hash state and index in a "site cache" (default
        # /var/tmp/dvc). Keep it beside each scratch repo so every fresh repo
        # starts cold, exactly like a fresh mlvc repo, and runs do not share it.
        env["DVC_SITE_CACHE_DIR"] = str(repo.parent / (repo.name + "-dvc-site-cache"))
        cfg = WORK / "dvc-config"
        (cfg / "global").mkdir(parents=True, exist_ok=True)
        (cfg / "system").mkdir(parents=True, exist_ok=True)
        env["DVC_GLOBAL_CONFIG_DIR"] = str(cfg / "global")
        env["DVC_SYSTEM_CONFIG_DIR"] = str(cfg / "system")
        return env

    def version(self) -> str:
        return _capture(self.exe + ["--version"]) or "?"

    def init(self, repo: Path, log: Path) -> None:
        run_quiet(self.exe + ["init", "-q"], repo, self.env(repo), log)

    def set_cache_type(self, repo: Path, kind: str, log: Path) -> None:
        run_quiet(self.exe + ["config", "cache.type", kind], repo, self.env(repo), log)

    # status_is_clean stays None: DVC's own answers are not under test, and the
    # `diff -rq` after each checkout already checks the harness drives it right.


class Floor(Tool):
    """git and coreutils, run on the same files as lower bounds."""

    def __init__(self):
        super().__init__("floor", [], (), ())

    def version(self) -> str:
        git = _capture(["git", "--version"]) or "git ?"
        cp = (_capture(["cp", "--version"]) or "cp ?").splitlines()[0]
        return f"{git}; {cp}"


def _capture(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                             env=base_env() | {"DVC_NO_ANALYTICS": "1"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


# --- locating / provisioning --------------------------------------------------

def find_mlvc(override: str | None) -> tuple[list[str] | None, str]:
    """Return (argv prefix, how it was found) for the mlvc under test."""
    if override:
        return override.split(), f"--mlvc {override}"
    script = REPO_ROOT / ".venv" / "bin" / "mlvc"
    if script.exists():
        return [str(script)], str(script.relative_to(REPO_ROOT))
    probe = subprocess.run([sys.executable, "-c", "import mlvc.__main__"],
                           capture_output=True, cwd=REPO_ROOT)
    if probe.returncode == 0:
        return [sys.executable, "-m", "mlvc"], f"{sys.executable} -m mlvc"
    return None, ("mlvc not found: run `python3 dev.py test` at the repo root to create "
                  ".venv, or pass --mlvc")


def snapshot_mlvc(rev: str) -> tuple[list[str] | None, str, str]:
    """mlvc/ as committed at ``rev``, exported (``git archive``) into
    ``benchmarks/.work/mlvc-SHA/`` and run with the project's venv (its dependencies), so the
    uncommitted edits of a shared checkout stay out of the figures. Returns (argv prefix, how,
    full sha); the prefix is ``None`` and ``how`` says why when it cannot be made."""
    venv_py = REPO_ROOT / ".venv" / "bin" / "python"
    sha = _capture(["git", "-C", str(REPO_ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"])
    if not sha:
        return None, f"--mlvc-rev {rev}: not a commit of {REPO_ROOT}", ""
    if not venv_py.exists():
        return None, "--mlvc-rev needs the project's .venv (python3 dev.py test creates it)", ""
    snap = WORK / f"mlvc-{sha[:12]}"
    src, bindir = snap / "src", snap / "bin"
    if not (snap / "complete").exists():
        rm_rf(snap)
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", sha, "mlvc"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
        bindir.mkdir()
        # shell wrappers: PYTHONPATH puts the snapshot before the editable install's path
        for name, tail in (("python", '"$@"'), ("mlvc", '-m mlvc "$@"')):
            (bindir / name).write_text(f'#!/bin/sh\nPYTHONPATH="{src}" exec "{venv_py}" -P {tail}\n')
            (bindir / name).chmod(0o755)
        (snap / "complete").write_text(sha + "\n")
    return [str(bindir / "mlvc")], f"mlvc/ at {sha[:7]} (--mlvc-rev {rev})", sha


def bench_venv() -> Path:
    return WORK / "dvc-venv"


def ensure_bench_venv(log: Path) -> tuple[Path | None, str]:
    """Create benchmarks/.work/dvc-venv with DVC 3.x and matplotlib, once.

    Returns (venv python, note). On failure returns (None, reason).
    """
    vdir = bench_venv()
    py = vdir / "bin" / "python"
    ok_probe = [str(py), "-c", "import dvc, dvc_s3, matplotlib"]
    if py.exists() and subprocess.run(ok_probe, capture_output=True).returncode == 0:
        return py, "existing"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[setup] creating {vdir.relative_to(REPO_ROOT)} with {' '.join(DVC_REQUIREMENTS)} "
          f"(first run only; log: {log.relative_to(REPO_ROOT)})", flush=True)
    try:
        if not py.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(vdir)
        with open(log, "ab") as f:
            rc = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check",
                                 *DVC_REQUIREMENTS], stdout=f, stderr=subprocess.STDOUT).returncode
    except Exception as e:  # noqa: BLE001 - reported, never hidden
        return None, f"could not create the venv: {e}"
    if rc != 0 or subprocess.run(ok_probe, capture_output=True).returncode != 0:
        return None, f"pip install failed (exit {rc}); see {log}"
    return py, "created"


def dvc_exe() -> list[str]:
    return [str(bench_venv() / "bin" / "dvc")]


def rm_rf(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        # cache files may be read-only; rm -rf handles that and is fast
        subprocess.run(["rm", "-rf", str(path)], check=True)
