#!/usr/bin/env python3
"""Developer entry point; needs only Python 3.11+ and git.

    python3 dev.py demo    run the end-to-end demo in a temporary folder
    python3 dev.py test    run the test suite (extra arguments go to pytest)

Both create ./.venv on first use and install mlvc into it (editable), with the
`test` extra: pytest, and scikit-learn for examples/digits (which the demo runs).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv

ROOT = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(ROOT, ".venv")
PY = os.path.join(VENV, "bin", "python")
STAMP = os.path.join(VENV, ".mlvc-installed")


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"mlvc needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        want = hashlib.sha256(f.read()).hexdigest()
    if os.path.exists(PY) and os.path.exists(STAMP):
        with open(STAMP) as f:
            if f.read().strip() == want:
                return
    if not os.path.exists(PY):
        print("Creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    print("Installing mlvc and its test dependencies into .venv ...", flush=True)
    # editable_mode=compat: a plain path entry, not an import hook that costs every `mlvc` run ~15 ms
    subprocess.run([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[test]",
                    "--config-settings", "editable_mode=compat"], check=True)
    with open(STAMP, "w") as f:
        f.write(want + "\n")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__.strip())
        return 2
    ensure_venv()
    env = dict(os.environ)
    env["PATH"] = os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", "")
    if argv[0] == "demo":
        return subprocess.call([PY, os.path.join(ROOT, "demo", "demo.py"), *argv[1:]], env=env)
    args = argv[1:] or ["-q", "-n", "auto"]
    return subprocess.call([PY, "-m", "pytest", *args], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
