"""Remotes against real servers: the store contract and a push / fresh clone / pull round trip
on SeaweedFS's S3 gateway and on a real sshd (SFTP), atomic SSH uploads under a killed client,
and retries with backoff through a local TCP proxy in front of moto that fails on purpose."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from funcutil import accept_forever, git_clone, one_line_error, workspace_files

from mlvc.objects.hashing import hash_bytes
from mlvc.odb.backends import RemoteError, RemoteSpec, open_remote

_spec = importlib.util.spec_from_file_location("_odb_contract_servers",
                                               Path(__file__).parents[1] / "unit" / "test_odb.py")
_contract = importlib.util.module_from_spec(_spec)
sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
_spec.loader.exec_module(_contract)
ObjectStoreContract = _contract.ObjectStoreContract


def seaweed_spec(server, bucket: str, name: str = "weed") -> RemoteSpec:
    return RemoteSpec(name, f"s3://{bucket}/some/prefix", {"endpointurl": server.endpoint})


def ssh_spec(server, path, name: str = "sshr") -> RemoteSpec:
    return RemoteSpec(name, server.url(str(path)), {"keyfile": server.keyfile, "port": str(server.port),
                                                    "known_hosts": server.known_hosts})


# ---------------------------------------------------------------- the contract on real servers

class TestSeaweedRemote(ObjectStoreContract):
    @pytest.fixture
    def store(self, seaweed_server):
        return open_remote(seaweed_spec(seaweed_server, seaweed_server.new_bucket()), "/")

    def corrupt(self, store, oid, data):
        store.fs.pipe_file(store.path(oid), data)


class TestSshRemote(ObjectStoreContract):
    @pytest.fixture
    def store(self, ssh_server, tmp_path):
        return open_remote(ssh_spec(ssh_server, tmp_path / "over-ssh"), "/")

    def corrupt(self, store, oid, data):
        store.fs.pipe_file(store.path(oid), data)


def test_an_ssh_upload_is_moved_into_place(ssh_server, tmp_path):
    store = open_remote(ssh_spec(ssh_server, tmp_path / "r"), "/")
    oid = store.write_bytes(b"over ssh")
    assert Path(store.path(oid)).read_bytes() == b"over ssh"  # sshd runs here: its folder is ours
    assert [p.name for p in Path(store.path(oid)).parent.iterdir()] == [oid[2:]]  # no temp name left


# ---------------------------------------------------------------- push / clone / pull

def _project(repo, mlvc):
    repo.root.gen({"data/a.txt": "alpha", "data/sub/b.txt": "bravo", "data/sub/c.txt": "charlie",
                   "model.bin": "weights"})
    assert mlvc("add", "data", "model.bin").exit_code == 0
    repo.commit("data")


def _round_trip(repo, mlvc, tmp_path, monkeypatch, local_options=()):
    _project(repo, mlvc)
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 4 + 2  # four files, two tree objects
    assert json.loads(mlvc("push", "--json").stdout)["transferred"] == 0
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    for option in local_options:
        assert mlvc("remote", "modify", *option).exit_code == 0
    r = mlvc("pull")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["Fetched 6 object(s) (store).",
                                     "Checked out: 4 added, 0 modified, 0 deleted (0 unchanged)."]
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")
    assert (clone / "model.bin").read_text() == "weights"
    assert mlvc("status", "--check").exit_code == 0


def test_push_clone_pull_through_seaweedfs(repo, mlvc, tmp_path, seaweed_server, monkeypatch):
    bucket = seaweed_server.new_bucket()
    assert mlvc("remote", "add", "--default", "store", f"s3://{bucket}/team/data").exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", seaweed_server.endpoint).exit_code == 0
    repo.commit("remote")
    _round_trip(repo, mlvc, tmp_path, monkeypatch)
    keys = [o["Key"] for o in seaweed_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    objects = [k for k in keys if k.startswith("team/data/files/xxh3/")]
    assert len(objects) == 6 and all(k.startswith("team/data/locks/push-") for k in set(keys) - set(objects))


def test_push_clone_pull_over_ssh(repo, mlvc, tmp_path, ssh_server, monkeypatch):
    folder = tmp_path / "ssh-remote"
    url = f"ssh://root@127.0.0.1{folder}"  # the port comes from the option
    assert mlvc("remote", "add", "--default", "store", url).exit_code == 0
    assert mlvc("remote", "modify", "store", "port", str(ssh_server.port)).exit_code == 0
    repo.commit("remote")
    # the key is this machine's: each clone says where it is (config.local)
    assert mlvc("remote", "modify", "--local", "store", "keyfile", ssh_server.keyfile).exit_code == 0
    assert mlvc("remote", "modify", "--local", "store", "known_hosts", ssh_server.known_hosts).exit_code == 0
    _round_trip(repo, mlvc, tmp_path, monkeypatch,
                local_options=[("--local", "store", "keyfile", ssh_server.keyfile),
                               ("--local", "store", "known_hosts", ssh_server.known_hosts)])
    objects = [p for p in (folder / "files" / "xxh3").rglob("*") if p.is_file()]
    assert len(objects) == 6 and not [p for p in objects if p.name.startswith(".mlvc-tmp")]


def test_a_killed_ssh_upload_leaves_no_object_under_its_name(ssh_server, tmp_path):
    """The client dies (SIGKILL) in the middle of a 512 MiB upload: the remote holds a temp name,
    never a partial object under the id, and the store says the object is missing."""
    big = tmp_path / "big"
    with open(big, "wb") as f:  # not sparse: asyncssh sends only a sparse file's data
        block = b"\1" * (1 << 20)
        for _ in range(512):
            f.write(block)
    oid = hash_bytes(b"the id of some large object")
    folder = tmp_path / "r"
    spec = ssh_spec(ssh_server, folder)
    script = textwrap.dedent(f"""
        from mlvc.odb.backends import RemoteSpec, open_remote
        store = open_remote(RemoteSpec("sshr", {spec.url!r}, {spec.options!r}), "/")
        store.put_file({oid!r}, {str(big)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    fan_out = folder / "files" / "xxh3" / oid[:2]
    deadline = time.monotonic() + 60
    try:
        while True:  # until the first MiB has arrived
            try:
                written = sum(e.stat().st_size for e in os.scandir(fan_out))
            except FileNotFoundError:
                written = 0
            if written > 1 << 20:
                break
            assert proc.poll() is None, "the upload ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    try:
        time.sleep(0.2)  # sshd's sftp-server writes what it has, then sees the client gone
        names = [p.name for p in fan_out.iterdir()]
        assert names and all(n.startswith(".mlvc-tmp-") for n in names), names
        assert not Path(f"{fan_out}/{oid[2:]}").exists()
        store = open_remote(spec, "/")
        assert store.missing([oid]) == [oid]
        assert list(store.iter_oids()) == []
    finally:
        for p in fan_out.iterdir():
            p.unlink()  # a partial GiB need not wait for pytest's cleanup


# ---------------------------------------------------------------- retries through a faulty proxy

SLOW_DOWN = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
             b"Content-Length: %d\r\n\r\n%s")
SLOW_DOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                  b"<Message>Please reduce your request rate.</Message></Error>")
DENIED_BODY = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
               b"<Message>Access Denied</Message></Error>")
