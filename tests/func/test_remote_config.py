"""`mlvc remote add/list/remove/modify/default`: remotes in .mlvc/config and .mlvc/config.local."""

from __future__ import annotations

import json

import pytest


def _files(repo):
    shared = (repo.root / ".mlvc" / "config").read_text()
    local_path = repo.root / ".mlvc" / "config.local"
    return shared, local_path.read_text() if local_path.exists() else ""


def test_add_list_default_remove(mlvc, repo):
    assert mlvc("remote", "add", "--default", "store", "../store").exit_code == 0
    assert mlvc("remote", "add", "s3r", "s3://bucket/prefix").exit_code == 0
    r = mlvc("remote", "list")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == ["s3r\ts3://bucket/prefix", "store\t../store\t(default)"]
    r = mlvc("remote", "default")
    assert (r.exit_code, r.stdout) == (0, "store\n")
    assert mlvc("remote", "default", "s3r").exit_code == 0
    assert mlvc("remote", "default").stdout == "s3r\n"
    assert mlvc("remote", "remove", "s3r").exit_code == 0
    assert mlvc("remote", "default").exit_code == 1  # the default went with its remote
    assert mlvc("remote", "list").stdout == "store\t../store\n"
    shared, _ = _files(repo)
    assert "s3r" not in shared and "remote = " not in shared


def test_add_local_and_relative_path_stored_from_the_root(mlvc, repo, monkeypatch):
    (repo.root / "sub").mkdir()
    monkeypatch.chdir(repo.root / "sub")
    assert mlvc("remote", "add", "--local", "--default", "here", "../../elsewhere").exit_code == 0
    shared, local = _files(repo)
    assert "here" not in shared
    assert "url = ../elsewhere" in local and "remote = here" in local


def test_add_twice_and_bad_names_and_urls(mlvc, repo):
    assert mlvc("remote", "add", "a", "/tmp/x").exit_code == 0
    r = mlvc("remote", "add", "a", "/tmp/y")
    assert r.exit_code == 3 and "exists already" in r.stderr
    for name, url, msg in [("bad/name", "/x", "invalid remote name"),
                           ("b", "ftp://host/x", "unsupported remote URL scheme ftp://"),
                           ("b", "s3://", "names no bucket"),
                           ("b", "ssh:///path", "names no host"),
                           ("b", "https://user:pw@host/x", "cannot hold a password")]:
        r = mlvc("remote", "add", name, url)
        assert r.exit_code == 3, (name, url)
        assert len(r.stderr.strip().splitlines()) == 1 and msg in r.stderr
        assert "pw" not in r.stderr.replace("password", "")
    assert mlvc("remote", "list").stdout == "a\t/tmp/x\n"


@pytest.mark.parametrize("url", ["file:///tmp/r", "s3://b/p", "gs://b/p", "az://c/p", "ssh://u@host:2222/srv/r",
                                 "https://example.com/r", "http://example.com/r"])
def test_every_url_form_is_accepted(mlvc, repo, url):
    r = mlvc("remote", "add", "r", url)
    assert r.exit_code == 0, r.stderr
    assert json.loads(mlvc("remote", "list", "--json").stdout)[0]["url"] == url


