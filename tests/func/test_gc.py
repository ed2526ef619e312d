"""`mlvc gc`: what the chosen revisions' mlvc.lock files reference stays in the cache, the rest goes."""

from __future__ import annotations

import glob
import json
import os
import time

from conftest import git
from funcutil import cache_oids, object_path, one_line_error, oid_of, read_lock, snapshot, tree_lines
from test_cache_lock import Holder, _shared_pair
from test_pipeline_restore import setup as setup_train, stage_action


def _two_versions(repo, mlvc):
    """data/ and m.bin at v1 (committed), then changed at v2 (committed); returns both locks."""
    repo.root.gen({"data": {"a": "aaa", "b": "bbb", "sub": {"c": "ccc"}}, "m.bin": "model one"})
    assert mlvc("add", "data", "m.bin").exit_code == 0
    repo.commit("v1")
    v1 = read_lock(repo.root)["artifacts"]
    repo.root.gen({"data": {"b": "BBB"}, "m.bin": "model two"})
    assert mlvc("add", "data", "m.bin").exit_code == 0
    repo.commit("v2")
    return v1, read_lock(repo.root)["artifacts"]


def _objects(root, artifacts) -> set[str]:
    """Every object an artifact needs: its id, and for a folder every tree and file below it."""
    out = set()
    for e in artifacts.values():
        out.add(e["oid"])
        if e["oid"].endswith(".tree"):
            out.update(_trees(root, e["oid"]))
            out.update(tree_lines(root, e["oid"]).values())
    return out


def _trees(root, oid):
    found = [oid]
    with open(object_path(root, oid), encoding="utf-8") as fh:
        for line in fh.read().splitlines()[1:]:
            fields = line.split("\0")[1].split(" ")
            if fields[1] == "d":
                found += _trees(root, fields[0] + ".tree")
    return found


def _workspace_still_good(repo, mlvc):
    os.chmod(repo.root / "m.bin", 0o644)
    os.unlink(repo.root / "m.bin")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert (repo.root / "m.bin").read_text() == "model two"
    r = mlvc("fsck")
    assert r.exit_code == 0, r.output
    assert mlvc("status", "--check").exit_code == 0


def test_default_removes_an_old_commits_objects_and_all_commits_keeps_them(repo, mlvc):
    v1, v2 = _two_versions(repo, mlvc)
    old = _objects(repo.root, v1) - _objects(repo.root, v2)
    assert old and set(cache_oids(repo.root)) == _objects(repo.root, v1) | _objects(repo.root, v2)
    r = mlvc("gc", "--all-commits", "-f")
    assert r.exit_code == 0, r.output
    assert "Removed 0 objects (0 B)" in r.stdout
    assert set(cache_oids(repo.root)) == _objects(repo.root, v1) | _objects(repo.root, v2)
    r = mlvc("gc", "-f")
    assert r.exit_code == 0, r.output
    assert f"Removed {len(old)} objects" in r.stdout, r.stdout
    assert set(cache_oids(repo.root)) == _objects(repo.root, v2)
    _workspace_still_good(repo, mlvc)


def test_all_branches_and_all_tags_keep_their_data(repo, mlvc):
    repo.git("checkout", "-q", "-b", "exp")
    repo.root.gen({"tagged.bin": "tagged"})
    assert mlvc("add", "tagged.bin").exit_code == 0
    repo.commit("tagged")
    repo.git("tag", "-a", "v1", "-m", "v1")
    tagged = read_lock(repo.root)["artifacts"]["tagged.bin"]["oid"]
    assert mlvc("remove", "tagged.bin").exit_code == 0
    os.unlink(repo.root / "tagged.bin")
    repo.root.gen({"exp.bin": "experiment"})
    assert mlvc("add", "exp.bin").exit_code == 0
    repo.commit("exp")
    exp = read_lock(repo.root)["artifacts"]["exp.bin"]["oid"]
    repo.git("checkout", "-q", "main")
    repo.root.gen({"main.bin": "main"})
    assert mlvc("add", "main.bin").exit_code == 0
    repo.commit("main")
    main = read_lock(repo.root)["artifacts"]["main.bin"]["oid"]
    assert {exp, tagged, main} <= set(cache_oids(repo.root))

    r = mlvc("gc", "--all-branches", "-f")
    assert r.exit_code == 0, r.output
    assert set(cache_oids(repo.root)) == {exp, main}  # the tag's object is on no branch tip
    repo.git("checkout", "-q", "exp")
    assert mlvc("checkout").exit_code == 0 and (repo.root / "exp.bin").read_text() == "experiment"
    repo.git("checkout", "-q", "main")
    assert mlvc("checkout").exit_code == 0

    repo.root.gen({"tagged.bin": "tagged"})  # store it again, and keep it by its tag
    assert mlvc("add", "tagged.bin").exit_code == 0
    assert mlvc("remove", "tagged.bin").exit_code == 0
    os.unlink(repo.root / "tagged.bin")
    assert tagged in cache_oids(repo.root)
    r = mlvc("gc", "--all-tags", "-f")
    assert r.exit_code == 0, r.output
    assert set(cache_oids(repo.root)) == {tagged, main}
    assert mlvc("gc", "-f").exit_code == 0
    assert set(cache_oids(repo.root)) == {main}


