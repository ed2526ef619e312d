"""What a folder scan records, and which names mlvc refuses: a user's `.mlvc-tmp-*` file is
data like any other, a nested `.git` is never data (and never deleted), names with a
backslash, a newline or bytes that are not UTF-8 are refused with one message naming the
file, and a crafted tree with names no file system takes is refused before checkout changes
anything."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest
from funcutil import cache_oids, oid_of, one_line_error, read_lock, snapshot, workspace_files

from mlvc.objects.tree import TREE_HEADER, file_meta
from mlvc.repo import Repo

# ------------------------------------------------------------ .mlvc-tmp-* files


def test_a_users_mlvc_tmp_file_is_tracked_and_survives_checkout(repo, mlvc):
    repo.root.gen({"data/a.txt": "a", "data/.mlvc-tmp-notes.txt": "my notes", "data/sub/.mlvc-tmp-1-x-0": "n2"})
    r = mlvc("add", "data")
    assert r.exit_code == 0, r.output
    assert read_lock(repo.root)["artifacts"]["data"]["nfiles"] == 3
    assert mlvc("status", "--check").exit_code == 0
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert (repo.root / "data/.mlvc-tmp-notes.txt").read_text() == "my notes"
    shutil.rmtree(repo.root / "data")
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert workspace_files(repo.root / "data") == {"a.txt": b"a", ".mlvc-tmp-notes.txt": b"my notes",
                                                   "sub/.mlvc-tmp-1-x-0": b"n2"}


def test_an_unrecorded_mlvc_tmp_file_is_a_local_change(repo, mlvc):
    repo.root.gen({"data/a.txt": "a"})
    assert mlvc("add", "data").exit_code == 0
    repo.root.gen({"data/.mlvc-tmp-draft": "not in the cache"})
    assert mlvc("status", "--check").exit_code == 1
    r = mlvc("checkout")  # it is not in the cache: never deleted without --force
    assert r.exit_code == 3 and "data/.mlvc-tmp-draft" in r.stderr, r.output
    assert (repo.root / "data/.mlvc-tmp-draft").read_text() == "not in the cache"


def _record_temp_names(monkeypatch) -> list[str]:
    """Every temp name mlvc makes from now on, in order."""
    from mlvc import fs
    from mlvc.fs import atomic

    made: list[str] = []
    real = atomic.tmp_name

    def tmp_name(folder):
        made.append(real(folder))
        return made[-1]

    monkeypatch.setattr(atomic, "tmp_name", tmp_name)
    monkeypatch.setattr(fs, "tmp_name", tmp_name)
    return made


def _none_among(made: list[str], folder) -> None:
    assert made, "no temp file was made: the test reaches nothing"
    inside = [t for t in made if t.startswith(str(folder) + os.sep)]
    assert not inside, inside


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_add_and_unprotect_make_no_temp_file_among_the_users(repo, mlvc, monkeypatch, kind):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"data/a.txt": "a", "data/sub/b.txt": "b"})
    made = _record_temp_names(monkeypatch)
    r = mlvc("add", "data")
    assert r.exit_code == 0, r.output
    r = mlvc("unprotect", "data")
    assert r.exit_code == 0, r.output
    _none_among(made, repo.root / "data")
    assert workspace_files(repo.root / "data") == {"a.txt": b"a", "sub/b.txt": b"b"}
    assert not os.path.islink(repo.root / "data/a.txt") and os.stat(repo.root / "data/a.txt").st_nlink == 1


def test_checkout_without_o_tmpfile_makes_no_temp_file_among_the_users(repo, mlvc, monkeypatch):
    repo.root.gen({"data/a.txt": "a", "data/b.txt": "b"})
    assert mlvc("add", "data").exit_code == 0
    (repo.root / "data/a.txt").write_text("changed")
    assert mlvc("commit").exit_code == 0
    (repo.root / "data/a.txt").write_text("a")  # the first version, in the cache
    monkeypatch.setattr("mlvc.fs.open_tmpfile", lambda folder, mode=0o444: None)
    made = _record_temp_names(monkeypatch)
    r = mlvc("checkout")
    assert r.exit_code == 0, r.output
    assert (repo.root / "data/a.txt").read_text() == "changed"
    _none_among(made, repo.root / "data")


def test_on_another_file_system_the_temp_file_beside_is_removed(repo, mlvc, monkeypatch):
    """Where a rename from .mlvc/tmp cannot reach the user's folder (EXDEV: a bind mount), the
    copy is made beside the file under a name no user picks, and nothing is left of it."""
    import errno

    from mlvc.fs import atomic

    assert mlvc("config", "cache.type", "hardlink").exit_code == 0
    repo.root.gen({"data/a.txt": "a", "data/.mlvc-tmp-notes.txt": "mine"})
    assert mlvc("add", "data").exit_code == 0
    real = atomic.replace_file
    tmp = str(repo.root / ".mlvc" / "tmp")

    def replace_file(src, dest):
        if src.startswith(tmp + os.sep):
            raise OSError(errno.EXDEV, "Invalid cross-device link", dest)
        return real(src, dest)

    monkeypatch.setattr(atomic, "replace_file", replace_file)
    made = _record_temp_names(monkeypatch)
    r = mlvc("unprotect", "data")
    assert r.exit_code == 0, r.output
    assert any(t.startswith(tmp) for t in made) and any(t.startswith(str(repo.root / "data")) for t in made)
    assert workspace_files(repo.root / "data") == {"a.txt": b"a", ".mlvc-tmp-notes.txt": b"mine"}
    assert os.stat(repo.root / "data/a.txt").st_nlink == 1


def test_a_temp_name_taken_by_a_users_file_is_never_removed(repo, mlvc, monkeypatch):
    from mlvc import fs
    from mlvc.fs import atomic

    repo.root.gen({"data/a.txt": "a", "data/.mlvc-tmp-notes.txt": "mine"})
    assert mlvc("add", "data").exit_code == 0
    (repo.root / "data/a.txt").write_text("changed")
    assert mlvc("commit").exit_code == 0
    (repo.root / "data/a.txt").write_text("a")
    monkeypatch.setattr("mlvc.fs.open_tmpfile", lambda folder, mode=0o444: None)
    taken = str(repo.root / "data/.mlvc-tmp-notes.txt")
    monkeypatch.setattr(atomic, "tmp_name", lambda folder: taken)  # as if a user picked mlvc's name
    monkeypatch.setattr(fs, "tmp_name", lambda folder: taken)
    r = mlvc("checkout")
    assert r.exit_code != 0
    assert (repo.root / "data/.mlvc-tmp-notes.txt").read_text() == "mine"
    assert (repo.root / "data/a.txt").read_text() == "a"


# ------------------------------------------------------------ nested .git and .mlvc


def _nested_clone(folder):
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    (folder / "code.py").write_text("print(1)\n")
    return snapshot(folder / ".git", skip=())


def test_a_nested_git_repository_is_not_data(repo, mlvc):
    repo.root.gen({"data/a.txt": "a"})
    git_before = _nested_clone(repo.root / "data" / "clone")
    (repo.root / "data/sub").mkdir()
    (repo.root / "data/sub/.mlvc").write_text("a file named .mlvc")
    r = mlvc("add", "data")
    assert r.exit_code == 0, r.output
    assert read_lock(repo.root)["artifacts"]["data"]["nfiles"] == 2  # a.txt and clone/code.py
    assert mlvc("status", "--check").exit_code == 0
    assert mlvc("commit").exit_code == 0
    # checkout (even --force, even after the data went away) never deletes or writes in them
    (repo.root / "data/clone/code.py").unlink()
    r = mlvc("checkout", "--force")
    assert r.exit_code == 0, r.output
    assert (repo.root / "data/clone/code.py").read_text() == "print(1)\n"
    assert snapshot(repo.root / "data" / "clone" / ".git", skip=()) == git_before
    assert (repo.root / "data/sub/.mlvc").read_text() == "a file named .mlvc"
    assert mlvc("status", "--check").exit_code == 0


def test_checkout_never_deletes_a_nested_git_folder_in_the_way_of_a_file(repo, mlvc):
    repo.root.gen({"model.pkl": "model"})
    assert mlvc("add", "model.pkl").exit_code == 0
    os.unlink(repo.root / "model.pkl")
    before = _nested_clone(repo.root / "model.pkl")
    for args in (("checkout",), ("checkout", "--force")):
        r = mlvc(*args)
        assert r.exit_code == 3, r.output
        assert "model.pkl/.git" in one_line_error(r) and "never deletes a .git" in r.stderr
    assert snapshot(repo.root / "model.pkl" / ".git", skip=()) == before


def test_a_tree_an_older_mlvc_recorded_with_a_nested_git_is_recorded_again_by_commit(repo, mlvc):
    repo.root.gen({"data/a.txt": "a"})
    _nested_clone(repo.root / "data" / "clone")
    assert mlvc("add", "data").exit_code == 0
    r = Repo.find(str(repo.root))
    try:  # what an older mlvc recorded: the nested repository's files as data
        meta = file_meta(oid_of(b"a"), 1, False)
        oid = r.odb.save_entries([("a.txt", meta), ("clone/.git/HEAD", meta), ("clone/code.py", meta)])
        r.odb.flush()
    finally:
        r.close()
    lock = repo.root / "mlvc.lock"
    lock.write_text(lock.read_text().replace(read_lock(repo.root)["artifacts"]["data"]["oid"], oid))
    r = mlvc("status")
    assert r.exit_code == 3 and "never tracks" in r.stderr and "`mlvc commit` records the folder again" in r.stderr
    r = mlvc("commit")
    assert r.exit_code == 0, r.output
    assert mlvc("status", "--check").exit_code == 0
    assert read_lock(repo.root)["artifacts"]["data"]["nfiles"] == 2


# ------------------------------------------------------------ names mlvc cannot track

BAD = [
    ("new\nline", "contains a newline"),
    ("back\\slash", "contains a backslash"),
    (os.fsdecode(b"bad\xff"), "is not valid UTF-8"),
]


def _state(repo):
    """The workspace, mlvc.yaml, mlvc.lock and .gitignore files, and the objects in the cache."""
    return snapshot(repo.root, skip=(".git", ".mlvc")), cache_oids(repo.root)


def _says(r, path: str, problem: str) -> None:
    assert r.exit_code == 3, r.output
    assert one_line_error(r).startswith(f"error: cannot track {path!r}: its name {problem}"), r.stderr
    assert "rename it" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name,problem", BAD)
def test_a_bad_name_is_refused_the_same_way_everywhere(repo, mlvc, name, problem):
    repo.root.gen({"data/ok.txt": "ok"})
    (repo.root / name).write_bytes(b"x")
    before = _state(repo)
    _says(mlvc("add", name), name, problem)  # a file artifact
    (repo.root / "data" / name).write_bytes(b"x")
    before = _state(repo)
    _says(mlvc("add", "data"), f"data/{name}", problem)  # a file inside a folder
    assert _state(repo) == before and not os.path.exists(repo.root / "mlvc.lock")
    os.unlink(repo.root / "data" / name)
    assert mlvc("add", "data").exit_code == 0
    (repo.root / "data" / "sub").mkdir()
    (repo.root / "data" / "sub" / name).write_bytes(b"x")
    before = _state(repo)
    _says(mlvc("status"), f"data/sub/{name}", problem)
    _says(mlvc("commit"), f"data/sub/{name}", problem)
    assert _state(repo) == before


@pytest.mark.parametrize("name,problem", BAD[:2])
def test_a_folder_with_a_bad_name_is_refused(repo, mlvc, name, problem):
    (repo.root / "data" / name).mkdir(parents=True)
    (repo.root / "data" / name / "f").write_bytes(b"x")
    _says(mlvc("add", "data"), f"data/{name}", problem)
    assert not os.path.exists(repo.root / "mlvc.lock")


def _craft(repo, mlvc, lines: list[str]) -> str:
    """Record data/ (a.txt, b.txt), then point mlvc.lock at a hand-made top tree of ``lines``
    (written with the odb API) and return the tree id."""
    repo.root.gen({"data/a.txt": "a", "data/b.txt": "b"})
    assert mlvc("add", "data").exit_code == 0
    r = Repo.find(str(repo.root))
    try:
        oid = r.odb.write_bytes((TREE_HEADER + "".join(f"{ln}\n" for ln in lines)).encode(), tree=True)
        r.odb.flush()
    finally:
        r.close()
    lock = repo.root / "mlvc.lock"
    old = read_lock(repo.root)["artifacts"]["data"]["oid"]
    lock.write_text(lock.read_text().replace(old, oid))
    return oid


def test_a_tree_with_a_bad_name_is_refused_naming_it(repo, mlvc):
    oid = _craft(repo, mlvc, [f"a.txt\0{file_meta(oid_of(b'a'), 1, False)}", f"b\\c\0{file_meta(oid_of(b'b'), 1, False)}"])
    before = _state(repo)
    for args in (("status",), ("checkout", "--force")):
        r = mlvc(*args)
        assert r.exit_code == 3, r.output
        assert f"tree {oid}:3: the name 'b\\\\c' contains a backslash" in one_line_error(r), r.stderr
    assert _state(repo) == before


@pytest.mark.parametrize("depth,name_len,words", [(1, 300, "has a name of 300 bytes (at most 255)"),
                                                  (20, 250, "bytes long (at most 4096)")])
def test_checkout_refuses_a_tree_with_names_too_long_before_changing_anything(repo, mlvc, depth, name_len, words):
    repo.root.gen({"data/a.txt": "a", "data/b.txt": "b"})
    assert mlvc("add", "data").exit_code == 0
    long = "/".join(f"{i:02d}" + "x" * (name_len - 2) for i in range(depth))
    r = Repo.find(str(repo.root))
    try:  # save_entries encodes without checking names: what a hostile tree holds
        entries = sorted([("a.txt", file_meta(oid_of(b"a"), 1, False)), (long, file_meta(oid_of(b"a"), 1, False))])
        oid = r.odb.save_entries(entries)
        r.odb.flush()
    finally:
        r.close()
    lock = repo.root / "mlvc.lock"
    old = read_lock(repo.root)["artifacts"]["data"]["oid"]
    lock.write_text(lock.read_text().replace(old, oid))
    before = _state(repo)  # b.txt would be deleted, were the tree not refused first
    r = mlvc("checkout", "--force")
    assert r.exit_code == 3, r.output
    line = one_line_error(r)
    assert line.startswith("error: tree ") and words in line, line
    assert _state(repo) == before


# ------------------------------------------------------------ sockets and broken symlinks


def _nothing_written(repo, objects_before) -> None:
    assert not os.path.exists(repo.root / "mlvc.yaml") and not os.path.exists(repo.root / "mlvc.lock")
    assert cache_oids(repo.root) == objects_before


def test_a_socket_inside_a_folder_is_refused_naming_it(repo, mlvc):
    repo.root.gen({"data/a.txt": "a"})
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    os.chdir(repo.root / "data")  # a short relative path: sun_path holds 108 bytes
    try:
        sock.bind("ipc.sock")
        os.chdir(repo.root)
        objects = cache_oids(repo.root)
        r = mlvc("add", "data")
        assert r.exit_code == 3, r.output
        assert one_line_error(r).startswith("error: data/ipc.sock is not a regular file (a socket"), r.stderr
        assert "move it out of the tracked folder" in r.stderr
        _nothing_written(repo, objects)
    finally:
        os.chdir(repo.root)
        sock.close()


def test_a_broken_symlink_inside_a_folder_is_refused_naming_it(repo, mlvc):
    repo.root.gen({"data/a.txt": "a"})
    os.symlink("gone.txt", repo.root / "data" / "link.txt")
    objects = cache_oids(repo.root)
    r = mlvc("add", "data")
    assert r.exit_code == 3, r.output
    assert one_line_error(r).startswith("error: data/link.txt is a broken symlink"), r.stderr
    assert "remove it or point it at a file" in r.stderr
    _nothing_written(repo, objects)


# ------------------------------------------------------------ .gitignore line ends


@pytest.mark.parametrize("old,added", [
    (b"*.log\r\n/build\r\n", b"*.log\r\n/build\r\n/data\r\n"),  # CRLF kept, the new line too
    (b"*.log\n# mixed\r\n", b"*.log\n# mixed\r\n/data\n"),  # the first line's end decides
    (b"*.log", b"*.log\n/data\n"),  # no final line end: one is added before the new line
    (b"\xef\xbb\xbf*.log\r\nx\x0cy\r\n", b"\xef\xbb\xbf*.log\r\nx\x0cy\r\n/data\r\n"),  # a BOM, a form feed
])
def test_gitignore_keeps_its_line_ends(repo, mlvc, old, added):
    (repo.root / ".gitignore").write_bytes(old)
    repo.root.gen({"data/a.txt": "a"})
    assert mlvc("add", "data").exit_code == 0
    assert (repo.root / ".gitignore").read_bytes() == added
    assert mlvc("remove", "data").exit_code == 0
    assert (repo.root / ".gitignore").read_bytes() == added.replace(b"/data\r\n", b"").replace(b"/data\n", b"")
