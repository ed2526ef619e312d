import json

from funcutil import one_line_error, snapshot


def test_config_set_and_get(repo, mlvc):
    r = mlvc("config", "cache.type", "hardlink,copy")
    assert r.exit_code == 0, r.output
    assert "hardlink,copy" in (repo.root / ".mlvc" / "config").read_text()
    r = mlvc("config", "cache.type")
    assert r.exit_code == 0 and r.stdout == "hardlink,copy\n"
    assert json.loads(mlvc("config", "cache.type", "--json").stdout) == {
        "cache.type": {"value": "hardlink,copy", "source": "config"}}
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


def test_config_list_shows_defaults_marked_and_json_gives_sources(repo, mlvc):
    r = mlvc("config", "--list")
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["cache.dir=.mlvc/cache (default)", "cache.type=reflink,copy (default)",
                                     "core.fsync=batch (default)"]
    assert mlvc("config", "core.fsync", "never").exit_code == 0
    assert mlvc("config", "--local", "cache.type", "copy").exit_code == 0
    lines = mlvc("config").stdout.splitlines()
    assert "core.fsync=never" in lines and "cache.type=copy" in lines
    data = json.loads(mlvc("config", "--list", "--json").stdout)
    assert data == {"cache.dir": {"value": ".mlvc/cache", "source": "default"},
                    "cache.type": {"value": "copy", "source": "config.local"},
                    "core.fsync": {"value": "never", "source": "config"}}


def test_config_cache_dir_unset_prints_its_default(repo, mlvc, tmp_path_factory):
    r = mlvc("config", "cache.dir")
    assert r.exit_code == 0 and r.stdout == ".mlvc/cache\n", r.output  # was: nothing, exit 1
    assert json.loads(mlvc("config", "cache.dir", "--json").stdout) == {
        "cache.dir": {"value": ".mlvc/cache", "source": "default"}}
    assert mlvc("config", "cache.shared").exit_code == 1  # no value and no default: exit 1, quietly


def test_config_cache_dir_that_is_a_file_is_refused(repo, mlvc):
    repo.root.gen("notes.txt", "a file")
    before = snapshot(repo.root)
    for args in (["cache.dir", "notes.txt"], ["--local", "cache.dir", "notes.txt"],
                 ["cache.dir", "notes.txt/cache"], ["cache.dir", str(repo.root / "notes.txt")]):
        r = mlvc("config", *args)
        assert r.exit_code == 3, (args, r.output)
        line = one_line_error(r)
        assert "notes.txt" in line and "not a folder" in line, line
    assert snapshot(repo.root) == before
    # A file put there by hand (or committed) is refused by the commands that use it.
    (repo.root / ".mlvc" / "config").write_text("[cache]\ndir = ../notes.txt\n")
    repo.root.gen("a.bin", "a")
    r = mlvc("add", "a.bin")
    assert r.exit_code == 3 and "is a file, not a folder" in one_line_error(r)


def test_config_cache_shared_takes_group_only(repo, mlvc):
    assert mlvc("config", "cache.shared", "group").exit_code == 0
    assert mlvc("config", "cache.shared").stdout == "group\n"
    r = mlvc("config", "cache.shared", "everyone")
    assert r.exit_code == 3 and "expected one of group" in one_line_error(r)
    assert mlvc("config", "--unset", "cache.shared").exit_code == 0


def test_config_files_written_through_mlvc_tmp_and_config_local_private(repo, mlvc):
    """Temp files of `mlvc config` go to the git-ignored .mlvc/tmp (a killed run leaves nothing
    git sees) and config.local is 0600 whatever the umask."""
    import os
    import stat

    seen = []
    real = os.replace

    def spy(src, dst, *a, **kw):
        seen.append((os.path.dirname(src), os.path.basename(dst)))
        return real(src, dst, *a, **kw)

    old = os.umask(0)
    os.replace = spy
    try:
        assert mlvc("config", "--local", "remote.s3.password", "hunter2").exit_code == 0
        assert mlvc("config", "core.fsync", "never").exit_code == 0
    finally:
        os.replace = real
        os.umask(old)
    tmp = str(repo.root / ".mlvc" / "tmp")
    assert seen == [(tmp, "config.local"), (tmp, "config")]
    assert stat.S_IMODE(os.stat(repo.root / ".mlvc" / "config.local").st_mode) == 0o600
    assert repo.git("status", "--porcelain", "--untracked-files=all").strip() == "M .mlvc/config"
