"""GCS and Azure remotes against real emulators on 127.0.0.1 (fake-gcs-server, Azurite): the store
contract, a push / fresh clone / pull round trip through the CLI, refused credentials and a
missing bucket or container (one line, exit 3), and how these backends' failures are classed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from funcutil import one_line_error
from test_remote_servers import _project, _round_trip  # the round trip every remote kind makes

from mlvc.objects.hashing import hash_bytes
from mlvc.odb.backends import RemoteError, RemoteSpec, open_remote

_spec = importlib.util.spec_from_file_location("_odb_contract_cloud",
                                               Path(__file__).parents[1] / "unit" / "test_odb.py")
_contract = importlib.util.module_from_spec(_spec)
sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
_spec.loader.exec_module(_contract)
ObjectStoreContract = _contract.ObjectStoreContract


def gs_spec(server, bucket: str, name: str = "gcs", **options) -> RemoteSpec:
    return RemoteSpec(name, f"gs://{bucket}/some/prefix", {"endpointurl": server.endpoint, "anon": "true", **options})


def az_spec(server, container: str, name: str = "azure", connection_string: str | None = None) -> RemoteSpec:
    return RemoteSpec(name, f"az://{container}/some/prefix",
                      {"connection_string": connection_string or server.connection_string()})


# ---------------------------------------------------------------- the contract on the emulators

class TestGcsRemote(ObjectStoreContract):
    @pytest.fixture
    def store(self, gcs_server):
        return open_remote(gs_spec(gcs_server, gcs_server.new_bucket()), "/")

    def corrupt(self, store, oid, data):
        store.fs.pipe_file(store.path(oid), data)


class TestAzureRemote(ObjectStoreContract):
    @pytest.fixture
    def store(self, azurite_server):
        return open_remote(az_spec(azurite_server, azurite_server.new_container()), "/")

    def corrupt(self, store, oid, data):
        store.fs.pipe_file(store.path(oid), data)


# ---------------------------------------------------------------- push / clone / pull

def test_push_clone_pull_through_fake_gcs_server(repo, mlvc, tmp_path, gcs_server, monkeypatch):
    bucket = gcs_server.new_bucket()
    assert mlvc("remote", "add", "--default", "store", f"gs://{bucket}/team/data").exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", gcs_server.endpoint).exit_code == 0
    assert mlvc("remote", "modify", "store", "anon", "true").exit_code == 0
    repo.commit("remote")
    _round_trip(repo, mlvc, tmp_path, monkeypatch)
    names = gcs_server.objects(bucket)
    objects = [n for n in names if n.startswith("team/data/files/xxh3/")]
    assert len(objects) == 6 and all(n.startswith("team/data/locks/push-") for n in set(names) - set(objects))


def test_push_clone_pull_through_azurite(repo, mlvc, tmp_path, azurite_server, monkeypatch):
    container = azurite_server.new_container()
    assert mlvc("remote", "add", "--default", "store", f"az://{container}/team/data").exit_code == 0
    r = mlvc("remote", "modify", "store", "connection_string", azurite_server.connection_string())
    assert r.exit_code == 0 and "stored in .mlvc/config.local" in r.stderr  # a secret: never committed
    assert "AccountKey" not in (repo.root / ".mlvc" / "config").read_text()
    repo.commit("remote")
    _round_trip(repo, mlvc, tmp_path, monkeypatch,
                local_options=[("--local", "store", "connection_string", azurite_server.connection_string())])
    names = azurite_server.blobs(container)
    objects = [n for n in names if n.startswith("team/data/files/xxh3/")]
    assert len(objects) == 6 and all(n.startswith("team/data/locks/push-") for n in set(names) - set(objects))


# ---------------------------------------------------------------- refused credentials, missing bucket

def _push_to(repo, mlvc, url: str, **options) -> str:
    assert mlvc("remote", "add", "--default", "store", url).exit_code == 0
    for option, value in options.items():
        assert mlvc("remote", "modify", "store", option, value).exit_code == 0
    _project(repo, mlvc)
    before = sorted(p.name for p in (repo.root / ".mlvc").rglob("*"))
    r = mlvc("push")
    assert r.exit_code == 3, r.output
    assert sorted(p.name for p in (repo.root / ".mlvc").rglob("*")) == before
    return one_line_error(r)


def test_a_missing_gcs_bucket_is_one_line(repo, mlvc, gcs_server):
    line = _push_to(repo, mlvc, "gs://no-such-bucket/d", endpointurl=gcs_server.endpoint, anon="true")
    assert line == ("error: push to remote 'store' failed: the bucket or folder does not exist; "
                    "create it, or fix the remote's url")


def test_a_missing_azure_container_is_one_line(repo, mlvc, azurite_server):
    line = _push_to(repo, mlvc, "az://no-such-container/d", connection_string=azurite_server.connection_string())
    assert line == ("error: push to remote 'store' failed: the bucket or folder does not exist; "
                    "create it, or fix the remote's url")


def test_refused_gcs_credentials_are_one_line(repo, mlvc, gcs_server, tmp_path):
    from cloudservers import RefusingTokenServer

    tokens = RefusingTokenServer()
    try:
        key = tokens.key_file(str(tmp_path / "key.json"))
        line = _push_to(repo, mlvc, f"gs://{gcs_server.new_bucket()}/d", endpointurl=gcs_server.endpoint,
                        credentialpath=key)
    finally:
        tokens.stop()
    assert line == ("error: push to remote 'store' failed: permission denied; "
                    "check the credentials and what they may access")
    assert tokens.asked == 1  # refused credentials are asked once: gcsfs's own retries are off


def test_refused_azure_credentials_are_one_line(repo, mlvc, azurite_server):
    wrong = azurite_server.connection_string(key="d3Jvbmcga2V5" * 4)
    line = _push_to(repo, mlvc, f"az://{azurite_server.new_container()}/d", connection_string=wrong)
    assert line == ("error: push to remote 'store' failed: permission denied; "
                    "check the credentials and what they may access")


def test_a_gcs_credentialpath_that_is_no_file_is_one_line(repo, mlvc, gcs_server, tmp_path):
    """gcsfs takes a string that names no file for a raw access token: a typo would be sent as one."""
    line = _push_to(repo, mlvc, f"gs://{gcs_server.new_bucket()}/d", endpointurl=gcs_server.endpoint,
                    credentialpath=str(tmp_path / "typo.json"))
    assert line == (f"error: remote 'store': credentialpath {tmp_path / 'typo.json'} is not a file; set it to a "
                    "service account or authorized-user JSON key file "
                    "(`mlvc remote modify --local store credentialpath PATH`)")


# ---------------------------------------------------------------- how these backends' failures are classed

@pytest.fixture
def fast_retries(monkeypatch):
    import mlvc.odb.remote as remote

    monkeypatch.setattr(remote, "RETRY_BASE", 0.01)  # the same backoff, in milliseconds


def _gcs_behind(proxy, gcs_server, data: bytes = b"some object") -> tuple[object, str]:
    """A fresh store through ``proxy`` (its first request opens a connection, which the proxy
    fails or passes) and the id of ``data``, written beforehand straight to the server. A read
    is one request; gcsfs's exists is two at once, one of which it may cancel."""
    bucket = gcs_server.new_bucket()
    oid = open_remote(gs_spec(gcs_server, bucket), "/").write_bytes(data)
    store = open_remote(RemoteSpec("flaky", f"gs://{bucket}/some/prefix",
                                   {"endpointurl": proxy.endpoint, "anon": "true"}), "/")
    return store, oid


