import os

from funcutil import one_line_error, snapshot


def _ignored(scm, *paths):
    """The paths git ignores (``git check-ignore`` prints them; exit 1 when none is)."""
    import subprocess

    r = subprocess.run(["git", "check-ignore", *paths], cwd=scm.root, capture_output=True, text=True)
    return set(r.stdout.split())


def test_init_creates_mlvc_folder_and_gitignore(scm, mlvc):
    r = mlvc("init")
    assert r.exit_code == 0, r.output
    assert "Initialised" in r.stdout
    assert (scm.root / ".mlvc").is_dir()
    assert (scm.root / ".mlvc" / ".gitignore").is_file()
    # Make each of the things that must stay out of git, then ask git.
    scm.root.gen({".mlvc/cache/ab/cdef": "obj", ".mlvc/tmp/x": "tmp", ".mlvc/config.local": "[core]\n"})
    ignored = _ignored(scm, ".mlvc/cache/ab/cdef", ".mlvc/tmp/x", ".mlvc/config.local",
                       ".mlvc/config", ".mlvc/.gitignore")
    assert ignored == {".mlvc/cache/ab/cdef", ".mlvc/tmp/x", ".mlvc/config.local"}
    # What git would commit: the .gitignore and the shared config, nothing else.
    porcelain = scm.git("status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(porcelain) == ["?? .mlvc/.gitignore", "?? .mlvc/config"]


def test_init_then_git_commit_leaves_clean_tree(scm, mlvc):
    assert mlvc("init").exit_code == 0
    scm.commit("mlvc init")
    # A state database and a lock appear in .mlvc/tmp once commands run; git never sees them.
    scm.root.gen("a.txt", "a")
    assert mlvc("add", "a.txt").exit_code == 0
    assert os.listdir(scm.root / ".mlvc" / "tmp")
    changed = {line[3:] for line in scm.git("status", "--porcelain", "--untracked-files=all").splitlines()}
    assert changed == {".gitignore", "mlvc.yaml", "mlvc.lock"}


def test_init_outside_git_fails_with_one_line_hint(tmp_dir, mlvc):
    before = snapshot(tmp_dir)
    r = mlvc("init")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "git init" in line
    assert snapshot(tmp_dir) == before  # no .mlvc made
    assert not (tmp_dir / ".mlvc").exists()


def test_init_outside_git_as_a_process(tmp_dir, mlvc_proc):
    p = mlvc_proc("init", cwd=tmp_dir)
    assert p.returncode == 3
    assert "Traceback" not in p.stderr + p.stdout
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "git init" in lines[0]
    assert not (tmp_dir / ".mlvc").exists()


def test_init_twice_refuses_without_force(scm, mlvc):
    assert mlvc("init").exit_code == 0
    (scm.root / ".mlvc" / "config").write_text("[cache]\ntype = copy\n")
    r = mlvc("init")
    assert r.exit_code == 3
    assert "--force" in one_line_error(r)
    r = mlvc("init", "--force")
    assert r.exit_code == 0, r.output
    # --force re-creates the .gitignore but keeps the user's config.
    assert (scm.root / ".mlvc" / "config").read_text() == "[cache]\ntype = copy\n"
    assert _ignored(scm, ".mlvc/cache/x") == {".mlvc/cache/x"}


def test_commands_outside_an_mlvc_repo_say_so(scm, mlvc):
    r = mlvc("status")
    assert r.exit_code == 3
    assert "mlvc init" in one_line_error(r)