def test_tree_children_are_kept_even_where_a_sub_folder_tree_is_missing(repo, mlvc):
    v1, v2 = _two_versions(repo, mlvc)
    needed = _objects(repo.root, v2)
    assert sum(o.endswith(".tree") for o in needed) == 2  # data/ and data/sub/
    assert mlvc("gc", "-f").exit_code == 0
    assert set(cache_oids(repo.root)) == needed  # every tree and file below data/ stays
    # A sub-folder's tree gone from the cache: the rest of data/ stays. Only the file below
    # that tree (which nothing else names) cannot be told from garbage.
    sub = next(o for o in needed if o.endswith(".tree") and o != v2["data"]["oid"])
    os.unlink(object_path(repo.root, sub))
    r = mlvc("gc", "-f", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["objects"] == [oid_of(b"ccc")] and out["missing"] == [sub]
    assert set(cache_oids(repo.root)) == needed - {sub, oid_of(b"ccc")}
    assert {oid_of(b"aaa"), oid_of(b"BBB"), v2["data"]["oid"]} <= set(cache_oids(repo.root))


def test_stage_outs_are_kept_and_run_cache_records_of_removed_objects_go(repo, mlvc):
    root = repo.root
    setup_train(repo)
    assert mlvc("repro").exit_code == 0
    model1 = read_lock(root)["artifacts"]["model.txt"]["oid"]
    (root / "params.yaml").write_text("lr: 2\n")
    assert mlvc("repro").exit_code == 0
    model2 = read_lock(root)["artifacts"]["model.txt"]["oid"]
    records = glob.glob(str(root / ".mlvc" / "cache" / "runs" / "*" / "*"))
    assert len(records) == 2
    r = mlvc("gc", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["objects"] == [model1] and len(plan["runs"]) == 1
    assert mlvc("gc", "-f").exit_code == 0
    assert set(cache_oids(root)) == {model2}  # the stage's out, recorded in mlvc.lock's artifacts
    left = glob.glob(str(root / ".mlvc" / "cache" / "runs" / "*" / "*"))
    assert len(left) == 1 and json.loads(open(left[0]).read())["outs"]["model.txt"]["oid"] == model2
    (root / "params.yaml").write_text("lr: 1\n")
    assert stage_action(mlvc("repro", "--json")) == "ran"  # its record went with its object
    (root / "params.yaml").write_text("lr: 2\n")
    assert stage_action(mlvc("repro", "--json")) == "restored"  # this one was kept


def test_dry_run_lists_counts_and_bytes_and_removes_nothing(repo, mlvc):
    v1, v2 = _two_versions(repo, mlvc)
    old = sorted(_objects(repo.root, v1) - _objects(repo.root, v2))
    size = sum(os.path.getsize(object_path(repo.root, o)) for o in old)
    before = snapshot(repo.root, skip=(".git",))
    r = mlvc("gc", "--dry-run")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert sorted(lines[:-1]) == old
    assert lines[-1] == (f"Would remove {len(old)} objects ({size} B); kept {len(cache_oids(repo.root)) - len(old)} "
                         "objects, referenced by 1 revision.")
    out = json.loads(mlvc("gc", "--dry-run", "--json").stdout)
    assert sorted(out["objects"]) == old and out["bytes"] == size and out["removed"] is False
    assert out["revisions"] == ["workspace"] and out["shared_cache"] is False
    assert snapshot(repo.root, skip=(".git",)) == before


def test_without_f_and_no_terminal_it_refuses_and_removes_nothing(repo, mlvc):
    _two_versions(repo, mlvc)
    before = snapshot(repo.root, skip=(".git",))
    r = mlvc("gc")
    assert r.exit_code == 2
    line = one_line_error(r)
    assert "no terminal" in line and "mlvc gc -f" in line and "--dry-run" in line, line
    assert snapshot(repo.root, skip=(".git",)) == before


def test_nothing_to_remove_needs_no_f(repo, mlvc):
    repo.root.gen("m.bin", "m")
    assert mlvc("add", "m.bin").exit_code == 0
    r = mlvc("gc")
    assert r.exit_code == 0, r.output
    assert r.stdout == "Would remove 0 objects (0 B); kept 1 object, referenced by 1 revision.\n"


def test_an_unreadable_lockfile_at_a_revision_is_an_error_naming_it(repo, mlvc):
    v1, v2 = _two_versions(repo, mlvc)
    repo.git("checkout", "-q", "-b", "broken")
    (repo.root / "mlvc.lock").write_text("schema: 2\nartifacts: [oops\n")
    repo.commit("broken lock")
    repo.git("checkout", "-q", "main")
    before = snapshot(repo.root, skip=(".git",))
    r = mlvc("gc", "--all-branches", "-f")
    assert r.exit_code == 3
    line = one_line_error(r)
    assert "mlvc.lock@broken" in line, line
    assert snapshot(repo.root, skip=(".git",)) == before


def test_gc_waits_for_a_writer_of_another_clone_then_exits_4(repo, mlvc_proc, tmp_path_factory):
    cache, b = _shared_pair(repo, tmp_path_factory, mlvc_proc)
    repo.root.gen("old.bin", "old")
    assert mlvc_proc("add", "old.bin", cwd=repo.root).returncode == 0
    assert mlvc_proc("remove", "old.bin", cwd=repo.root).returncode == 0
    old = oid_of(b"old")
    objects = cache / "files" / "xxh3"
    assert (objects / old[:2] / old[2:]).exists()
    holder = Holder(b, "writer")  # an add in the other clone, mid-run
    try:
        started = time.monotonic()
        r = mlvc_proc("gc", "-f", cwd=repo.root, env={**os.environ, "MLVC_LOCK_TIMEOUT": "0.6"})
        waited = time.monotonic() - started
        assert r.returncode == 4, r.stderr
        assert str(cache) in r.stderr and "in use by another mlvc command" in r.stderr, r.stderr
        assert waited >= 0.6
        assert (objects / old[:2] / old[2:]).exists()
    finally:
        holder.stop()
    r = mlvc_proc("gc", "-f", cwd=repo.root)
    assert r.returncode == 0, r.stderr
    assert "warning: the cache" in r.stderr and "outside this repository" in r.stderr, r.stderr
    assert not (objects / old[:2] / old[2:]).exists()


def test_a_shared_cache_needs_f(repo, mlvc_proc, tmp_path_factory):
    cache, b = _shared_pair(repo, tmp_path_factory, mlvc_proc)
    repo.root.gen("old.bin", "old")
    assert mlvc_proc("add", "old.bin", cwd=repo.root).returncode == 0
    assert mlvc_proc("remove", "old.bin", cwd=repo.root).returncode == 0
    r = mlvc_proc("gc", cwd=repo.root)
    assert r.returncode == 2
    assert "outside this repository" in r.stderr and "mlvc gc -f" in r.stderr, r.stderr
    assert oid_of(b"old") in cache_oids_of(cache)


def cache_oids_of(cache) -> list[str]:
    return [os.path.basename(os.path.dirname(p)) + os.path.basename(p)
            for p in glob.glob(str(cache / "files" / "xxh3" / "*" / "*"))]


def test_a_commit_with_two_tags_is_read_once(repo, mlvc):
    git("tag", "lonely", cwd=repo.root)
    r = mlvc("gc", "--all-tags", "--dry-run")
    assert r.exit_code == 0, r.output
    assert "referenced by 2 revisions" in r.stdout


def _on_a_terminal(root, answer: str, *args: str):
    """``mlvc gc ARGS`` with a terminal as stdin, answering ``answer`` to its question."""
    import subprocess
    import sys

    master, slave = os.openpty()
    try:
        os.write(master, answer.encode() + b"\n")
        return subprocess.run([sys.executable, "-m", "mlvc", "gc", *args], cwd=root, stdin=slave,
                              capture_output=True, text=True, timeout=60)
    finally:
        os.close(slave)
        os.close(master)


def test_on_a_terminal_it_asks_and_removes_only_when_told(repo, mlvc):
    v1, v2 = _two_versions(repo, mlvc)
    old = _objects(repo.root, v1) - _objects(repo.root, v2)
    before = snapshot(repo.root, skip=(".git",))
    r = _on_a_terminal(repo.root, "n")
    assert r.returncode == 0, r.stderr
    assert f"Would remove {len(old)} objects" in r.stdout and "Remove them? [y/N]" in r.stdout
    assert r.stdout.rstrip().endswith("Nothing removed.")
    assert snapshot(repo.root, skip=(".git",)) == before
    r = _on_a_terminal(repo.root, "y")
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith(f"kept {len(_objects(repo.root, v2))} objects, referenced by 1 revision.")
    assert f"Removed {len(old)} objects" in r.stdout
    assert set(cache_oids(repo.root)) == _objects(repo.root, v2)
    _workspace_still_good(repo, mlvc)


def test_removing_a_confirmed_plan_spares_what_became_referenced_or_was_never_shown(repo, mlvc):
    from mlvc import api

    _two_versions(repo, mlvc)
    plan = api.gc(cwd=str(repo.root))
    assert oid_of(b"model one") in plan.objects and not plan.removed
    repo.root.gen({"again.bin": "model one", "new.bin": "new"})  # referenced again; garbage made later
    assert mlvc("add", "again.bin", "new.bin").exit_code == 0
    assert mlvc("remove", "new.bin").exit_code == 0
    result = api.gc(cwd=str(repo.root), remove=True, only=plan)
    assert result.removed and oid_of(b"model one") not in result.objects
    assert set(result.objects) == set(plan.objects) - {oid_of(b"model one")}
    left = set(cache_oids(repo.root))
    assert {oid_of(b"model one"), oid_of(b"new")} <= left and not left & set(result.objects)
    assert mlvc("fsck").exit_code == 0


def test_a_stage_records_deps_are_kept(repo, mlvc):
    from test_pipeline_repro import py, write_stages

    root = repo.root
    root.gen({"raw.txt": "dep data"})
    assert mlvc("add", "raw.txt").exit_code == 0  # its object is in the cache
    write_stages(root, {"up": {"cmd": py("open('up.txt', 'w').write(open('raw.txt').read().upper())"),
                               "deps": ["raw.txt"], "outs": ["up.txt"]}})
    assert mlvc("repro").exit_code == 0
    assert mlvc("remove", "raw.txt").exit_code == 0  # no artifact names it now; the stage record does
    lock = read_lock(root)
    assert "raw.txt" not in lock["artifacts"] and lock["stages"]["up"]["deps"]["raw.txt"]["oid"] == oid_of(b"dep data")
    r = mlvc("gc", "-f")
    assert r.exit_code == 0, r.output
    assert set(cache_oids(root)) == {oid_of(b"dep data"), oid_of(b"DEP DATA")}


def test_a_symlinked_run_cache_folder_is_refused_and_nothing_outside_is_touched(repo, mlvc, tmp_path_factory):
    victim = tmp_path_factory.mktemp("victim")
    (victim / "ab").mkdir()
    record = victim / "ab" / ("c" * 30)
    record.write_text(json.dumps({"schema": 1, "outs": {"m": {"oid": "d" * 32, "size": 1}}}))
    _two_versions(repo, mlvc)
    os.symlink(victim, repo.root / ".mlvc" / "cache" / "runs")
    before = snapshot(repo.root, skip=(".git",))
    r = mlvc("gc", "-f")
    assert r.exit_code == 3
    assert "runs" in one_line_error(r)
    assert record.exists() and snapshot(repo.root, skip=(".git",)) == before