def _azure_behind(proxy, azurite_server) -> object:
    from cloudservers import AZURITE_ACCOUNT, AZURITE_KEY

    container = azurite_server.new_container()
    connection = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                  f"BlobEndpoint={proxy.endpoint}/{AZURITE_ACCOUNT};")
    return open_remote(RemoteSpec("flaky", f"az://{container}/p", {"connection_string": connection}), "/")


@pytest.fixture
def gcs_proxy(gcs_server, fast_retries):
    from test_remote_servers import FaultyProxy

    p = FaultyProxy(gcs_server.port)
    yield p
    p.close()


@pytest.fixture
def azure_proxy(azurite_server, fast_retries):
    from test_remote_servers import FaultyProxy

    p = FaultyProxy(azurite_server.port)
    yield p
    p.close()


def test_dropped_gcs_connections_are_retried(gcs_server, gcs_proxy):
    store, oid = _gcs_behind(gcs_proxy, gcs_server, b"through a dropping link")
    gcs_proxy.set("drop", 2)  # aiohttp reconnects once by itself, then the error reaches us
    assert store.read_bytes(oid) == b"through a dropping link"
    assert gcs_proxy.failed == 2
    assert store.retried == 1


def test_dropped_azure_connections_are_retried(azurite_server, azure_proxy):
    store = _azure_behind(azure_proxy, azurite_server)
    azure_proxy.set("drop", 2)  # aiohttp reconnects once by itself, then the error reaches us
    oid = store.write_bytes(b"through a dropping link")
    assert azure_proxy.failed == 2
    assert store.retried == 1
    assert store.read_bytes(oid) == b"through a dropping link"


