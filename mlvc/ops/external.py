"""``get``, ``import`` and ``update``: data recorded in another git repository (the source),
downloaded from that repository's remote without cloning its data.

The source is read from a bare clone (``git clone --bare --filter=blob:none``: commits and
trees, blobs only when read) in a temp folder under ``.mlvc/tmp/external`` (outside an mlvc
repository: the system's temp folder), removed afterwards; no hook of it runs and nothing of
it is checked out. Its ``mlvc.lock``, ``mlvc.yaml`` and ``.mlvc/config`` at the revision are
read with ``Git.read_file`` (regular files only, size-capped) and parsed by the readers of our
own files, so every path, id and key is checked before anything is written; a tree the remote
serves is hashed and parsed (no ``..``, ``/``, ``.git`` names) before it enters a cache.

The source is untrusted: its remote (its default, or ``remote``) is only read from, never
written; a relative local remote URL is relative to the source repository (when that is a
local path or a ``file://`` URL). ``get`` writes only the OUT the user names (a temp name
beside it, renamed into place); ``import`` and ``update`` write only inside our repository,
through checkout's ``checkout_entries`` (which checks every folder on the way), and record
the artifact in mlvc.yaml and mlvc.lock with its ``source:`` (``formats.lock.ImportSource``).

An imported artifact is an artifact like any other afterwards: status, checkout, push, pull,
gc and diff see it as data in our cache (``push`` sends it to our remote). ``pull`` never
asks the source: ``mlvc update PATH`` fetches from it what the cache lacks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import unquote, urlsplit

from mlvc import fs
from mlvc.config import MAX_CONFIG_BYTES, read_file as read_config_file
from mlvc.errors import (ArtifactNotFoundError, ConfigError, FileFormatError, InvalidPathError, MlvcError,
                         ObjectNotFoundError, ScmError)
from mlvc.formats.lock import LOCK_FILE, ImportSource, LockEntry, parse_lock
from mlvc.formats.project import PROJECT_FILE, parse_project
from mlvc.formats.yamlio import MAX_FILE_BYTES
from mlvc.objects.paths import check_relpath
from mlvc.objects.tree import split_meta
from mlvc.odb import transfer
from mlvc.odb.backends import RemoteSpec, check_url, open_remote
from mlvc.ops.targets import all_artifacts, check_inside, save, stage_outs, to_repo_path, writing
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.workspace import gitignore
from mlvc.workspace.compare import part_of

CLONE_TIMEOUT = 600  # seconds for the git clone of the source
CONFIG = ".mlvc/config"
# git transports a source may use (a URL recorded in a clone's mlvc.lock is anyone's text:
# never ext::, fd:: or a remote helper)
ALLOWED_PROTOCOLS = ("file", "git", "http", "https", "ssh")
DENIED_PROTOCOLS = ("ext", "fd")


class SourceError(ScmError):
    """The source repository cannot be read: not a git repository, unreachable, unknown revision,
    not an mlvc repository, no remote to read from."""


@dataclass(frozen=True)
class Fetched:
    """What was taken from the source: where from, and the entry it makes here."""

    repo: str  # the URL or absolute path, as recorded
    path: str  # in the source repository
    rev: str | None  # as asked (None: its default branch)
    commit: str
    remote: str  # the source's remote read from
    entry: LockEntry  # at OUT's path here (the source's id, or a part's)
    fetched: int = 0  # objects downloaded
    nbytes: int = 0


@dataclass(frozen=True)
class GetResult:
    source: Fetched
    out: str  # the path written, as the user named it (absolute if given so)


@dataclass(frozen=True)
class ImportResult:
    source: Fetched
    entry: LockEntry
    git_files: list[str]


@dataclass(frozen=True)
class UpdateResult:
    path: str
    old: ImportSource
    new: ImportSource
    old_oid: str
    new_oid: str
    written: bool  # mlvc.lock changed
    commit: str  # the source's commit looked at (the newest of the revision)
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    fetched: int = 0

    @property
    def changed(self) -> bool:
        return self.old_oid != self.new_oid


# ---------------------------------------------------------------- the source repository


def _check_arg(value: str, what: str) -> None:
    if not value or value.startswith("-") or any(c in value for c in "\0\n\r"):
        raise InvalidPathError(f"{what} {value!r} is not valid", f"{what}s cannot be empty, start with '-' "
                               "or hold a NUL or a line break")


def normalize_url(url: str, cwd: str | None) -> tuple[str, str | None]:
    """``(url as recorded, local folder of the repository or None)``: a local path becomes
    absolute (relative to ``cwd``); a ``file://`` URL stays as given, its folder found."""
    _check_arg(url, "repository URL")
    if url.startswith("file://"):
        return url, unquote(urlsplit(url).path)
    if "://" in url or re.match(r"[^/]+@[^/:]+:", url) or (":" in url.split("/", 1)[0]
                                                             and not os.path.exists(url)):
        return url, None  # https://, ssh://, git://, user@host:path
    full = os.path.normpath(os.path.join(cwd or os.getcwd(), os.path.expanduser(url)))
    if not os.path.isdir(full):
        raise SourceError(f"{url} is not a folder, so it is not a git repository",
                          "give a git URL (https://, ssh://, file://) or the path of a git repository")
    return full, full


