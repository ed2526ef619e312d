import json

from funcutil import one_line_error, snapshot


def test_config_set_and_get(repo, mlvc):
    r = mlvc("config", "cache.type", "hardlink,copy")
    assert r.exit_code == 0, r.output
    assert "hardlink,copy" in (repo.root / ".mlvc" / "config").read_text()
    r = mlvc("config", "cache.type")
    assert r.exit_code == 0 and r.stdout == "hardlink,copy\n"
    assert json.loads(mlvc("config", "cache.type", "--json").stdout) == {"cache.type": "hardlink,copy"}
    # the shared config is what git commits
    assert repo.git("status", "--porcelain").strip() == "M .mlvc/config"


def test_config_default_and_unset(repo, mlvc):
    assert mlvc("config", "cache.type").stdout == "reflink,copy\n"
    r = mlvc("config", "core.remote")
    assert r.exit_code == 1 and r.stdout == "" and r.stderr == ""
    assert mlvc("config", "core.remote", "origin").exit_code == 0
    assert mlvc("config", "core.remote").stdout == "origin\n"
    assert mlvc("config", "--unset", "core.remote").exit_code == 0
    assert mlvc("config", "core.remote").exit_code == 1


def test_config_local_is_git_ignored_and_wins(repo, mlvc):
    assert mlvc("config", "cache.type", "copy").exit_code == 0
    r = mlvc("config", "--local", "cache.type", "symlink")
    assert r.exit_code == 0, r.output
    local = repo.root / ".mlvc" / "config.local"
    assert "symlink" in local.read_text()
    assert "symlink" not in (repo.root / ".mlvc" / "config").read_text()
    assert repo.git("check-ignore", ".mlvc/config.local").strip() == ".mlvc/config.local"
    assert ".mlvc/config.local" not in repo.git("status", "--porcelain", "--untracked-files=all")
    assert mlvc("config", "cache.type").stdout == "symlink\n"
    listed = mlvc("config", "--list").stdout.splitlines()
    assert "cache.type=symlink" in listed
    # the local setting is the one commands use
    repo.root.gen("a.bin", "a")
    assert mlvc("add", "a.bin").exit_code == 0
    assert (repo.root / "a.bin").is_symlink()


def test_config_unknown_key(repo, mlvc):
    before = snapshot(repo.root)
    for args in (["nope.key", "1"], ["nope.key"], ["--local", "cache.nope", "x"], ["--unset", "x.y"]):
        r = mlvc("config", *args)
        assert r.exit_code == 3, args
        assert "unknown config key" in one_line_error(r)
    assert snapshot(repo.root) == before


def test_config_bad_value(repo, mlvc):
    before = snapshot(repo.root)
    for args in (["cache.type", "teleport"], ["core.fsync", "sometimes"], ["cache.type", "copy,copy"]):
        r = mlvc("config", *args)
        assert r.exit_code == 3, args
        one_line_error(r)
    assert snapshot(repo.root) == before


def test_config_file_malformed(repo, mlvc):
    (repo.root / ".mlvc" / "config").write_text("[cache]\ntype = copy\ntype = hardlink\n")
    r = mlvc("config", "cache.type")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert ".mlvc/config" in line
    (repo.root / ".mlvc" / "config").write_text("[cache]\ntype = teleport\n")
    repo.root.gen("a.bin", "a")
    r = mlvc("add", "a.bin")
    assert r.exit_code == 3
    assert "teleport" in one_line_error(r)


def test_q_does_not_hide_a_value_asked_for(repo, mlvc):
    assert mlvc("-q", "config", "cache.type").stdout == "reflink,copy\n"
    assert "cache.type=reflink,copy" in mlvc("-q", "config", "--list").stdout