@pytest.mark.parametrize("backend", ["gcs", "azure"])
def test_a_dead_link_gives_up_after_our_tries_alone(backend, request):
    """gcsfs (6 tries) and the Azure SDK (4, after 15 s, 18 s and 24 s) retry by themselves
    unless told not to: here every try is ours, RETRY_TRIES of them, each one request that
    aiohttp sends a second time on a fresh connection."""
    from mlvc.odb.remote import RETRY_TRIES

    request.getfixturevalue("fast_retries")
    server = request.getfixturevalue("gcs_server" if backend == "gcs" else "azurite_server")
    proxy = request.getfixturevalue(f"{backend}_proxy")
    if backend == "gcs":
        store, oid = _gcs_behind(proxy, server)
        act = lambda: store.read_bytes(oid)  # noqa: E731
    else:
        store = _azure_behind(proxy, server)
        act = lambda: store.write_bytes(b"never")  # noqa: E731
    proxy.set("drop", -1)
    with pytest.raises(RemoteError) as info:
        act()
    assert str(info.value).startswith(f"remote 'flaky' kept failing: ServerDisconnectedError ({RETRY_TRIES} tries in ")
    assert store.retried == RETRY_TRIES - 1
    assert proxy.failed == RETRY_TRIES * 2


def test_a_gcs_403_is_permission_denied_and_not_retried(gcs_server, gcs_proxy):
    store, oid = _gcs_behind(gcs_proxy, gcs_server)
    gcs_proxy.set("403", -1)
    with pytest.raises(PermissionError):
        store.read_bytes(oid)
    assert gcs_proxy.failed == 1
    assert store.retried == 0


def test_an_azure_403_is_permission_denied_and_not_retried(azurite_server, azure_proxy):
    store = _azure_behind(azure_proxy, azurite_server)
    azure_proxy.set("403", -1)
    with pytest.raises(PermissionError):
        store.write_bytes(b"denied")
    assert azure_proxy.failed == 1
    assert store.retried == 0


def test_a_gcs_503_is_retried(gcs_server, gcs_proxy):
    store, oid = _gcs_behind(gcs_proxy, gcs_server, b"through a throttled link")
    gcs_proxy.set("503", 3)
    assert store.read_bytes(oid) == b"through a throttled link"
    assert gcs_proxy.failed == 3
    assert store.retried == 3  # gcsfs's own retries are off: every retry is ours, counted


def test_an_azure_503_is_retried(azurite_server, azure_proxy):
    store = _azure_behind(azure_proxy, azurite_server)
    azure_proxy.set("503", 3)
    oid = store.write_bytes(b"through a throttled link")
    assert azure_proxy.failed == 3
    assert store.retried == 3
    assert store.read_bytes(oid) == b"through a throttled link"


# ---------------------------------------------------------------- options

def test_anon_takes_true_or_false(repo, mlvc):
    assert mlvc("remote", "add", "g", "gs://bucket/p").exit_code == 0
    r = mlvc("remote", "modify", "g", "anon", "yes")
    assert r.exit_code == 3
    assert one_line_error(r) == "error: anon must be true or false"
    assert "anon" not in (repo.root / ".mlvc" / "config").read_text()
    assert mlvc("remote", "modify", "g", "anon", "true").exit_code == 0
    r = mlvc("remote", "modify", "g", "endpointurl", "127.0.0.1:4443")
    assert r.exit_code == 3 and one_line_error(r).startswith("error: endpointurl must be an http:// or https:// URL")