DENIED = (b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nConnection: close\r\n"
          b"Content-Length: %d\r\n\r\n%s")


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in front of ``target_port`` that fails the next ``fail`` connections
    (-1: every one) after reading their request: ``mode`` "503" answers 503 SlowDown, "403"
    answers 403 AccessDenied, "drop" closes the connection unanswered. Other connections pass
    through byte for byte. ``failed`` counts the requests it failed. ``trip_after(n)``: after
    ``n`` PUTs passed through, every later request fails (the one that trips is dropped unsent,
    and so is any later one on a connection already open)."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.mode, self.fail, self.failed = "503", 0, 0
        self.puts, self.trip = 0, None
        self.lock = threading.Lock()
        threading.Thread(target=accept_forever, args=(self.sock, self._serve), daemon=True).start()

    def set(self, mode: str, fail: int) -> None:
        with self.lock:
            self.mode, self.fail, self.failed = mode, fail, 0
            self.trip = None

    def trip_after(self, puts: int, mode: str = "503", method: bytes = b"PUT /") -> None:
        with self.lock:
            self.mode, self.fail, self.failed, self.puts, self.trip = mode, 0, 0, 0, puts
            self.method = method

    def _tripped(self, data: bytes) -> bool:
        with self.lock:
            if self.trip is None:
                return False
            if self.fail != 0:
                return True
            self.puts += data.count(self.method)
            if self.puts > self.trip:
                self.fail = -1
                return True
            return False

    def _serve(self, conn: socket.socket) -> None:
        with self.lock:
            failing = self.fail != 0
            if self.fail > 0:
                self.fail -= 1
            mode = self.mode
        if not failing:
            return self._pass(conn)
        try:
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                head += chunk
            head, _, body = head.partition(b"\r\n\r\n")
            length, expect = 0, False
            for line in head.split(b"\r\n")[1:]:
                key, _, value = line.partition(b":")
                if key.strip().lower() == b"content-length":
                    length = int(value)
                if key.strip().lower() == b"expect":  # 100-continue: the body comes only if asked for
                    expect = True
            while len(body) < length and not expect:  # read the whole request: closing on unread data resets
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            with self.lock:
                self.failed += 1
            answer = {"503": (SLOW_DOWN, SLOW_DOWN_BODY), "403": (DENIED, DENIED_BODY)}.get(mode)
            if answer:
                response = answer[0] % (len(answer[1]), answer[1])
                if head.startswith(b"HEAD "):  # the headers only
                    response = response.partition(b"\r\n\r\n")[0] + b"\r\n\r\n"
                conn.sendall(response)
        except OSError:
            pass
        finally:
            conn.close()

    def _pass(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            conn.close()
            return

        def pipe(a, b, requests=False):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    if requests and self._tripped(data):  # reset at once: the client sees it now
                        a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        a.close()
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream, requests=True)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def proxy(s3_server, monkeypatch):
    import mlvc.odb.remote as remote

    monkeypatch.setattr(remote, "RETRY_BASE", 0.01)  # the same backoff, in milliseconds
    p = FaultyProxy(s3_server.port)
    yield p
    p.close()


