"""Human output names paths as git does, relative to where the user stands; JSON keeps
repo-relative paths. And the --json of every command that writes."""

import json
import os
import subprocess

import pytest
from funcutil import one_line_error


def _from_data(repo, mlvc, monkeypatch):
    repo.root.gen({"data/images/a.png": "a", "data/images/b.png": "b", "data/labels.csv": "l"})
    monkeypatch.chdir(repo.root / "data")


def test_add_prints_git_add_relative_to_here_and_git_accepts_it(repo, mlvc, monkeypatch):
    _from_data(repo, mlvc, monkeypatch)
    r = mlvc("add", "images")
    assert r.exit_code == 0, r.output
    assert "Added images (2 files, 2 B)" in r.stdout
    line = next(x for x in r.stdout.splitlines() if "git add" in x).split()
    assert line == ["git", "add", ".gitignore", "../mlvc.yaml", "../mlvc.lock"]
    subprocess.run(line, check=True, capture_output=True)  # git takes them from here
    staged = repo.git("diff", "--cached", "--name-only").split()
    assert staged == ["data/.gitignore", "mlvc.lock", "mlvc.yaml"]
    out = json.loads(mlvc("add", "--json", "labels.csv").stdout)
    assert out["git_add"] == ["data/.gitignore", "mlvc.yaml", "mlvc.lock"]  # JSON: repo-relative
    assert [a["path"] for a in out["artifacts"]] == ["data/labels.csv"]


def test_status_and_commit_print_paths_relative_to_here(repo, mlvc, monkeypatch):
    _from_data(repo, mlvc, monkeypatch)
    assert mlvc("add", "images", "labels.csv").exit_code == 0
    (repo.root / "data" / "images" / "a.png").write_text("a2")
    r = mlvc("status")
    assert r.stdout.splitlines()[:3] == ["images      modified", "    modified  images/a.png",
                                         "labels.csv  ok"]
    (art, _) = json.loads(mlvc("status", "--json").stdout)["artifacts"]
    assert art["path"] == "data/images" and art["changes"][0]["path"] == "data/images/a.png"
    monkeypatch.chdir(repo.root / "data" / "images")
    r = mlvc("commit")
    assert "Recorded . (2 files, 3 B)\nUnchanged ../labels.csv (1 B)" in r.stdout
    assert "    git add ../../mlvc.lock" in r.stdout
    out = json.loads(mlvc("commit", "--json").stdout)
    assert out["git_add"] == [] and out["unchanged"] == ["data/images", "data/labels.csv"]


def test_checkout_conflict_names_paths_relative_to_here(repo, mlvc, monkeypatch):
    _from_data(repo, mlvc, monkeypatch)
    assert mlvc("add", "images").exit_code == 0
    (repo.root / "data" / "images" / "a.png").unlink()
    (repo.root / "data" / "images" / "a.png").write_text("not in the cache")
    r = mlvc("checkout")
    assert r.exit_code == 3
    assert "local changes that are not in the cache: images/a.png;" in one_line_error(r)
    r = mlvc("checkout", "--json")
    assert json.loads(r.stdout)["error"].endswith("not in the cache: images/a.png")


def test_remove_text_and_json(repo, mlvc, monkeypatch):
    _from_data(repo, mlvc, monkeypatch)
    assert mlvc("add", "images", "labels.csv").exit_code == 0
    r = mlvc("remove", "images")
    assert r.exit_code == 0, r.output
    assert "Stopped tracking images" in r.stdout
    assert "git add .gitignore ../mlvc.yaml ../mlvc.lock" in r.stdout
    r = mlvc("remove", "--json", "labels.csv")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"removed": ["data/labels.csv"],
                                    "git_add": ["data/.gitignore", "mlvc.yaml", "mlvc.lock"]}


def test_unprotect_and_init_json(repo, mlvc, tmp_path_factory):
    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen({"data/a.csv": "a"})
    assert mlvc("add", "data").exit_code == 0
    r = mlvc("unprotect", "--json", "data")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"unprotected": ["data/a.csv"]}
    other = tmp_path_factory.mktemp("other")
    subprocess.run(["git", "init", "-q"], cwd=other, check=True)
    os.chdir(other)
    r = mlvc("init", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == {"root": str(other)}
    r = mlvc("init", "--json")
    assert r.exit_code == 3 and "already an mlvc repository" in json.loads(r.stdout)["error"]


@pytest.mark.parametrize("args", [["config", "--unset", "core.remote", "value"], ["status", "--nope"]])
def test_a_usage_mistake_exits_2(repo, mlvc, args):
    r = mlvc(*args)
    assert r.exit_code == 2, r.output


def test_an_untracked_path_is_named_as_the_user_typed_it(repo, mlvc, monkeypatch):
    _from_data(repo, mlvc, monkeypatch)
    assert mlvc("add", "images").exit_code == 0
    for verb in ("status", "checkout", "commit", "remove", "unprotect"):
        r = mlvc(verb, "labels.csv")
        assert r.exit_code == 3, (verb, r.output)
        assert one_line_error(r).startswith("error: labels.csv is not tracked;"), verb
    os.unlink(repo.root / "data" / "images" / "a.png")
    r = mlvc("unprotect", "images/a.png")
    assert r.exit_code == 3
    assert one_line_error(r) == ("error: images/a.png does not exist in the workspace; "
                                 "run `mlvc checkout images/a.png` first")
