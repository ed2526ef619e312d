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