def _git_failure(stderr: str) -> str:
    lines = [x.strip() for x in stderr.splitlines() if x.strip() and not x.startswith("warning:")]
    fatal = [x for x in lines if x.startswith("fatal:")]
    return (fatal or lines or ["git clone failed"])[-1].removeprefix("fatal: ")


def _clone(url: str, dest: str) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": "",
           "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")}
    allow = [arg for p in ALLOWED_PROTOCOLS for arg in ("-c", f"protocol.{p}.allow=always")]
    deny = [arg for p in DENIED_PROTOCOLS for arg in ("-c", f"protocol.{p}.allow=never")]  # over a user's config
    cmd = ["git", "-c", "core.hooksPath=/dev/null", "-c", "protocol.allow=never", *allow, *deny, "clone", "--bare",
           "--quiet", "--no-local", "--filter=blob:none", "--", url, dest]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=CLONE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SourceError(f"cannot read the git repository {url}: no answer in {CLONE_TIMEOUT} s",
                          "check the URL and the network") from None
    except OSError as exc:
        raise SourceError(f"cannot run git to read {url}: {exc.strerror}", "install git") from None
    if done.returncode != 0:
        why = _git_failure(done.stderr)
        if "does not appear to be a git repository" in why or "not a git repository" in why or (
                "does not exist" in why and os.path.isdir(url)):
            raise SourceError(f"{url} is not a git repository", "give the path or URL of a git repository")
        raise SourceError(f"cannot read the git repository {url}: {why}",
                          "check the URL, the network and that you may read it")


