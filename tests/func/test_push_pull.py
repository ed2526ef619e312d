"""Remotes: the shared store contract on a local folder and a real S3 server (moto on
127.0.0.1), and push / fetch / pull end to end in real git repositories."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from mlvc.objects.hashing import hash_bytes
from mlvc.odb.local import LocalObjectStore
from mlvc.odb.remote import RemoteSpec, open_remote

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))  # test_odb's helpers (storeutil)
_spec = importlib.util.spec_from_file_location("_odb_contract", Path(__file__).parents[1] / "unit" / "test_odb.py")
_contract = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_contract)
ObjectStoreContract = _contract.ObjectStoreContract


def s3_spec(server, bucket: str, name: str = "s3r") -> RemoteSpec:
    return RemoteSpec(name, f"s3://{bucket}/some/prefix", {"endpointurl": server.endpoint})


class TestLocalFolderRemote(ObjectStoreContract):
    def make_store(self, tmp_path):
        return open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")

    def corrupt(self, store, oid, data):
        with open(store.path(oid), "wb") as f:
            f.write(data)


class TestS3Remote(ObjectStoreContract):
    @pytest.fixture
    def store(self, s3_server):
        return open_remote(s3_spec(s3_server, s3_server.new_bucket()), "/")

    def corrupt(self, store, oid, data):
        store.fs.pipe_file(store.path(oid), data)


@pytest.fixture(params=["folder", "s3"])
def any_remote(request, tmp_path):
    if request.param == "folder":
        return open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")
    server = request.getfixturevalue("s3_server")
    return open_remote(s3_spec(server, server.new_bucket()), "/")


def test_remote_layout_is_the_cache_layout(any_remote):
    oid = any_remote.write_bytes(b"hello")
    assert any_remote.path(oid).endswith(f"/files/xxh3/{oid[:2]}/{oid[2:]}")


def test_a_local_folder_remote_leaves_no_temp_files(tmp_path):
    store = open_remote(RemoteSpec("folder", str(tmp_path / "remote")), "/")
    oid = store.write_bytes(b"x" * 1000)
    assert os.listdir(tmp_path / "remote" / "files" / "xxh3" / oid[:2]) == [oid[2:]]


def test_get_into_the_cache_checks_the_id(any_remote, tmp_path):
    from mlvc.errors import CorruptObjectError

    cache = LocalObjectStore(str(tmp_path / "cache"))
    good = any_remote.write_bytes(b"good data")
    assert any_remote.get_into(good, cache) == len(b"good data")
    assert cache.read_bytes(good) == b"good data"
    bad = hash_bytes(b"expected")
    any_remote._put(bad, b"tampered")
    with pytest.raises(CorruptObjectError) as exc:
        any_remote.get_into(bad, cache)
    assert bad in exc.value.message and repr(any_remote.name) in exc.value.message
    assert not cache.exists(bad)
    assert not [n for n in os.listdir(cache.root + "/" + bad[:2]) if n != bad[2:]]


def test_missing_many_is_one_listing(any_remote, monkeypatch):
    present = [any_remote.write_bytes(str(i).encode()) for i in range(30)]
    absent = [hash_bytes(f"absent {i}".encode()) for i in range(any_remote.LIST_ALL_FROM)]
    calls = []
    real = any_remote._list
    monkeypatch.setattr(any_remote, "_list", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.setattr(any_remote, "exists", lambda oid: pytest.fail("one request per object"))
    assert any_remote.missing(present + absent) == absent
    assert len(calls) == 1