def test_an_azure_remote_without_an_account_is_one_line(repo, mlvc, monkeypatch):
    for var in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(var, raising=False)
    pytest.importorskip("adlfs", reason="adlfs is in the test extra: pip install -e '.[test]'")
    line = _push_to(repo, mlvc, "az://container/d")
    assert line == ("error: remote 'store' names no Azure storage account; set connection_string, or account_name "
                    "(and account_key or sas_token, or sign in with `az login`): "
                    "`mlvc remote modify store account_name NAME`")


def test_a_malformed_azure_connection_string_is_one_line_that_never_quotes_it(repo, mlvc):
    pytest.importorskip("adlfs", reason="adlfs is in the test extra: pip install -e '.[test]'")
    line = _push_to(repo, mlvc, "az://container/d", connection_string="Protocol=http;AccountKey=s3cr3tKey")
    assert line == ("error: remote 'store': connection_string is not a valid Azure Storage connection string; "
                    "copy it from the storage account's Access keys "
                    "(DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...)")


# ---------------------------------------------------------------- gc --remote

def _cloud_remote(mlvc, backend, request) -> RemoteSpec:
    if backend == "gcs":
        server = request.getfixturevalue("gcs_server")
        spec = gs_spec(server, server.new_bucket(), name="store")
    else:
        server = request.getfixturevalue("azurite_server")
        spec = az_spec(server, server.new_container(), name="store")
    assert mlvc("remote", "add", "--default", "store", spec.url).exit_code == 0
    for option, value in spec.options.items():
        assert mlvc("remote", "modify", "store", option, value).exit_code == 0
    return spec


@pytest.mark.parametrize("backend", ["gcs", "azure"])
def test_gc_on_the_remote_keeps_what_is_referenced_or_recent(backend, repo, mlvc, request):
    """The grace period reads these backends' modification times (gcsfs's ``mtime``, adlfs's
    ``last_modified``): what was pushed a moment ago stays; with no grace the old version goes."""
    spec = _cloud_remote(mlvc, backend, request)
    repo.root.gen({"data/a.txt": "alpha", "data/sub/b.txt": "bravo"})
    assert mlvc("add", "data").exit_code == 0
    repo.commit("v1")
    assert mlvc("push").exit_code == 0
    (repo.root / "data" / "sub" / "b.txt").write_text("bravo 2")
    assert mlvc("commit", "data").exit_code == 0
    repo.commit("v2")
    assert mlvc("push").exit_code == 0
    before = set(open_remote(spec, str(repo.root)).iter_oids())
    assert len(before) == 2 + 1 + 2 + 2  # two files and the old b.txt, two trees and two old ones
    r = mlvc("gc", "--remote", "store", "-f", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["objects"] == []  # all written within the default grace period
    assert set(open_remote(spec, str(repo.root)).iter_oids()) == before
    r = mlvc("gc", "--remote", "store", "-f", "--grace", "0", "--json")
    assert r.exit_code == 0, r.output
    gone = set(json.loads(r.stdout)["objects"])
    assert len(gone) == 3 and hash_bytes(b"bravo") in gone  # the old b.txt and the old trees
    assert set(open_remote(spec, str(repo.root)).iter_oids()) == before - gone


# ---------------------------------------------------------------- a file larger than one request

@pytest.mark.slow
@pytest.mark.parametrize("backend", ["gcs", "azure"])
def test_a_file_larger_than_one_request_goes_up_in_parts_and_comes_back(backend, repo, mlvc, request, tmp_path,
                                                                      monkeypatch):
    """66 MiB: above the Azure SDK's single PUT (64 MiB: blocks, then one commit) and gcsfs's simple
    upload (5 MiB: a resumable upload, in two 50 MiB chunks here); read back in 1 MiB reads, hashed
    on the way into the cache."""
    import os

    _cloud_remote(mlvc, backend, request)
    repo.commit("remote")
    block = os.urandom(1 << 20)
    with open(repo.root / "big.bin", "wb") as f:
        for i in range(66):
            f.write(bytes([i]) + block[1:])
    assert mlvc("add", "big.bin").exit_code == 0
    repo.commit("big")
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 1
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    monkeypatch.chdir(clone)
    if backend == "azure":  # the connection string is a secret: each clone sets its own
        assert mlvc("remote", "modify", "--local", "store", "connection_string",
                    request.getfixturevalue("azurite_server").connection_string()).exit_code == 0
    r = mlvc("pull")
    assert r.exit_code == 0, r.output
    assert (clone / "big.bin").read_bytes() == (repo.root / "big.bin").read_bytes()