def test_a_missing_extra_names_the_pip_command(mlvc, repo, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gcsfs" else real(name, *a))
    r = mlvc("remote", "add", "g", "gs://bucket/p")
    assert r.exit_code == 0
    assert r.stderr == "warning: using remote 'g' needs an extra that is not installed: run `pip install 'mlvc[gs]'`\n"


def test_secrets_go_to_config_local_and_are_never_printed(mlvc, repo):
    assert mlvc("remote", "add", "s3r", "s3://bucket/p").exit_code == 0
    assert mlvc("remote", "modify", "s3r", "endpointurl", "http://127.0.0.1:9000").exit_code == 0
    assert mlvc("remote", "modify", "s3r", "access_key_id", "AKIDPLAIN").exit_code == 0
    r = mlvc("remote", "modify", "s3r", "secret_access_key", "S3CR3TVALUE")
    assert r.exit_code == 0
    assert "stored in .mlvc/config.local" in r.stderr and "S3CR3TVALUE" not in r.output
    shared, local = _files(repo)
    assert "S3CR3TVALUE" not in shared and "secret_access_key = S3CR3TVALUE" in local
    assert "endpointurl = http://127.0.0.1:9000" in shared and "access_key_id = AKIDPLAIN" in shared
    listing = json.loads(mlvc("remote", "list", "--json").stdout)
    assert listing == [{"name": "s3r", "url": "s3://bucket/p", "default": False,
                        "options": {"access_key_id": "AKIDPLAIN", "endpointurl": "http://127.0.0.1:9000",
                                    "secret_access_key": "***"}}]
    for args in (["remote", "list"], ["--verbose", "remote", "list", "--json"], ["config", "--list"],
                 ["--verbose", "remote", "modify", "s3r", "secret_access_key", "x\ny"]):
        assert "S3CR3TVALUE" not in mlvc(*args).output
    assert mlvc("remote", "modify", "--unset", "s3r", "secret_access_key").exit_code == 0
    assert "S3CR3TVALUE" not in _files(repo)[1]


def test_modify_checks_the_option_and_value(mlvc, repo):
    assert mlvc("remote", "add", "s", "ssh://u@host/srv").exit_code == 0
    r = mlvc("remote", "modify", "s", "region", "eu")
    assert r.exit_code == 3 and "ssh remotes take no option 'region'" in r.stderr
    r = mlvc("remote", "modify", "s", "port", "twenty")
    assert r.exit_code == 3 and "port must be a number" in r.stderr
    r = mlvc("remote", "modify", "nope", "port", "22")
    assert r.exit_code == 3 and "no remote named 'nope'" in r.stderr
    r = mlvc("remote", "modify", "s", "port")
    assert r.exit_code == 2
    r = mlvc("remote", "modify", "--unset", "s", "port")
    assert r.exit_code == 3 and "port is not set" in r.stderr
    assert mlvc("remote", "modify", "--local", "s", "port", "2222").exit_code == 0
    assert "port = 2222" in _files(repo)[1]
    assert mlvc("remote", "modify", "s", "url", "ssh://u@other/srv").exit_code == 0
    assert mlvc("remote", "list").stdout == "s\tssh://u@other/srv\n"


def test_remove_and_default_of_an_unknown_remote(mlvc, repo):
    r = mlvc("remote", "remove", "ghost")
    assert r.exit_code == 3 and "no remote named 'ghost'" in r.stderr
    r = mlvc("remote", "default", "ghost")
    assert r.exit_code == 3 and "no remote named 'ghost'" in r.stderr
    assert mlvc("remote", "default").exit_code == 1


def test_remote_config_commands_leave_fsspec_and_the_backends_out(repo):
    import subprocess
    import sys

    code = ("import json, sys\n"
            "from mlvc.cli import app\n"
            "for args in (['remote', 'add', 's3r', 's3://b/p'], ['remote', 'modify', 's3r', 'region', 'eu'],\n"
            "             ['remote', 'list', '--json'], ['remote', 'default', 's3r'], ['remote', 'remove', 's3r']):\n"
            "    try:\n"
            "        app(args, prog_name='mlvc')\n"
            "    except SystemExit as e:\n"
            "        assert not e.code, (args, e.code)\n"
            "heavy = ('fsspec', 's3fs', 'botocore', 'aiobotocore', 'gcsfs', 'adlfs', 'sshfs')\n"
            "sys.stderr.write(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=repo.root, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stderr.strip().splitlines()[-1]) == []


def test_remote_modify_help_names_every_option_of_every_kind(mlvc):
    from mlvc.odb.backends import OPTIONS

    text = " ".join(mlvc("remote", "modify", "--help").stdout.split())
    for scheme, options in OPTIONS.items():
        for option in options:
            assert option in text, (scheme, option)
