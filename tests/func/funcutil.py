"""Helpers shared by the functional tests: snapshots of a repository, cache checks."""

from __future__ import annotations

import contextlib
import os
import stat

import xxhash
import yaml


def snapshot(root, skip=(".git", ".mlvc/tmp")) -> dict[str, tuple]:
    """Everything under ``root`` (but ``skip``): path -> ("d",) | ("l", target) | ("f", mode, bytes).

    Two snapshots are equal when no file, folder, link, permission or byte changed.
    """
    root = os.fspath(root)
    result: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        keep = []
        for d in dirnames:
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if rel in skip:
                continue
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                result[rel] = ("l", os.readlink(full))
                continue
            result[rel] = ("d",)
            keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = f if rel_dir == "." else f"{rel_dir}/{f}"
            full = os.path.join(dirpath, f)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                result[rel] = ("l", os.readlink(full))
            else:
                with open(full, "rb") as fh:
                    result[rel] = ("f", stat.S_IMODE(st.st_mode), fh.read())
    return result


def workspace_files(folder) -> dict[str, bytes]:
    """The regular files (or links to files) below ``folder``: relative path -> content."""
    folder = os.fspath(folder)
    out = {}
    for dirpath, _, filenames in os.walk(folder):
        for f in filenames:
            full = os.path.join(dirpath, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, folder).replace(os.sep, "/")] = fh.read()
    return out


def cache_dir(root) -> str:
    """Where the objects are: the cache's format 2 layout, files/xxh3/."""
    return os.path.join(os.fspath(root), ".mlvc", "cache", "files", "xxh3")


def object_path(root, oid: str) -> str:
    return os.path.join(cache_dir(root), oid[:2], oid[2:])


def cache_oids(root) -> list[str]:
    """Every object id in the cache (names of the form xx/yyyy..., 32 hex + optional .tree)."""
    base = cache_dir(root)
    oids = []
    if not os.path.isdir(base):
        return oids
    for prefix in sorted(os.listdir(base)):
        folder = os.path.join(base, prefix)
        if len(prefix) != 2 or not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            oid = prefix + name
            core = oid[:-5] if oid.endswith(".tree") else oid
            if len(core) == 32 and all(c in "0123456789abcdef" for c in core):
                oids.append(oid)
    return oids


def bad_objects(root) -> list[str]:
    """Objects in the cache whose content does not hash to their name."""
    bad = []
    for oid in cache_oids(root):
        with open(object_path(root, oid), "rb") as fh:
            if xxhash.xxh3_128_hexdigest(fh.read()) != oid[:32]:
                bad.append(oid)
    return bad


def oid_of(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def read_lock(root) -> dict:
    with open(os.path.join(os.fspath(root), "mlvc.lock"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_project(root) -> dict:
    with open(os.path.join(os.fspath(root), "mlvc.yaml"), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def tree_lines(root, oid: str, prefix: str = "") -> dict[str, str]:
    """A tree's files: path -> file oid, read straight from the cache (format 2 sub-folders
    followed; format 1 read flat)."""
    with open(object_path(root, oid), "rb") as fh:
        text = fh.read().decode()
    lines = text.split("\n")
    assert lines[0] in ("mlvc-tree 1", "mlvc-tree 2")
    out = {}
    for line in lines[1:]:
        if line:
            path, meta = line.split("\0")
            fields = meta.split(" ")
            if fields[1] == "d":
                out.update(tree_lines(root, fields[0] + ".tree", f"{prefix}{path}/"))
            else:
                out[prefix + path] = fields[0]
    return out


def one_line_error(result) -> str:
    """Assert the failure was reported as a single line on stderr without a traceback; return it."""
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def accept_forever(sock, serve) -> None:
    """``serve(conn)`` in a thread of its own for every connection ``sock`` accepts, until
    ``sock`` is closed (the loop of the tests' TCP proxies; run it in a daemon thread)."""
    import threading

    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def git_clone(repo, tmp_path, name: str = "clone"):
    """A plain ``git clone`` of ``repo`` into ``tmp_path/name`` (no cache, no workspace data)."""
    import subprocess

    dest = tmp_path / name
    subprocess.run(["git", "clone", "-q", str(repo.root), str(dest)], check=True)
    return dest


def forked_workers(monkeypatch, module, batch_name: str) -> list[int]:
    """Forked workers (mlvc.fs.forked) from 2 batches of 4 (``module.batch_name``) on, 2 jobs;
    the list grows by one for each worker forked."""
    from mlvc.fs import forked

    monkeypatch.setattr(forked, "FORK_FROM", 2)
    monkeypatch.setattr(module, batch_name, 4)
    monkeypatch.setenv("MLVC_JOBS", "2")
    made: list[int] = []
    real = os.fork
    monkeypatch.setattr(os, "fork", lambda: made.append(1) or real())
    return made


@contextlib.contextmanager
def umask(mask: int):
    """The process's umask set to ``mask`` for the block (the CLI runs in this process)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)