class Source:
    """A bare clone of the source repository, and what it records at one revision."""

    def __init__(self, url: str, local: str | None, clone: str) -> None:
        from mlvc.scm.git import Git

        self.url = url
        self.local = local
        self.git = Git(clone, clone)
        self.rev: str | None = None
        self.commit = ""

    @property
    def label(self) -> str:
        return f"{self.url}@{self.rev or 'HEAD'}"

    def at(self, rev: str | None) -> str:
        if rev is not None:
            _check_arg(rev, "revision")
        self.rev = rev
        try:
            self.commit = self.git.resolve(rev or "HEAD")
        except ScmError:
            if rev is None:
                raise SourceError(f"{self.url} has no commits (its HEAD names no commit)",
                                  "name a branch or tag with --rev") from None
            raise SourceError(f"unknown revision {rev!r} in {self.url}",
                              f"name a branch, a tag or a commit of it (see `git ls-remote {self.url}`)") from None
        return self.commit

    def read(self, relpath: str, limit: int) -> str | None:
        data = self.git.read_file(self.commit, relpath, limit=limit, label=self.label)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise FileFormatError(f"{self.label}:{relpath}", "is not valid UTF-8") from None

    def entry(self, path: str) -> tuple[LockEntry, str]:
        """``(the artifact recorded there, the inner path)`` that ``path`` names."""
        lock_text = self.read(LOCK_FILE, MAX_FILE_BYTES)
        project_text = self.read(PROJECT_FILE, MAX_FILE_BYTES)
        if lock_text is None and project_text is None and self.read(CONFIG, MAX_CONFIG_BYTES) is None:
            raise SourceError(f"{self.url} is not an mlvc repository at {self.rev or 'HEAD'} "
                              f"(no {LOCK_FILE}, {PROJECT_FILE} or {CONFIG})", "check the URL and --rev")
        lock = parse_lock(lock_text or "", f"{self.label}:{LOCK_FILE}")
        project = parse_project(project_text or "", f"{self.label}:{PROJECT_FILE}")
        project.exists = project_text is not None
        tracked = [p for p in all_artifacts(project, lock) if p in lock.artifacts]
        if path in lock.artifacts and path in tracked:
            return lock.artifacts[path], ""
        owner = next((a for a in tracked if path.startswith(a + "/")), None)
        if owner is not None:
            if not lock.artifacts[owner].is_dir:
                raise ArtifactNotFoundError(f"{path} cannot be inside {owner}, which is a file in {self.label}",
                                            f"name {owner} instead")
            return lock.artifacts[owner], path[len(owner) + 1:]
        below = [a for a in tracked if a.startswith(path + "/")]
        if below:
            raise ArtifactNotFoundError(f"{path} holds several artifacts in {self.label}: {_some(below)}",
                                        "name one of them")
        raise ArtifactNotFoundError(f"{path} is not tracked in {self.label}",
                                    f"tracked there: {_some(tracked)}" if tracked else "nothing is tracked there")

    def remote(self, name: str | None) -> tuple[RemoteSpec, str]:
        """The source's remote ``name`` (default: its default), and the folder a relative local URL is in."""
        text = self.read(CONFIG, MAX_CONFIG_BYTES)
        values = _parse_config(text or "", f"{self.label}:{CONFIG}")
        remotes = sorted({k.split(".")[1] for k in values if k.startswith("remote.") and k.endswith(".url")})
        known = f"(it has: {', '.join(remotes)})" if remotes else "(it has none)"
        if name is None:
            name = values.get("core.remote")
            if not name:
                raise SourceError(f"{self.url} has no default remote at {self.rev or 'HEAD'} {known}",
                                  "name one with --remote NAME, or ask its owners to set one (`mlvc remote default`)")
        if f"remote.{name}.url" not in values:
            raise SourceError(f"{self.url} has no remote named {name!r} at {self.rev or 'HEAD'} {known}",
                              "name one of its remotes with --remote NAME")
        url = values[f"remote.{name}.url"]
        prefix = f"remote.{name}."
        options = {k[len(prefix):]: v for k, v in values.items()
                   if k.startswith(prefix) and k[len(prefix):].count(".") == 0 and k != prefix + "url"}
        try:
            scheme = check_url(url)
        except ConfigError as exc:
            raise FileFormatError(f"{self.label}:{CONFIG}", f"remote {name!r}: {exc.message}") from None
        base = self.local or "/"
        if scheme == "local":
            path = os.path.expanduser(url[len("file://"):] if url.startswith("file://") else url)
            if not os.path.isabs(path) and self.local is None:
                raise SourceError(f"remote {name!r} of {self.url} is a local folder relative to that repository "
                                  f"({url}), which is not on this machine",
                                  "use a clone of it on this machine (its path) as the repository")
        return RemoteSpec(name, url, options), base

    def close(self) -> None:
        if self.git._repo is not None:
            self.git._repo.close()


def _some(paths: list[str], n: int = 10) -> str:
    return ", ".join(paths[:n]) + (f" and {len(paths) - n} more" if len(paths) > n else "")


def _parse_config(text: str, label: str) -> dict[str, str]:
    """The source's .mlvc/config, read by our config reader (its keys and values checked)."""
    with tempfile.TemporaryDirectory(prefix="mlvc-config-") as tmp:
        path = os.path.join(tmp, "config")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            return read_config_file(path)
        except FileFormatError as exc:
            raise FileFormatError(label, exc.problem, exc.line, exc.hint) from None


def source_path(path: str) -> str:
    """The user's PATH in the source repository, as a repo-relative POSIX path."""
    _check_arg(path, "path")
    rel = path.replace(os.sep, "/").strip("/")
    while rel.startswith("./"):
        rel = rel[2:]
    if os.path.isabs(path) or not rel:
        raise InvalidPathError(f"{path} is not a path inside the source repository",
                               "give the path as mlvc.lock there records it, e.g. data/images")
    check_relpath(rel, "path")
    return rel


@contextmanager
def opened(url: str, tmp_parent: str, cwd: str | None, progress=NULL) -> Iterator[Source]:
    """The source repository cloned (bare, no blobs) into a temp folder of ``tmp_parent``,
    removed afterwards, even after an error or Ctrl-C."""
    recorded, local = normalize_url(url, cwd)
    tmp = tempfile.mkdtemp(prefix="clone-", dir=tmp_parent)
    src = None
    try:
        with progress.task(f"Reading {recorded}"):
            _clone(recorded, os.path.join(tmp, "repo.git"))
        src = Source(recorded, local, os.path.join(tmp, "repo.git"))
        yield src
    finally:
        if src is not None:
            src.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- fetching


