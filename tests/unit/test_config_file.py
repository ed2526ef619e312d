"""Repository configuration: shared and local INI files, known keys, checked values."""

from __future__ import annotations

import os

import pytest

from mlvc.config import Config, ConfigFiles, cache_dir, read_file
from mlvc.errors import ConfigError, FileFormatError


@pytest.fixture
def files(tmp_path):
    (tmp_path / ".mlvc").mkdir()
    return ConfigFiles(str(tmp_path / ".mlvc" / "config"), str(tmp_path / ".mlvc" / "config.local"))


def test_defaults(files):
    c = Config(files)
    assert c.get("cache.type") == "reflink,copy"
    assert c.get("core.fsync") == "batch"
    assert c.get("cache.dir") is None
    assert c.get("remote.origin.url") is None
    assert c.link_types == ["reflink", "copy"]
    assert c.items() == {"cache.type": "reflink,copy", "core.fsync": "batch"}


def test_set_get_unset(files):
    c = Config(files)
    assert c.set("cache.type", " hardlink , copy ") == "hardlink,copy"
    assert c.get("cache.type") == "hardlink,copy"
    assert c.link_types == ["hardlink", "copy"]
    assert Config(files).get("cache.type") == "hardlink,copy"  # written to disk
    assert "[cache]" in open(files.shared).read()
    assert c.unset("cache.type") is True
    assert c.unset("cache.type") is False
    assert Config(files).get("cache.type") == "reflink,copy"


def test_local_overrides_shared(files):
    c = Config(files)
    c.set("core.remote", "shared-remote")
    c.set("core.remote", "my-remote", local=True)
    assert Config(files).get("core.remote") == "my-remote"
    assert read_file(files.shared) == {"core.remote": "shared-remote"}
    assert read_file(files.local) == {"core.remote": "my-remote"}
    assert Config(files).items()["core.remote"] == "my-remote"
    c.unset("core.remote", local=True)
    assert Config(files).get("core.remote") == "shared-remote"


def test_unknown_key_has_a_hint(files):
    c = Config(files)
    for call in (lambda: c.set("cache.typo", "x"), lambda: c.get("cache.typo"), lambda: c.unset("nokey")):
        with pytest.raises(ConfigError, match="unknown config key") as exc:
            call()
        assert "cache.type" in exc.value.hint and "remote.NAME.OPTION" in exc.value.hint
    assert not os.path.exists(files.shared)


@pytest.mark.parametrize("value", ["", ",", "copy,copy", "clone", "reflink,copy,fast", "COPY", "hard link"])
def test_bad_cache_types_are_refused(files, value):
    with pytest.raises(ConfigError):
        Config(files).set("cache.type", value)
    assert not os.path.exists(files.shared)


@pytest.mark.parametrize("value", ["reflink", "copy", "symlink,copy", "reflink,hardlink,symlink,copy"])
def test_good_cache_types(files, value):
    assert Config(files).set("cache.type", value) == value


def test_fsync_choices(files):
    c = Config(files)
    for v in ("batch", "always", "never"):
        assert c.set("core.fsync", v) == v
    with pytest.raises(ConfigError, match="expected one of"):
        c.set("core.fsync", "sometimes")


def test_values_cannot_hold_newlines(files):
    with pytest.raises(ConfigError, match="newline"):
        Config(files).set("core.remote", "a\nb")


@pytest.mark.parametrize("key", ["remote.origin.url", "remote.my-s3.endpoint_url", "remote.a.b.c.region"])
def test_remote_options_are_accepted(files, key):
    c = Config(files)
    c.set(key, "s3://bucket/path")
    assert Config(files).get(key) == "s3://bucket/path"
    assert 'remote "' in open(files.shared).read()
    assert c.unset(key)


@pytest.mark.parametrize("key", ["remote.url", "remote..url", "remote.a b.url", "remote.x.URL", "remote.x.url-1"])
def test_malformed_remote_keys_are_refused(files, key):
    with pytest.raises(ConfigError):
        Config(files).set(key, "x")


@pytest.mark.parametrize(
    "text,line",
    [
        ("[cache\ntype = copy\n", 1),
        ("type = copy\n", 1),
        ("[cache]\ntype = copy\n[cache]\n", 3),
        ("[cache]\ntype = copy\ntype = copy\n", 3),
        ("[cache]\njust a line\n", 2),
    ],
)
def test_malformed_ini_is_a_format_error(files, text, line):
    with open(files.shared, "w") as f:
        f.write(text)
    with pytest.raises(FileFormatError) as exc:
        Config(files)
    assert exc.value.path == files.shared
    assert exc.value.line == line, str(exc.value)


