"""mlvc's hooks through the real pre-commit framework: `mlvc install --pre-commit-tool` (a
`repo: local` entry, `language: system`), and this project's .pre-commit-hooks.yaml taken by its
ids from a git repository (offline: `language: system`), then with `pre-commit try-repo`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from funcutil import read_lock

pytest.importorskip("pre_commit")

PROJECT = Path(__file__).resolve().parents[2]
BIN = os.path.dirname(sys.executable)
PRE_COMMIT = os.path.join(BIN, "pre-commit")
IDS = {"mlvc-status": ["pre-commit"], "mlvc-push": ["pre-push"], "mlvc-checkout": ["post-checkout"]}


@pytest.fixture
def env(tmp_path_factory, monkeypatch):
    """`mlvc` and `pre-commit` on PATH (the venv's), pre-commit's cache in a temp folder."""
    monkeypatch.setenv("PATH", BIN + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path_factory.mktemp("pre-commit-home")))
    return os.environ


def run(root, *args, check=True):
    p = subprocess.run(list(args), cwd=root, capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def git(root, *args, check=True):
    return run(root, "git", *args, check=check)


def head(root):
    return git(root, "rev-parse", "HEAD").stdout.strip()


@pytest.fixture
def data_repo(repo, mlvc):
    repo.root.gen({"data.csv": "v1", "imgs": {"a": "a1"}})
    assert mlvc("add", "data.csv", "imgs").exit_code == 0
    repo.commit("v1")
    return repo


def _pre_commit_install(root):
    run(root, PRE_COMMIT, "install", "--hook-type", "pre-commit", "--hook-type", "pre-push",
        "--hook-type", "post-checkout")


def test_the_shipped_manifest_names_the_three_hooks_with_their_stages():
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"]: h["stages"] for h in hooks} == IDS
    for h in hooks:
        assert h["entry"].startswith("mlvc git-hook ") and h["pass_filenames"] is False and h["always_run"] is True


def test_install_pre_commit_tool_hooks_fire_through_git(data_repo, mlvc, env, tmp_path_factory):
    root = data_repo.root
    r = mlvc("install", "--pre-commit-tool")
    assert r.exit_code == 0, r.output
    assert "pre-commit install --hook-type pre-commit --hook-type pre-push --hook-type post-checkout" in r.stdout
    assert not (root / ".git/hooks/pre-commit").exists()  # no git hook of mlvc's own
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())
    [local] = config["repos"]
    assert local["repo"] == "local" and {h["id"]: h["stages"] for h in local["hooks"]} == IDS
    assert all(h["language"] == "system" for h in local["hooks"])
    assert "unchanged" in mlvc("install", "--pre-commit-tool").stdout
    _pre_commit_install(root)
    git(root, "add", ".pre-commit-config.yaml")
    git(root, "commit", "-q", "-m", "hooks")

    old = head(root)
    root.gen("data.csv", "v2")
    p = git(root, "commit", "-q", "--allow-empty", "-m", "x", check=False)
    assert p.returncode != 0 and head(root) == old
    assert "data.csv: modified" in p.stdout + p.stderr
    assert mlvc("commit").exit_code == 0
    git(root, "checkout", "-q", "-b", "exp")
    git(root, "add", "mlvc.lock")
    git(root, "commit", "-q", "-m", "v2")

    git(root, "checkout", "-q", "main")  # post-checkout through pre-commit
    assert (root / "data.csv").read_text() == "v1"
    git(root, "checkout", "-q", "exp", "--", "mlvc.lock")  # a file checkout: the data is left
    assert (root / "data.csv").read_text() == "v1"
    git(root, "checkout", "-q", "main", "--", "mlvc.lock")

    bare, store = tmp_path_factory.mktemp("bare"), tmp_path_factory.mktemp("store")
    git(bare, "init", "-q", "--bare")
    git(root, "remote", "add", "origin", str(bare))
    assert mlvc("remote", "add", "--default", "store", str(store)).exit_code == 0
    git(root, "commit", "-q", "-m", "remote", "--", ".mlvc/config")  # pre-commit stashes what is not staged
    p = git(root, "push", "origin", "exp")  # pre-push through pre-commit: exp's data
    oid = read_lock(root)["artifacts"]["data.csv"]["oid"]  # main's v1 is in the workspace lock
    stored = {f for _, _, fs in os.walk(store) for f in fs}
    git(root, "checkout", "-q", "exp")
    v2 = read_lock(root)["artifacts"]["data.csv"]["oid"]
    assert v2 != oid and any(v2.endswith(f) or f.endswith(v2[2:]) for f in stored), p.stdout + p.stderr


def test_install_pre_commit_tool_keeps_the_other_repos(data_repo, mlvc):
    root = data_repo.root
    other = {"repos": [{"repo": "https://example.com/hooks", "rev": "v1", "hooks": [{"id": "black"}]}]}
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(other))
    assert mlvc("install", "--pre-commit-tool").exit_code == 0
    repos = yaml.safe_load((root / ".pre-commit-config.yaml").read_text())["repos"]
    assert repos[0] == other["repos"][0] and repos[1]["repo"] == "local"
    (root / ".pre-commit-config.yaml").write_text("repos: [\n")
    r = mlvc("install", "--pre-commit-tool")
    assert r.exit_code == 3 and ".pre-commit-config.yaml is not valid YAML" in r.stderr


def _hooks_repo(tmp_path_factory):
    """A git repository holding this project's .pre-commit-hooks.yaml, as a user's config names it."""
    src = tmp_path_factory.mktemp("mlvc-hooks")
    shutil.copy(PROJECT / ".pre-commit-hooks.yaml", src / ".pre-commit-hooks.yaml")
    git(src, "init", "-q", "-b", "main")
    git(src, "add", ".pre-commit-hooks.yaml")
    git(src, "commit", "-q", "-m", "hooks")
    return src, head(src)


def test_the_shipped_hooks_by_their_ids_with_language_system(data_repo, mlvc, env, tmp_path_factory):
    """Offline: pre-commit clones the hooks' repository (a local path) and runs `mlvc` on PATH."""
    root = data_repo.root
    src, rev = _hooks_repo(tmp_path_factory)
    config = {"repos": [{"repo": str(src), "rev": rev, "hooks": [
        {"id": hook_id, "language": "system"} for hook_id in IDS]}]}
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    git(root, "add", ".pre-commit-config.yaml")
    git(root, "commit", "-q", "-m", "hooks")
    p = run(root, PRE_COMMIT, "run", "mlvc-status", "--all-files")
    assert "mlvc status" in p.stdout and "Passed" in p.stdout
    root.gen("imgs/a", "changed")
    p = run(root, PRE_COMMIT, "run", "mlvc-status", "--all-files", check=False)
    assert p.returncode == 1 and "imgs: modified" in p.stdout
    assert mlvc("commit").exit_code == 0
    git(root, "add", "mlvc.lock")
    git(root, "commit", "-q", "-m", "v2")
    v1, v2 = head(root) + "~1", head(root)
    git(root, "checkout", "-q", v1)  # no hook installed here: pre-commit runs it below

    def post_checkout(flag):
        env_co = {**os.environ, "PRE_COMMIT_FROM_REF": v2, "PRE_COMMIT_TO_REF": git(root, "rev-parse", v1).stdout.strip(),
                  "PRE_COMMIT_CHECKOUT_TYPE": flag}
        return subprocess.run([PRE_COMMIT, "run", "--hook-stage", "post-checkout", "mlvc-checkout"], cwd=root,
                              capture_output=True, text=True, env=env_co)

    p = post_checkout("0")  # a checkout of files: nothing
    assert p.returncode == 0, p.stdout
    assert (root / "imgs/a").read_text() == "changed"
    p = post_checkout("1")
    assert p.returncode == 0 and "mlvc: checked out 0 added, 1 modified" in p.stdout, p.stdout
    assert (root / "imgs/a").read_text() == "a1"


@pytest.mark.slow
def test_pre_commit_try_repo_with_this_project(data_repo, env):
    """`language: python` as shipped: pre-commit installs this project into an environment of its
    own, which needs a package index for mlvc's dependencies."""
    root = data_repo.root
    root.gen("data.csv", "v2")
    p = subprocess.run([PRE_COMMIT, "try-repo", str(PROJECT), "mlvc-status", "--all-files"], cwd=root,
                       capture_output=True, text=True, timeout=600)
    if "mlvc status (data and mlvc.lock in step)" not in p.stdout:
        pytest.skip("pre-commit could not install this project's environment (no package index?): "
                    + (p.stdout + p.stderr).strip().splitlines()[-1])
    assert p.returncode == 1 and "data.csv: modified" in p.stdout