@dataclass(frozen=True)
class Plan:
    """What ``path`` names at the source's revision, and the remote to read it from: all
    checked before our repository or cache is touched."""

    path: str
    entry: LockEntry  # the artifact recorded there
    inner: str  # the part of it ('' for all)
    spec: RemoteSpec
    base: str  # the folder a relative local remote URL is relative to


def plan(src: Source, path: str, remote: str | None) -> Plan:
    entry, inner = src.entry(path)
    spec, base = src.remote(remote)
    return Plan(path, entry, inner, spec, base)


def fetch_into(cache, src: Source, p: Plan, out: str, jobs: int | None, progress=NULL) -> Fetched:
    """Download into ``cache`` what plan ``p`` names; the entry it makes at ``out``."""
    store = open_remote(p.spec, p.base)
    where = f"remote {p.spec.name!r} of {src.url}"
    transfer.check_remote(store, f"fetch {p.path} from")
    try:
        if p.inner and p.entry.is_dir:  # the part is there before anything enters the cache

            def read(oid: str) -> bytes:
                return cache.read_tree_object(oid) if cache.exists(oid) else transfer._read_tree(store, oid)

            if transfer.part_oid(read, p.entry.oid, p.inner) is None:
                raise ArtifactNotFoundError(f"{p.path} is not in the recorded version of {p.entry.path} in "
                                            f"{src.label}", f"{p.entry.path} is tracked there; name a file or "
                                            "folder inside it")
        got = transfer.fetch(cache, store, [transfer.Root(p.entry.oid, p.inner, p.entry.path)], jobs, progress)
    except ObjectNotFoundError as exc:
        first = exc.oids[0] if exc.oids else "?"
        raise ObjectNotFoundError(f"{where} lacks {len(exc.oids) or 'some'} object(s) of {p.path} at "
                                  f"{src.rev or 'HEAD'} (first: {first})", exc.oids,
                                  "its data was never pushed there: ask for `mlvc push` in that repository, "
                                  "or name another of its remotes with --remote") from None
    made = _entry_at(cache, p.entry, p.inner, out, p.path, src.label)
    return Fetched(src.url, p.path, src.rev, src.commit, p.spec.name, made, got.transferred, got.nbytes)


def _entry_at(cache, entry: LockEntry, inner: str, out: str, path: str, label: str) -> LockEntry:
    """The lock entry of what ``path`` names (artifact ``entry``, or its part at ``inner``) at ``out``."""
    if not inner:
        return LockEntry(out, entry.oid, entry.size, entry.nfiles, entry.executable)
    files = list(part_of(cache.walk_tree(entry.oid), inner))
    if not files:
        raise ArtifactNotFoundError(f"{path} is not in the recorded version of {entry.path} in {label}",
                                    f"{entry.path} is tracked there; name a file or folder inside it")
    if files[0][0] == "":
        oid, size, x = split_meta(files[0][1])
        return LockEntry(out, oid, size, executable=x)
    oid = cache.save_entries(files)  # a format 2 source: its sub-folder's own tree, already there
    cache.flush()
    return LockEntry(out, oid, sum(split_meta(m)[1] for _, m in files), len(files))


# ---------------------------------------------------------------- get