@pytest.mark.parametrize(
    "text,match",
    [
        ("[cache]\ntype = clone\n", "unknown link type"),
        ("[cache]\ntypo = copy\n", "unknown config key"),
        ("[nosuch]\nkey = 1\n", "unknown config key"),
        ("[core]\nfsync = maybe\n", "expected one of"),
    ],
)
def test_bad_values_in_the_file_are_format_errors(files, text, match):
    with open(files.local, "w") as f:
        f.write(text)
    with pytest.raises(FileFormatError, match=match) as exc:
        Config(files)
    assert exc.value.path == files.local


def test_non_utf8_config_is_a_format_error(files):
    with open(files.shared, "wb") as f:
        f.write(b"[core]\nremote = \xff\xfe\n")
    with pytest.raises(FileFormatError):
        Config(files)


def test_cache_dir(files, tmp_path):
    root = str(tmp_path)
    c = Config(files)
    assert cache_dir(c, root) == os.path.join(root, ".mlvc", "cache")
    c.set("cache.dir", "../shared-cache")
    assert cache_dir(c, root) == os.path.join(root, "shared-cache")
    c.set("cache.dir", "/srv/cache")
    assert cache_dir(c, root) == "/srv/cache"


def test_a_failed_rename_names_the_users_file_not_the_temp_file(files, tmp_path):
    """A rename onto a non-empty folder really fails (EISDIR/ENOTEMPTY): the error names the
    destination the user knows, for the config writer and for fs.replace_file."""
    from mlvc import fs

    c = Config(ConfigFiles(files.shared, files.local, tmp=str(tmp_path / ".mlvc" / "tmp")))
    (tmp_path / ".mlvc" / "tmp").mkdir()
    os.makedirs(files.shared + "/inside")  # .mlvc/config became a folder after it was read
    with pytest.raises(OSError) as err:
        c.set("core.fsync", "never")
    assert err.value.filename == files.shared and err.value.filename2 is None
    assert os.listdir(tmp_path / ".mlvc" / "tmp") == []  # the temp file is gone

    tmp = tmp_path / "new"
    tmp.write_text("x")
    dest = tmp_path / "dest"
    (dest / "sub").mkdir(parents=True)
    with pytest.raises(OSError) as err:
        fs.replace_file(str(tmp), str(dest))
    assert err.value.filename == str(dest) and ".mlvc-tmp" not in str(err.value)
    assert err.value.errno in (21, 39)  # EISDIR, ENOTEMPTY


SECRETS = ("connection_string", "sas_token", "client_secret", "key_secret", "account_key", "access_key",
           "secret_access_key", "session_token", "password", "passphrase", "private_key", "api_key", "key")
NOT_SECRETS = ("access_key_id", "keyfile", "key_file", "key_id", "account_name", "client_id", "user", "port",
               "endpointurl", "region", "profile", "projectname", "url", "monkey")


@pytest.mark.parametrize("option", SECRETS)
def test_secret_options_are_masked(option):
    from mlvc.config import MASK, is_secret, masked

    key = f"remote.az.{option}"
    assert is_secret(key)
    assert masked({key: "DefaultEndpointsProtocol=https;AccountKey=abc"}) == {key: MASK}


@pytest.mark.parametrize("option", NOT_SECRETS)
def test_options_that_are_not_secrets_are_shown(option):
    from mlvc.config import is_secret, masked

    key = f"remote.s3.{option}"
    assert not is_secret(key)
    assert masked({key: "value"}) == {key: "value"}


def test_config_list_and_the_remote_verbs_share_one_secret_rule():
    from mlvc import config
    from mlvc.odb.backends import OPTIONS
    from mlvc.ops import remote

    assert remote.is_secret is config.is_secret
    secret = {option for options in OPTIONS.values() for option in options if config.is_secret(f"remote.r.{option}")}
    # a new backend option lands here on purpose: decide whether it is a secret (SECRET_OPTION)
    assert secret == {"secret_access_key", "session_token", "credentialpath", "account_key", "connection_string",
                      "sas_token", "password"}, "a backend option changed: is it a secret? see mlvc.config.SECRET_OPTION"
