"""One cache shared by several clones (cache.dir), the way a team shares a machine."""

import os
import subprocess

from conftest import git


def _mlvc(cwd, *args):
    import sys

    return subprocess.run([sys.executable, "-m", "mlvc", *args], cwd=cwd, capture_output=True, text=True)


def test_a_clone_checks_out_from_a_shared_cache(repo, tmp_path_factory):
    shared = tmp_path_factory.mktemp("shared") / "cache"
    a = repo.root
    assert _mlvc(a, "config", "--local", "cache.dir", str(shared)).returncode == 0
    a.gen({"data": {"x.csv": "1,2\n", "sub": {"y.bin": "yy"}}})
    r = _mlvc(a, "add", "data")
    assert r.returncode == 0, r.stderr
    assert not (a / ".mlvc" / "cache").exists() or not any((a / ".mlvc" / "cache").iterdir())
    repo.commit("data")

    b = tmp_path_factory.mktemp("clone") / "b"
    git("clone", "-q", str(a), str(b))
    assert not (b / "data").exists()
    assert _mlvc(b, "config", "--local", "cache.dir", str(shared)).returncode == 0
    r = _mlvc(b, "checkout")
    assert r.returncode == 0, r.stderr
    assert (b / "data" / "x.csv").read_text() == "1,2\n"
    assert (b / "data" / "sub" / "y.bin").read_text() == "yy"
    assert _mlvc(b, "status", "--check").returncode == 0
    assert _mlvc(b, "fsck").returncode == 0


def test_relative_cache_dir_is_taken_from_where_the_user_stands(repo):
    sub = repo.root / "sub"
    sub.mkdir()
    assert _mlvc(sub, "config", "cache.dir", "../../elsewhere").returncode == 0
    stored = _mlvc(repo.root, "config", "cache.dir").stdout.strip()
    # stored relative to .mlvc/, pointing at the same folder the user named
    assert os.path.normpath(os.path.join(repo.root, ".mlvc", stored)) == os.path.normpath(repo.root.parent / "elsewhere")


def _modes(cache):
    import stat

    dirs, files = {}, {}
    for dirpath, dirnames, filenames in os.walk(cache):
        dirs[dirpath] = stat.S_IMODE(os.stat(dirpath).st_mode)
        for f in filenames:
            files[os.path.join(dirpath, f)] = stat.S_IMODE(os.stat(os.path.join(dirpath, f)).st_mode)
    return dirs, files


def test_cache_shared_group_makes_folders_2775_and_objects_0444_under_umask_077(repo, tmp_path_factory):
    import sys

    cache = tmp_path_factory.mktemp("team") / "cache"
    root = repo.root
    assert _mlvc(root, "config", "cache.shared", "group").returncode == 0
    assert _mlvc(root, "config", "--local", "cache.dir", str(cache)).returncode == 0
    root.gen({"data": {"small.csv": "1,2\n", "sub": {"big.bin": os.urandom(5 << 20)}}, "model.pkl": "m"})
    for link in ("copy", "hardlink"):  # small files (O_TMPFILE), large copies (named temp), links
        assert _mlvc(root, "config", "cache.type", link).returncode == 0
        target = "data" if link == "copy" else "model.pkl"
        r = subprocess.run(["sh", "-c", f'umask 077; exec "{sys.executable}" -m mlvc add {target}'], cwd=root,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    dirs, files = _modes(cache)
    assert dirs and set(dirs.values()) == {0o2775}, dirs  # was: 0o700 (the umask)
    objects = {p: m for p, m in files.items() if os.path.basename(p) != "lock"}
    assert len(objects) == 5 and set(objects.values()) == {0o444}, objects  # was: 0o400 under umask 077
    assert files[str(cache / "lock")] == 0o664
    assert not any("state.db" in p for p in files)  # the stat cache is each repository's own
    assert (root / ".mlvc" / "tmp" / "state.db").exists()


def _run_as_nobody_available() -> bool:
    import shutil

    import pwd
    import subprocess
    import sys

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    # The second user must reach this interpreter and mlvc (a checkout in a 0700 folder, as
    # `mktemp -d` makes, is root's alone).
    nobody = pwd.getpwnam("nobody")
    probe = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                            sys.executable, "-c", "import mlvc"], cwd="/", capture_output=True)
    return probe.returncode == 0


def test_a_cache_another_user_may_not_write_gets_a_hint_and_cache_shared_fixes_it(repo):
    """Real permissions: the cache is root's, the second clone is nobody's (setpriv)."""
    import grp
    import pwd
    import shutil
    import sys
    import tempfile

    import pytest

    if not _run_as_nobody_available():
        pytest.skip("needs root, setpriv, and this interpreter and mlvc readable by the user nobody")
    nobody = pwd.getpwnam("nobody")
    group = grp.getgrgid(nobody.pw_gid).gr_name
    base = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(base, 0o755)
        cache = os.path.join(base, "cache")
        root = repo.root
        assert _mlvc(root, "config", "--local", "cache.dir", cache).returncode == 0
        root.gen({"data": {"a.csv": "1\n"}})
        assert _mlvc(root, "add", "data").returncode == 0
        repo.commit("data")
        clone = os.path.join(base, "clone")
        git("clone", "-q", str(root), clone)
        subprocess.run(["chown", "-R", "nobody", clone], check=True)
        env = {**os.environ, "HOME": clone}
        as_nobody = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]

        def run(*args):
            return subprocess.run([*as_nobody, sys.executable, "-m", "mlvc", *args], cwd=clone, env=env,
                                  capture_output=True, text=True)

        assert run("config", "--local", "cache.dir", cache).returncode == 0
        with open(os.path.join(clone, "b.csv"), "w") as f:
            f.write("mine\n")
        os.chown(os.path.join(clone, "b.csv"), nobody.pw_uid, -1)
        r = run("add", "b.csv")
        assert r.returncode == 3, r.stderr
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1, r.stderr
        assert "permission denied in the cache" in lines[0] and "cache.shared group" in lines[0], lines[0]
        assert "chgrp" in lines[0] and "chmod 2775" in lines[0]  # was: "Permission denied: .../cache/xx"
        # Do what the hint says: the group gets the cache; both users set cache.shared group.
        subprocess.run(["chgrp", "-R", group, cache], check=True)
        subprocess.run(["find", cache, "-type", "d", "-exec", "chmod", "2775", "{}", "+"], check=True)
        assert _mlvc(root, "config", "cache.shared", "group").returncode == 0
        assert run("config", "cache.shared", "group").returncode == 0
        r = run("add", "b.csv")
        assert r.returncode == 0, r.stderr
        root.gen("c.csv", "root's\n")
        r = _mlvc(root, "add", "c.csv")  # and root's new objects land in folders nobody made
        assert r.returncode == 0, r.stderr
        assert run("fsck").returncode == 0
    finally:
        shutil.rmtree(base, ignore_errors=True)