def get(repo: Repo | None, url: str, path: str, rev: str | None = None, out: str | None = None,
        force: bool = False, remote: str | None = None, jobs: int | None = None, cwd: str | None = None,
        progress=NULL) -> GetResult:
    """Download ``path`` of the repository at ``url`` (at ``rev``) into ``out`` (default: its
    name, here). In an mlvc repository (``repo``) the objects go into its cache; outside, into
    a temp cache removed afterwards. Nothing is tracked."""
    rel = source_path(path)
    out = out or rel.rpartition("/")[2]
    _check_arg(out, "output path")
    dest = os.path.abspath(os.path.join(cwd or os.getcwd(), out))
    if repo is not None and fs.is_within(repo.root, dest):
        first = os.path.relpath(dest, repo.root).split(os.sep, 1)[0]
        if first in (".git", ".mlvc"):
            raise InvalidPathError(f"{out} is inside {first}/, which is not for data", "name another output path")
    _check_out(dest, out, force)
    if not os.path.isdir(os.path.dirname(dest)):
        raise InvalidPathError(f"the folder of {out} does not exist", "create it first, or name another -o OUT")
    if repo is not None:
        with opened(url, repo.safe_tmp("external"), cwd, progress) as src:
            src.at(rev)
            todo = plan(src, rel, remote)
            with repo.lock():
                got = fetch_into(repo.odb, src, todo, rel, jobs, progress)
                _write_out(repo.odb, got.entry, dest, out, force, progress)
        return GetResult(got, out)
    from mlvc.odb.local import LocalObjectStore

    with tempfile.TemporaryDirectory(prefix="mlvc-get-") as tmp:
        with opened(url, tmp, cwd, progress) as src:
            src.at(rev)
            todo = plan(src, rel, remote)
            cache = LocalObjectStore(os.path.join(tmp, "cache"), fsync="never")
            got = fetch_into(cache, src, todo, rel, jobs, progress)
            _write_out(cache, got.entry, dest, out, force, progress)
    return GetResult(got, out)


def _check_out(dest: str, shown: str, force: bool) -> None:
    if os.path.lexists(dest) and not force:
        raise InvalidPathError(f"{shown} exists already", "name another output with -o OUT, or --force to replace it")


