"""SSH remotes against the real sshd fixture: host keys are checked (known_hosts), and a sparse
file arrives whole."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from funcutil import one_line_error


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A HOME of its own: no ~/.ssh/known_hosts unless the test writes one."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    return folder


def _remote(mlvc, ssh_server, folder, *options):
    assert mlvc("remote", "add", "--default", "store", ssh_server.url(str(folder))).exit_code == 0
    assert mlvc("remote", "modify", "--local", "store", "keyfile", ssh_server.keyfile).exit_code == 0
    for key, value in options:
        assert mlvc("remote", "modify", "--local", "store", key, value).exit_code == 0


def _data(repo, mlvc):
    repo.root.gen({"a.txt": "alpha"})
    assert mlvc("add", "a.txt").exit_code == 0


def test_an_unknown_host_key_is_refused_by_default(repo, mlvc, ssh_server, tmp_path, home):
    _remote(mlvc, ssh_server, tmp_path / "r")
    _data(repo, mlvc)
    r = mlvc("push")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert line.startswith(f"error: remote 'store': the host key of 127.0.0.1:{ssh_server.port} is not trusted "
                           "(it is not in ~/.ssh/known_hosts")
    assert "known_hosts PATH" in line and "ssh-keyscan" in line
    assert not (tmp_path / "r").exists()  # nothing was sent


def test_a_wrong_host_key_is_refused_with_one_line(repo, mlvc, ssh_server, tmp_path, home):
    from sshserver import keygen

    other = keygen(str(tmp_path / "impostor"))
    wrong = tmp_path / "known_hosts"
    with open(other + ".pub") as f:
        wrong.write_text(f"[127.0.0.1]:{ssh_server.port} {' '.join(f.read().split()[:2])}\n")
    _remote(mlvc, ssh_server, tmp_path / "r", ("known_hosts", str(wrong)))
    _data(repo, mlvc)
    for verb in ("push", "fetch", "status -c"):
        r = mlvc(*verb.split())
        assert r.exit_code == 3, verb
        line = one_line_error(r)
        assert f"the host key of 127.0.0.1:{ssh_server.port} is not trusted (it is not in {wrong}" in line
        assert "Traceback" not in r.output
    assert not (tmp_path / "r").exists()


def test_a_host_trusted_in_the_users_known_hosts_works(repo, mlvc, ssh_server, tmp_path, home):
    (home / ".ssh").mkdir()
    (home / ".ssh" / "known_hosts").write_text(open(ssh_server.known_hosts).read())
    _remote(mlvc, ssh_server, tmp_path / "r")
    _data(repo, mlvc)
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["transferred"] == 1


def test_a_sparse_file_arrives_whole_over_sftp(repo, mlvc, ssh_server, tmp_path, monkeypatch):
    """asyncssh's put copies a sparse file's data ranges only and never extends the copy over a
    trailing hole: an all-hole file arrived as 0 bytes, one ending in a hole arrived short."""
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0  # the cache keeps the holes
    folder = tmp_path / "r"
    _remote(mlvc, ssh_server, folder, ("known_hosts", ssh_server.known_hosts))
    with open(repo.root / "holes.bin", "wb") as f:
        f.write(b"head")
        f.truncate(3 << 20)
    with open(repo.root / "empty.bin", "wb") as f:
        f.truncate(1 << 20)
    assert mlvc("add", "holes.bin", "empty.bin").exit_code == 0
    cached = [p for p in (repo.root / ".mlvc" / "cache" / "files").rglob("*") if p.is_file()]
    assert cached and all(p.stat().st_blocks * 512 < p.stat().st_size for p in cached)  # sparse in the cache
    repo.commit("sparse data")
    r = mlvc("push", "--json")
    assert r.exit_code == 0, r.output
    sizes = sorted(p.stat().st_size for p in (folder / "files").rglob("*") if p.is_file())
    assert sizes == [1 << 20, 3 << 20]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    monkeypatch.chdir(clone)
    assert mlvc("remote", "modify", "--local", "store", "keyfile", ssh_server.keyfile).exit_code == 0
    assert mlvc("remote", "modify", "--local", "store", "known_hosts", ssh_server.known_hosts).exit_code == 0
    r = mlvc("pull")
    assert r.exit_code == 0, r.output
    assert (clone / "holes.bin").read_bytes() == b"head" + bytes((3 << 20) - 4)
    assert os.path.getsize(clone / "empty.bin") == 1 << 20


def test_a_known_hosts_a_clone_brings_is_not_trusted(repo, mlvc, ssh_server, tmp_path, monkeypatch, home):
    """A crafted repository commits its own known_hosts (trusting a key it chose) in .mlvc/config:
    a clone refuses to use it until the user sets it in config.local, and nothing is sent."""
    evil_hosts = repo.root / "hosts"
    evil_hosts.write_text(open(ssh_server.known_hosts).read())
    assert mlvc("remote", "add", "--default", "store", ssh_server.url(str(tmp_path / "r"))).exit_code == 0
    config = repo.root / ".mlvc" / "config"
    config.write_text(config.read_text() + "known_hosts = hosts\n")  # by hand, as an attacker would
    _data(repo, mlvc)
    repo.commit("data and a remote that trusts our own host key")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.root), str(clone)], check=True)
    monkeypatch.chdir(clone)
    assert mlvc("remote", "modify", "--local", "store", "keyfile", ssh_server.keyfile).exit_code == 0
    for verb in ("push", "fetch", "status -c"):
        r = mlvc(*verb.split())
        assert r.exit_code == 3, (verb, r.output)
        assert one_line_error(r) == (
            "error: remote 'store' takes known_hosts from .mlvc/config, which a git clone carries: mlvc reads "
            "it only from .mlvc/config.local; if you trust that file, run `mlvc remote modify store known_hosts "
            "PATH --local`")
    assert not (tmp_path / "r").exists()
    r = mlvc("remote", "modify", "store", "known_hosts", str(evil_hosts))  # without --local: kept local anyway
    assert r.exit_code == 0 and "stored in .mlvc/config.local" in r.stderr
    assert "known_hosts" in (clone / ".mlvc" / "config.local").read_text()
