"""On-disk format 2 end to end: Merkle trees, files/xxh3/ layout, executable file
artifacts, stages kept in mlvc.yaml, and a repository of format 1 (mlvc 0.1) read and
migrated, never refused."""

from __future__ import annotations

import os
import stat

from funcutil import cache_oids, oid_of, read_lock, tree_lines, workspace_files

V1_TREE_HEADER = b"mlvc-tree 1\n"


def test_an_executable_file_artifact_comes_back_executable(repo, mlvc):
    repo.root.gen("run.sh", "#!/bin/sh\necho hi\n")
    os.chmod(repo.root / "run.sh", 0o755)
    assert mlvc("add", "run.sh").exit_code == 0
    entry = read_lock(repo.root)["artifacts"]["run.sh"]
    assert entry["executable"] is True
    os.unlink(repo.root / "run.sh")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert os.stat(repo.root / "run.sh").st_mode & stat.S_IXUSR
    r = mlvc("ls", "--json")
    assert '"executable": true' in r.stdout


def test_a_plain_file_records_no_executable_key(repo, mlvc):
    repo.root.gen("model.pkl", "w")
    assert mlvc("add", "model.pkl").exit_code == 0
    assert "executable" not in (repo.root / "mlvc.lock").read_text()


def test_one_changed_file_writes_only_the_trees_on_its_path(repo, mlvc):
    repo.root.gen({"data": {f"part{a}": {f"f{b}.txt": f"{a}/{b}" for b in range(5)} for a in range(6)}})
    assert mlvc("add", "data").exit_code == 0
    before = set(cache_oids(repo.root))
    assert len([o for o in before if o.endswith(".tree")]) == 7  # data and its six folders
    (repo.root / "data" / "part3" / "f1.txt").write_text("changed")
    assert mlvc("commit").exit_code == 0
    new = set(cache_oids(repo.root)) - before
    assert sorted(o.endswith(".tree") for o in new) == [False, True, True]  # the file, part3, data
    files = tree_lines(repo.root, read_lock(repo.root)["artifacts"]["data"]["oid"])
    assert files["part3/f1.txt"] == oid_of(b"changed") and len(files) == 30


def test_stages_in_mlvc_yaml_are_kept_when_add_rewrites_it(repo, mlvc):
    stages = ("stages:\n  train:\n    cmd: python train.py\n    deps:\n    - train.py\n    outs:\n    - model.pkl\n"
              "  prepare:\n    cmd: python prep.py\n")
    (repo.root / "mlvc.yaml").write_text("schema: 2\nartifacts: []\n" + stages)
    repo.root.gen("data.csv", "x")
    assert mlvc("add", "data.csv").exit_code == 0
    assert (repo.root / "mlvc.yaml").read_text() == "schema: 2\nartifacts:\n- data.csv\n" + stages


def _v1_repository(repo) -> dict[str, bytes]:
    """A repository as mlvc 0.1 left it: schema 1 files, a flat tree, objects at cache/<2>/<30>."""
    files = {"a.txt": b"alpha", "sub/b.txt": b"beta", "sub/deeper/c.bin": b"\x00\x01"}
    cache = repo.root / ".mlvc" / "cache"
    lines = []
    for path in sorted(files):
        oid = oid_of(files[path])
        lines.append(f"{path}\0{oid} - {len(files[path])}\n".encode())
        (cache / oid[:2]).mkdir(parents=True, exist_ok=True)
        (cache / oid[:2] / oid[2:]).write_bytes(files[path])
    tree = V1_TREE_HEADER + b"".join(lines)
    tree_oid = oid_of(tree) + ".tree"
    (cache / tree_oid[:2]).mkdir(parents=True, exist_ok=True)
    (cache / tree_oid[:2] / tree_oid[2:]).write_bytes(tree)
    model = b"weights"
    (cache / oid_of(model)[:2]).mkdir(parents=True, exist_ok=True)
    (cache / oid_of(model)[:2] / oid_of(model)[2:]).write_bytes(model)
    (repo.root / "mlvc.yaml").write_text("schema: 1\nartifacts:\n- data\n- model.pkl\n")
    (repo.root / "mlvc.lock").write_text(
        f"schema: 1\nartifacts:\n  data:\n    oid: {tree_oid}\n    size: {sum(map(len, files.values()))}\n"
        f"    nfiles: 3\n  model.pkl:\n    oid: {oid_of(model)}\n    size: 7\n")
    (repo.root / ".gitignore").write_text("/data\n/model.pkl\n")
    repo.commit("data, recorded by mlvc 0.1")
    return files


def test_a_format_1_repository_is_read_and_migrated(repo, mlvc):
    files = _v1_repository(repo)
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == files
    assert (repo.root / "model.pkl").read_bytes() == b"weights"
    cache = repo.root / ".mlvc" / "cache"
    assert sorted(os.listdir(cache)) == ["files", "lock"]  # moved into files/xxh3/ on first use; the cache lock
    assert mlvc("status", "--check").exit_code == 0
    assert (repo.root / "mlvc.lock").read_text().startswith("schema: 1\n")  # reading changes nothing
    r = mlvc("commit")
    assert r.exit_code == 0, r.output
    lock = read_lock(repo.root)
    assert lock["schema"] == 2
    data_oid = lock["artifacts"]["data"]["oid"]
    assert (cache / "files" / "xxh3" / data_oid[:2] / data_oid[2:]).read_bytes().startswith(b"mlvc-tree 2\n")
    assert tree_lines(repo.root, data_oid) == {p: oid_of(b) for p, b in files.items()}
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("fsck").exit_code == 0
    # The old commit still checks out: format 1 trees are read forever.
    repo.commit("migrated")
    repo.git("checkout", "-q", "HEAD~1")
    for f in (repo.root / "data").rglob("*"):
        if f.is_file():
            f.unlink()
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == files


def test_checkout_recreates_a_missing_parent_folder(repo, mlvc):
    repo.root.gen({"models": {"model.pkl": "weights"}})
    assert mlvc("add", "models/model.pkl").exit_code == 0
    import shutil

    shutil.rmtree(repo.root / "models")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert (repo.root / "models" / "model.pkl").read_text() == "weights"


def test_mlvc_and_git_files_are_never_artifacts(repo, mlvc):
    from funcutil import one_line_error, snapshot

    repo.root.gen({".gitignore": "x\n", "sub": {".gitignore": "y\n"}})
    for path in (".gitignore", "sub/.gitignore", "mlvc.lock", "mlvc.yaml"):
        r = mlvc("add", path)
        assert r.exit_code == 3, (path, r.output)
        one_line_error(r)
    # A crafted lock that names mlvc.lock as an artifact: refused before anything is written.
    oid = oid_of(b"evil")
    (repo.root / "mlvc.yaml").write_text("schema: 2\nartifacts:\n- mlvc.lock\n")
    (repo.root / "mlvc.lock").write_text(f"schema: 2\nartifacts:\n  mlvc.lock:\n    oid: {oid}\n    size: 4\n")
    before = snapshot(repo.root)
    for args in (["checkout", "--force"], ["status"], ["commit"]):
        r = mlvc(*args)
        assert r.exit_code == 3, (args, r.output)
        assert "mlvc.lock:3:" in one_line_error(r) or "mlvc.yaml:3:" in one_line_error(r)
    assert snapshot(repo.root) == before