def _write_out(cache, entry: LockEntry, dest: str, shown: str, force: bool, progress) -> None:
    """Write ``entry`` from ``cache`` as plain copies (each checked against its id) under a temp
    name beside ``dest``, then rename it into place (a replaced ``dest`` goes only then)."""
    _check_out(dest, shown, force)
    parent = os.path.dirname(dest)
    staging = tempfile.mkdtemp(prefix=f"{fs.TMP_PREFIX}get-", dir=parent)
    try:
        top = os.path.join(staging, "out")

        def mode(x: bool) -> int:
            return 0o777 if x else 0o666  # the umask applies

        if not entry.is_dir:
            fs.copy_verified(cache.path(entry.oid), top, entry.oid, mode(entry.executable), entry.size)
        else:
            os.mkdir(top)
            files = list(cache.walk_tree(entry.oid))  # every folder checked before the first file
            made = {""}
            for p, _ in files:
                folder = p.rpartition("/")[0]
                if folder not in made:
                    os.makedirs(os.path.join(top, folder), exist_ok=True)
                    made.add(folder)

            def copy(item) -> None:
                p, meta = item
                oid, size, x = split_meta(meta)
                fs.copy_verified(cache.path(oid), os.path.join(top, p), oid, mode(x), size)

            from mlvc.fs.parallel import run_parallel

            with progress.task(f"Writing {shown}", len(files)) as task:
                run_parallel(copy, files, task)
        if os.path.lexists(dest):
            fs.remove_path(dest)
        os.rename(top, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---------------------------------------------------------------- import


def import_(repo: Repo, url: str, path: str, rev: str | None = None, out: str | None = None, force: bool = False,
            remote: str | None = None, jobs: int | None = None, cwd: str | None = None,
            progress=NULL) -> ImportResult:
    """``get`` into the repository, and track ``out`` with its source in mlvc.lock (and mlvc.yaml)."""
    from mlvc.ops.checkout import checkout_entries
    from mlvc.scm import git_tracked

    rel = source_path(path)
    out_rel = to_repo_path(repo, out or rel.rpartition("/")[2], cwd)
    with opened(url, repo.safe_tmp("external"), cwd, progress) as src:
        src.at(rev)
        todo = plan(src, rel, remote)
        with writing(repo) as (project, lock):
            known = all_artifacts(project, lock)
            _check_place(repo, out_rel, known, stage_outs(lock), lock.artifacts, force)
            if out_rel in git_tracked(repo.root, [out_rel]):
                raise InvalidPathError(f"{out_rel} is tracked by git", f"stop tracking it in git first: "
                                       f"`git rm -r --cached {out_rel}`, or import into another -o OUT")
            got = fetch_into(repo.odb, src, todo, out_rel, jobs, progress)
            source = ImportSource(got.repo, got.path, got.commit, got.rev, remote)
            entry = LockEntry(out_rel, got.entry.oid, got.entry.size, got.entry.nfiles, got.entry.executable,
                              source=source)
            checkout_entries(repo, [entry], force, progress)
            lock.artifacts[out_rel] = entry
            if out_rel not in project.artifacts:
                project.artifacts.append(out_rel)
            gi = gitignore.ignore(repo.root, out_rel)
            save(repo, project, lock)
    parent = out_rel.rpartition("/")[0]
    ignore_file = gi or (f"{parent}/.gitignore" if parent else ".gitignore")
    return ImportResult(got, entry, sorted({ignore_file}) + [PROJECT_FILE, LOCK_FILE])


def _check_place(repo: Repo, out: str, known: list[str], outs: set[str], recorded: dict, force: bool) -> None:
    """OUT may take an import: not inside or above another artifact, not a stage's out, not
    there already (unless ``force``), not reached through a symlink leaving the repository."""
    for a in known:
        if out.startswith(a + "/"):
            raise InvalidPathError(f"{out} is inside the tracked artifact {a}", "import into another -o OUT")
        if a.startswith(out + "/"):
            raise InvalidPathError(f"{out} contains the tracked artifact {a}", f"`mlvc remove {a}` first")
    if out in outs:
        raise InvalidPathError(f"{out} is an out of a stage", "import into another -o OUT")
    check_inside(repo, out)
    if out in known and not force:
        how = "`mlvc update` moves it to a newer revision" if out in recorded and recorded[out].source else \
            "it is an artifact of this repository"
        raise InvalidPathError(f"{out} is tracked already", f"{how}; --force replaces it")
    if os.path.lexists(os.path.join(repo.root, out)) and not force:
        raise InvalidPathError(f"{out} exists already", "import into another -o OUT, or --force to replace it")


# ---------------------------------------------------------------- update


def update(repo: Repo, paths: list[str], rev: str | None = None, remote: str | None = None, jobs: int | None = None,
           cwd: str | None = None, progress=NULL) -> list[UpdateResult]:
    """Move each imported artifact of ``paths`` to its source's newest commit of the revision it
    was imported at (or to ``rev``): download what changed and check it out. mlvc.lock is
    written only when the data or the revision changed."""
    if not paths:
        raise MlvcError("nothing to update", "name one or more imported artifacts")
    from mlvc.formats.lock import read_lock
    from mlvc.formats.project import read_project

    lock, project = read_lock(repo.root), read_project(repo.root)
    tracked = set(all_artifacts(project, lock))
    chosen: list[str] = []
    for p in paths:
        rel = to_repo_path(repo, p, cwd)
        entry = lock.artifacts.get(rel)
        if entry is None or rel not in tracked or entry.source is None:
            raise ArtifactNotFoundError(f"{rel} is not an imported artifact",
                                        "`mlvc import URL PATH` records where data came from; see `mlvc ls`")
        if rel not in chosen:
            chosen.append(rel)
    return [_update_one(repo, rel, lock.artifacts[rel], rev, remote, jobs, cwd, progress) for rel in chosen]


def _update_one(repo: Repo, rel: str, before: LockEntry, rev: str | None, remote: str | None, jobs: int | None,
                cwd: str | None, progress) -> UpdateResult:
    from mlvc.ops.checkout import checkout_entries

    old = before.source
    want_rev = rev if rev is not None else old.rev
    want_remote = remote if remote is not None else old.remote
    with opened(old.repo, repo.safe_tmp("external"), repo.root, progress) as src:
        src.at(want_rev)
        todo = plan(src, old.path, want_remote)
        with writing(repo) as (project, lock):
            now = lock.artifacts.get(rel)
            if now is None or now != before or now.source != old:
                raise MlvcError(f"{rel} changed in {LOCK_FILE} while it was being updated", "run the update again")
            check_inside(repo, rel)
            got = fetch_into(repo.odb, src, todo, rel, jobs, progress)
            new = ImportSource(old.repo, old.path, got.commit, want_rev, want_remote, old.extra)
            entry = LockEntry(rel, got.entry.oid, got.entry.size, got.entry.nfiles, got.entry.executable,
                              before.extra, new)
            same = entry == before
            write = not same or (want_rev, want_remote) != (old.rev, old.remote)
            if not same or not os.path.lexists(os.path.join(repo.root, rel)):
                done = checkout_entries(repo, [entry], False, progress)
            else:
                done = None
            if write:
                lock.artifacts[rel] = entry
                save(repo, None, lock)
    result_new = new if write else old
    return UpdateResult(rel, old, result_new, before.oid, entry.oid, write, got.commit,
                        *(([], [], []) if done is None else (done.added, done.modified, done.deleted)),
                        fetched=got.fetched)