def _proxied_store(s3_server, proxy):
    return open_remote(RemoteSpec("flaky", f"s3://{s3_server.new_bucket()}/p", {"endpointurl": proxy.endpoint}), "/")


def test_throttling_is_retried_once_per_failed_request(s3_server, proxy):
    store = _proxied_store(s3_server, proxy)
    proxy.set("503", 3)
    oid = store.write_bytes(b"through a throttled link")
    assert proxy.failed == 3
    assert store.retried == 3  # botocore and s3fs try once: every retry is ours, counted
    assert store.read_bytes(oid) == b"through a throttled link"


def test_dropped_connections_are_retried(s3_server, proxy):
    store = _proxied_store(s3_server, proxy)
    proxy.set("drop", 3)
    oid = store.write_bytes(b"through a dropping link")
    assert proxy.failed == 3
    assert store.retried >= 1  # aiohttp reconnects once by itself, then the error reaches us
    assert store.read_bytes(oid) == b"through a dropping link"


def test_a_persistent_failure_gives_up_after_the_tries_naming_the_remote(s3_server, proxy):
    from mlvc.odb.remote import RETRY_TRIES

    store = _proxied_store(s3_server, proxy)
    proxy.set("503", -1)
    with pytest.raises(RemoteError) as info:
        store.write_bytes(b"never")
    assert proxy.failed == RETRY_TRIES
    assert str(info.value).startswith(f"remote 'flaky' kept failing: 503 ({RETRY_TRIES} tries in ")  # a HEAD


def _flaky_project(repo, mlvc, s3_server, proxy) -> str:
    """40 files added, the default remote a fresh bucket behind ``proxy``: its name."""
    bucket = s3_server.new_bucket()
    assert mlvc("remote", "add", "--default", "store", f"s3://{bucket}/d").exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", proxy.endpoint).exit_code == 0
    repo.root.gen({f"data/f{i:02d}.txt": f"file {i}" for i in range(40)})
    assert mlvc("add", "data").exit_code == 0
    return bucket


@pytest.mark.slow
def test_retries_run_out_mid_push_the_error_counts_what_moved(repo, mlvc, s3_server, proxy):
    import re

    bucket = _flaky_project(repo, mlvc, s3_server, proxy)
    proxy.trip_after(10)  # the server goes bad after 10 PUTs (the push's marker and 9 objects)
    r = mlvc("push", "-j", "4")
    assert r.exit_code == 3
    line = one_line_error(r)
    m = re.match(r"error: pushed (\d+) of 41 objects before: remote 'store' kept failing: ", line)
    assert m, line
    moved = int(m.group(1))
    listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
    on_server = len([o for o in listed if o["Key"].startswith("d/files/")])
    assert 1 <= moved <= on_server <= 9
    proxy.set("503", 0)  # the server is back: the rerun sends only the rest, counted
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 41 - on_server


@pytest.mark.slow
def test_retries_run_out_mid_fetch_the_error_counts_what_moved(repo, mlvc, s3_server, proxy, tmp_path, monkeypatch):
    import re

    from funcutil import cache_oids

    _flaky_project(repo, mlvc, s3_server, proxy)
    repo.commit("data")
    assert mlvc("push").exit_code == 0
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    proxy.trip_after(12, method=b"GET /")  # the tree's read and the listings, then a few downloads
    r = mlvc("fetch", "-j", "4")
    assert r.exit_code == 3
    line = one_line_error(r)
    m = re.match(r"error: fetched (\d+) of 41 objects before: remote 'store' kept failing: ", line)
    assert m, line
    fetched = int(m.group(1))
    assert 1 <= fetched == len(cache_oids(clone)) < 40  # each one counted is in the cache (the tree comes last)
    proxy.set("503", 0)
    r = mlvc("fetch", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 41 - fetched


def test_a_403_is_not_retried(s3_server, proxy):
    store = _proxied_store(s3_server, proxy)
    proxy.set("403", -1)
    with pytest.raises(PermissionError):
        store.write_bytes(b"denied")
    assert proxy.failed == 1
    assert store.retried == 0


def test_push_and_pull_through_throttling_and_dropped_connections(repo, mlvc, s3_server, proxy, tmp_path,
                                                                 monkeypatch):
    bucket = s3_server.new_bucket()
    assert mlvc("remote", "add", "--default", "store", f"s3://{bucket}/d").exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", proxy.endpoint).exit_code == 0
    repo.commit("remote")
    _project(repo, mlvc)
    proxy.set("503", 4)
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 6
    assert proxy.failed == 4
    clone = git_clone(repo, tmp_path)
    monkeypatch.chdir(clone)
    proxy.set("drop", 3)
    r = mlvc("pull")
    assert r.exit_code == 0, r.output
    assert proxy.failed == 3
    assert (clone / "model.bin").read_text() == "weights"
    assert workspace_files(clone / "data") == workspace_files(repo.root / "data")


def test_push_against_a_persistent_503_or_403_ends_with_one_line(repo, mlvc, s3_server, proxy):
    assert mlvc("remote", "add", "--default", "store", f"s3://{s3_server.new_bucket()}/d").exit_code == 0
    assert mlvc("remote", "modify", "store", "endpointurl", proxy.endpoint).exit_code == 0
    _project(repo, mlvc)
    proxy.set("503", -1)
    r = mlvc("push")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: remote 'store' kept failing: 503")
    assert "(5 tries in " in one_line_error(r)
    proxy.set("403", -1)
    r = mlvc("push")
    assert r.exit_code == 3
    assert one_line_error(r).startswith("error: push to remote 'store' failed: permission denied")
    assert proxy.failed == 1  # asked once: a 403 is not retried


def test_the_ports_chosen_for_one_server_are_distinct():
    """A weed server takes eight ports; chosen one after the other they once repeated, and its S3
    gateway died with "address already in use" (tests/func/s3server.py, free_ports)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from s3server import free_ports

    for _ in range(20):
        ports = free_ports(8)
        assert len(set(ports)) == 8 and all(1024 <= p < 65536 for p in ports)
