"""Remotes: an ``ObjectStore`` over an fsspec file system, with the cache's layout.

Layout (the same as the cache, format 2): ``<url>/files/xxh3/<first 2 hex>/<other 30 hex>[.tree]``,
so a remote written by one version of mlvc is read by the next.

URLs: a local path or ``file://``, ``s3://bucket/prefix``, ``gs://bucket/prefix``,
``az://container/prefix``, ``ssh://[user@]host[:port]/path`` and ``http(s)://`` (read-only).
The backend (s3fs, gcsfs, adlfs, sshfs, aiohttp) is an extra of mlvc; fsspec and the
backend are imported only when a remote is opened, never by the modules that parse a URL.

Writes: to a local folder, an unnamed file (O_TMPFILE) in the object's folder linked to its
name once whole, made durable by ``flush`` as ``core.fsync`` says; over SSH, a temp name in the
object's folder then a rename (atomic: an interrupted upload leaves nothing or a temp name,
never a partial object under its id); elsewhere one PUT (atomic on S3). Reads into the cache are hashed while they are written
and published only when the id matches (``get_into``).

Retries: a transient failure (a timeout, a dropped or reset connection, a 5xx answer, S3's
503 SlowDown and other throttling) is retried with exponential backoff and jitter, at most
``RETRY_TRIES`` tries within ``RETRY_WITHIN`` seconds; anything else (403, a missing bucket or
object, refused credentials, a refused connection) fails at once. The backend's own retries
are turned off where it has them (botocore, s3fs), so this is the one policy for every remote.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import threading
import time
from typing import Iterator

from mlvc import fs
from mlvc.errors import CorruptObjectError, MlvcError
from mlvc.objects.hashing import OID_HEX_LEN, hash_bytes, is_valid_oid
from mlvc.odb.backends import RemoteError
from mlvc.odb.base import ObjectStore

LAYOUT = ("files", "xxh3")
# an object up to this size moves in one request with its bytes in memory (pipe_file /
# cat_file): for a small object the backends' file calls cost more requests or more work
# (s3fs's put_file and open+read) than the bytes themselves
SMALL_OBJECT = 4 * 1024 * 1024
COPY_STEP = 1024 * 1024  # a local copy tells the progress this often (as downloads do)
SMALL_COPY = 1024 * 1024  # a local copy of a file up to this size: one read and one write
OBJECT_MODE = 0o644  # an object in a local-folder remote (the umask applies)
RETRY_TRIES = 5  # tries of one request in all (the first and 4 retries)
RETRY_BASE = 0.25  # seconds before the first retry; doubled each time, up to RETRY_CAP
RETRY_CAP = 4.0
RETRY_WITHIN = 30.0  # no retry starts later than this many seconds after the first try
# error codes (S3's and the like) and exception names of failures worth another try
TRANSIENT_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
                   "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "RequestThrottled",
                   "TooManyRequests", "500", "502", "503", "504"}
TRANSIENT_NAMES = {"ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError", "ServerDisconnectedError",
                   "ClientPayloadError", "IncompleteRead", "ResponseStreamingError", "FSTimeoutError",
                   "ConnectionLost", "ServerTimeoutError", "ProtocolError", "ChunkedEncodingError"}


def exception_chain(exc: BaseException):
    """``exc``, then its causes and contexts, each once."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a failure another try may not meet."""
    for e in exception_chain(exc):
        if isinstance(e, (MlvcError, ConnectionRefusedError, FileNotFoundError, PermissionError)):
            return False
        response = getattr(e, "response", None)
        if isinstance(response, dict):  # botocore: the server answered
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return code in TRANSIENT_CODES or (isinstance(status, int) and (status >= 500 or status == 429))
        # the HTTP status: aiohttp's ClientResponseError ``status`` (http), adlfs's (azure-core's)
        # HttpResponseError ``status_code``, gcsfs's HttpError ``code``
        for attr in ("status", "status_code", "code"):
            status = getattr(e, attr, None)
            if isinstance(status, int) and not isinstance(status, bool) and 100 <= status < 600:
                return status >= 500 or status == 429
        if type(e).__name__ in TRANSIENT_NAMES:
            return True
        if isinstance(e, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, TimeoutError, socket.timeout)):
            return True
    return False


def _describe(exc: BaseException) -> str:
    """A short cause of a transient failure, never quoting options: the error code or the
    exception's name."""
    for e in exception_chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return " ".join(dict.fromkeys(str(x) for x in (status, code) if x))  # HEAD: "503", no code
    for e in exception_chain(exc):
        if type(e).__name__ in TRANSIENT_NAMES or isinstance(e, (ConnectionError, TimeoutError)):
            return type(e).__name__
    return type(exc).__name__


def open_failure(spec, exc: BaseException) -> RemoteError:
    """The one error of a backend that cannot open remote ``spec`` (sshfs connects and logs in
    when it is made), never quoting an option: an SSH host key that is not trusted, a refused
    login, an unreachable server, else the exception's name."""
    from urllib.parse import urlsplit

    names = [type(e).__name__ for e in exception_chain(exc)]
    parts = urlsplit(spec.url)
    host = parts.hostname or "?"
    port = spec.options.get("port") or parts.port
    where = f"{host}:{port}" if port else host
    if "HostKeyNotVerifiable" in names:
        file = spec.options.get("known_hosts") or "~/.ssh/known_hosts"
        return RemoteError(f"remote {spec.name!r}: the host key of {where} is not trusted (it is not in {file}, "
                           "or differs from the key there); nothing was sent",
                           f"if the server is the one you mean (compare `ssh-keyscan{f' -p {port}' if port else ''} "
                           f"{host} | ssh-keygen -lf -` with its fingerprint), add its key to {file}, or point "
                           f"the remote at a file that has it: `mlvc remote modify {spec.name} known_hosts PATH`")
    if "PermissionDenied" in names:
        return RemoteError(f"remote {spec.name!r}: the server at {where} refused the login",
                           "check user, keyfile (or password) with `mlvc remote list`")
    for e in exception_chain(exc):
        if isinstance(e, (ConnectionRefusedError, socket.gaierror, TimeoutError)) or \
                (isinstance(e, OSError) and e.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH)):
            return RemoteError(f"remote {spec.name!r}: the server at {where} is unreachable",
                               "check the url (host, port) and the network")
    return RemoteError(f"cannot open remote {spec.name!r}: {type(exc).__name__}")


class ShortUploadError(RemoteError):
    """An upload that arrived with fewer (or more) bytes than the file has: never put in place."""

    def __init__(self, remote: str, oid: str, got, size: int) -> None:
        super().__init__(f"the upload of object {oid} to remote {remote!r} arrived with {got} of {size} bytes "
                         "(sent twice); it was not put in place",
                         "run the push again; if it recurs, the server or the network truncates files")


class Retrying:
    """An fsspec file system whose calls in ``CALLS`` are retried (``RemoteObjectStore.with_retries``);
    every other attribute is the file system's own."""

    CALLS = frozenset({"exists", "cat_file", "pipe_file", "put_file", "find", "ls", "rm_file", "info", "mv",
                       "makedirs", "mkdir", "isdir", "isfile"})

    def __init__(self, filesystem, store: "RemoteObjectStore") -> None:
        self._fs = filesystem
        self._store = store

    def __getattr__(self, attr: str):
        value = getattr(self._fs, attr)
        if attr in self.CALLS and callable(value):
            return lambda *args, **kw: self._store.with_retries(value, *self._rooted(args), **kw)
        return value

    def _rooted(self, args: tuple) -> tuple:
        # SFTP: "" is the login's home folder to the server, but the top of an absolute path
        # (``"/srv/x".split("/", 1)[0]``, the "bucket" of a URL) is "/"
        if self._store.rename and args and args[0] == "":
            return ("/", *args[1:])
        return args


class RemoteObjectStore(ObjectStore):
    """Objects under ``<path>/files/xxh3/`` of an fsspec file system. ``fs`` retries transient
    failures (``with_retries``); ``retried`` counts the retries made."""

    LIST_ALL_FROM = 1024  # asked about this many ids: one listing of everything
    LIST_PREFIX_FROM = 8  # this many ids under one fan-out folder: list that folder

    def __init__(self, filesystem, path: str, name: str = "remote", local: bool = False,
                 read_only: bool = False, rename: bool = False) -> None:
        self.raw_fs = filesystem
        self.fs = filesystem if local else Retrying(filesystem, self)
        self.rename = rename  # upload to a temp name, then move it into place (SSH)
        self.retried = 0
        self._lock = threading.Lock()
        self.base = path.rstrip("/") or "/"
        self.root = f"{self.base.rstrip('/')}/{'/'.join(LAYOUT)}"
        self.name = name
        self.local = local
        self.read_only = read_only
        self.fsync = "batch"  # a local folder: core.fsync of the pushing repository (flush)
        self._dirty = False
        self._dirs: set[str] = set()

    def __repr__(self) -> str:
        return f"RemoteObjectStore({self.name!r})"

    def path(self, oid: str) -> str:
        return f"{self.root}/{oid[:2]}/{oid[2:]}"

    def with_retries(self, fn, *args, **kwargs):
        """``fn(*args, **kwargs)``, tried again after a transient failure (``is_transient``) with
        exponential backoff and jitter: at most ``RETRY_TRIES`` tries, none started later than
        ``RETRY_WITHIN`` s after the first. A failure that outlasts them is a ``RemoteError``
        naming this remote and the cause; any other failure is raised at once, as it is."""
        start = time.monotonic()
        for attempt in range(1, RETRY_TRIES + 1):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                delay = min(RETRY_CAP, RETRY_BASE * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                elapsed = time.monotonic() - start
                if attempt == RETRY_TRIES or elapsed + delay > RETRY_WITHIN:
                    raise RemoteError(f"remote {self.name!r} kept failing: {_describe(exc)} "
                                      f"({attempt} tries in {elapsed + 0.05:.1f} s)",
                                      "the server is overloaded or the network unstable: try again later; "
                                      "a rerun moves only what is still missing") from exc
                with self._lock:
                    self.retried += 1
                time.sleep(delay)

    # ------------------------------------------------------------ the contract

    def exists(self, oid: str) -> bool:
        if not is_valid_oid(oid):
            return False
        if self.local:
            return os.path.isfile(self.path(oid))
        return self.fs.exists(self.path(oid))

    def read_bytes(self, oid: str) -> bytes:
        try:
            return self.fs.cat_file(self.path(oid))
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"object {oid} is not on remote {self.name!r}") from None

    def _writable(self) -> None:
        if self.read_only:
            raise RemoteError(f"remote {self.name!r} is read-only (http)", "push to an s3, ssh or local remote")

    def _write_local(self, oid: str, fill) -> None:
        """Object ``oid`` in a local-folder remote: ``fill(fd)`` writes it into an unnamed file
        (O_TMPFILE) in its folder (a temp name where the file system has none) and returns
        ``(bytes written, bytes the object has)``; it gets the object's name only when the two
        agree, fsynced first with ``core.fsync always``, and replaces an object already there
        (a short upload that ``push --full`` sends again). Nothing of a failed write keeps a name."""
        folder = self._folder(oid)
        dest = self.path(oid)
        fd = fs.open_tmpfile(folder, OBJECT_MODE)
        if fd is not None:
            try:
                self._filled(oid, fd, fill)
                _publish(fd, folder, dest)
            finally:
                os.close(fd)
            self._dirty = True
            return
        tmp = fs.tmp_name(folder)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, OBJECT_MODE)
        try:
            try:
                self._filled(oid, fd, fill)
            finally:
                os.close(fd)
            os.replace(tmp, dest)
        except BaseException:
            _unlink(tmp)
            raise
        self._dirty = True

    def put_small_local(self, items: list[tuple[str, int]], source_of) -> int:
        """Objects of a local-folder remote from small files, with the fewest system calls and
        the least Python a file: ``items`` are ``(oid, size)``, the size as the tree records it
        (at most ``SMALL_COPY``), ``source_of(oid)`` the file to copy. Each is read whole in one
        ``read`` and written in one ``write`` to an unnamed file linked into place, as
        ``put_file`` does; a file of another size than recorded (or a file system without
        O_TMPFILE) goes through ``put_file``, which says what is wrong. Returns the bytes
        written. A failure is raised with ``partial`` set on it: how many of ``items`` are done."""
        self._writable()
        root, dirs, always = self.root, self._dirs, self.fsync == "always"
        done = nbytes = 0
        try:
            for oid, size in items:
                source = source_of(oid)
                folder = f"{root}/{oid[:2]}"
                if folder not in dirs:
                    self._folder(oid)
                fd = fs.open_tmpfile(folder, OBJECT_MODE)
                if fd is None:
                    self.put_file(oid, source, size=size)
                else:
                    try:
                        sfd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
                        try:
                            data = os.read(sfd, size + 1)  # a short read of a regular file is its end
                        finally:
                            os.close(sfd)
                        if len(data) == size:
                            n = os.write(fd, data)
                            if n != size:  # pragma: no cover - a short write (a disk about full)
                                fs.write_all(fd, memoryview(data)[n:])
                            if always:
                                os.fsync(fd)
                            _publish(fd, folder, f"{folder}/{oid[2:]}")
                            self._dirty = True
                        else:  # not the size recorded: the general way tells it
                            self.put_file(oid, source, size=size)
                    finally:
                        os.close(fd)
                done += 1
                nbytes += size
        except BaseException as exc:
            exc.partial = done
            raise
        return nbytes

    def _filled(self, oid: str, fd: int, fill) -> None:
        got, size = fill(fd)
        if got != size:
            raise ShortUploadError(self.name, oid, got, size)
        if self.fsync == "always":
            os.fsync(fd)

    def flush(self) -> None:
        """Make every object written to a local-folder remote so far durable: one ``syncfs`` of
        its file system (``core.fsync`` batch or always; nothing with never). A push calls it
        after the files and before the first tree, and again before it reports success."""
        if self._dirty and self.local and self.fsync != "never":
            fs.syncfs(self.root)
        self._dirty = False

    def _put(self, oid: str, data: bytes) -> None:
        self._writable()
        if self.local:
            self._write_local(oid, lambda fd: _write_data(fd, data))
            return
        if self.rename:
            self.with_retries(self._put_renamed, oid, lambda tmp, whole=False: self.raw_fs.pipe_file(tmp, data),
                              len(data))
            return
        self.fs.pipe_file(self.path(oid), data)

    def put_file(self, oid: str, source: str, on_bytes=None, size: int | None = None) -> None:
        """Upload the file ``source`` as object ``oid`` (an unnamed file linked into place on a
        local folder, a temp name then a rename over SSH, its size checked first; one PUT, or S3's
        multipart upload that completes at once, elsewhere: the server checks the length sent).
        ``on_bytes(n)`` is told of the bytes as they go (and of ``-n`` for those of a try that
        failed); a small local copy is told of none (the caller counts it whole). ``size``: the
        file's size as a tree records it, which spares a local copy a ``stat``."""
        self._writable()
        moved = Moved(on_bytes)
        if self.local:
            moved.tried(self._write_local, oid, lambda fd: _copy(source, fd, moved, size))
            return
        if self.rename:
            st = os.stat(source)
            write = lambda tmp, whole=False: self._sftp_put(source, tmp, st, whole, moved)  # noqa: E731
            self.with_retries(moved.tried, self._put_renamed, oid, write, st.st_size)
            return
        size = os.stat(source).st_size
        if size <= SMALL_OBJECT:
            with open(source, "rb") as f:
                data = f.read()
            self.with_retries(self.raw_fs.pipe_file, self.path(oid), data)
            moved(len(data))
            return
        self.with_retries(moved.tried, self.raw_fs.put_file, source, self.path(oid), **moved.callback())

    def _sftp_put(self, source: str, tmp: str, st: os.stat_result, whole: bool, moved=None) -> None:
        """``source`` to ``tmp`` over SFTP. asyncssh's put copies only the data of a sparse file
        (SEEK_DATA/SEEK_HOLE) and never extends the copy over a trailing hole, so a file that ends
        in a hole (or is all hole) arrived short, or as 0 bytes: such a file (fewer blocks than its
        size, or ``whole``) is streamed byte for byte instead."""
        moved = moved or Moved(None)
        moved.undo()  # a second try of the same upload counts from 0
        if not whole and st.st_blocks * 512 >= st.st_size:
            self.raw_fs.put_file(source, tmp, **moved.callback())
            return
        self.raw_fs.makedirs(tmp.rpartition("/")[0], exist_ok=True)
        with open(source, "rb") as src, self.raw_fs.open(tmp, "wb") as dst:
            while True:
                chunk = src.read(1024 * 1024)
                if not chunk:
                    break
                dst.write(chunk)
                moved(len(chunk))

    def _put_renamed(self, oid: str, write, size: int) -> None:
        """``write(tmp)`` to a temp name beside the object, its size on the remote checked (one
        info call: a short upload is sent again byte for byte, then refused), then moved into
        place (an SFTP posix-rename: atomic); the temp name goes on failure."""
        final = self.path(oid)
        tmp = f"{final.rpartition('/')[0]}/{fs.TMP_PREFIX}{os.urandom(8).hex()}"
        try:
            write(tmp)
            got = self.raw_fs.info(tmp).get("size")
            if got != size:
                write(tmp, whole=True)
                got = self.raw_fs.info(tmp).get("size")
                if got != size:
                    raise ShortUploadError(self.name, oid, got, size)
            self.raw_fs.mv(tmp, final)
        except BaseException:
            try:
                self.raw_fs.rm_file(tmp)
            except Exception:
                pass  # the connection is gone: the temp name stays, never taken for an object
            raise

    def _folder(self, oid: str) -> str:
        """The fan-out folder of ``oid`` in a local-folder remote, made once (the root with it)."""
        folder = f"{self.root}/{oid[:2]}"
        if folder not in self._dirs:
            if self.root not in self._dirs:
                os.makedirs(self.root, exist_ok=True)
                self._dirs.add(self.root)
            try:
                os.mkdir(folder)
            except FileExistsError:
                pass  # a file in the way fails where the object is made in it
            self._dirs.add(folder)
        return folder

    def iter_oids(self) -> Iterator[str]:
        for name in sorted(self._list(self.root, deep=True)):
            if is_valid_oid(name):
                yield name

    def _list(self, folder: str, deep: bool = False) -> set[str]:
        """The ids under ``folder`` (the whole root with ``deep``, else one fan-out folder)."""
        try:
            paths = self.fs.find(folder) if deep else self.fs.ls(folder, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return set()
        found = set()
        for p in paths:
            p = p.rstrip("/")
            prefix, _, rest = p.rpartition("/")
            found.add(prefix[-2:] + rest)
        return found

    def _list_detail(self, folder: str, deep: bool = False) -> dict[str, dict]:
        """id -> the listing's info (``size``, and a modification time) of every object under
        ``folder`` (the whole root with ``deep``, else one fan-out folder): the same requests as
        ``_list``, which every backend answers with sizes."""
        try:
            found = self.fs.find(folder, detail=True) if deep else \
                {i["name"]: i for i in self.fs.ls(folder, detail=True)}
        except (FileNotFoundError, NotADirectoryError):
            return {}
        infos = {}
        for path, info in found.items():
            prefix, _, rest = path.rstrip("/").rpartition("/")
            oid = prefix[-2:] + rest
            if is_valid_oid(oid) and info.get("type", "file") == "file":
                infos[oid] = info
        return infos

    def listing(self, oids=None) -> dict[str, tuple[int, float | None]]:
        """id -> ``(size, modified)`` (seconds since the epoch, None where the backend gives no
        time) of every object on the remote, or of those of ``oids`` that are there: asked only
        by listings (one of everything for many ids, one per fan-out folder for fewer), never one
        request per object."""
        if oids is None or len(oids) >= self.LIST_ALL_FROM:
            infos = self._list_detail(self.root, deep=True)
        else:
            infos = {}
            for prefix in sorted({o[:2] for o in oids}):
                infos.update(self._list_detail(f"{self.root}/{prefix}"))
        wanted = None if oids is None else set(oids)
        return {oid: (int(info.get("size") or 0), modified(info)) for oid, info in infos.items()
                if wanted is None or oid in wanted}

    def remove(self, oid: str) -> None:
        self._writable()
        try:
            self.fs.rm_file(self.path(oid))
        except FileNotFoundError:
            pass

    def missing(self, oids, sizes: dict[str, int] | None = None) -> list[str]:
        """The ids not on the remote, asked in bulk: one listing of everything for many ids, a
        listing per fan-out folder for several under it, a single check for the rest.

        With ``sizes`` (an object's size as its tree records it), an object the remote holds
        with another size is missing too: a short upload, or one that a crash left named before
        its bytes reached the disk. The listings give the sizes; a local folder is asked only of
        the objects in ``sizes`` that it holds (one ``stat`` each)."""
        oids = list(oids)
        if not oids:
            return []
        detail = sizes is not None and not self.local
        there: dict[str, int | None] = {}  # what the remote holds: id -> its size (None: not asked)

        def listed(folder: str, deep: bool = False) -> None:
            if detail:
                there.update((o, int(i.get("size") or 0)) for o, i in self._list_detail(folder, deep).items())
            else:
                there.update(dict.fromkeys(self._list(folder, deep)))

        def single(oid: str) -> None:
            if detail:
                try:
                    there[oid] = int(self.fs.info(self.path(oid)).get("size") or 0)
                except FileNotFoundError:
                    pass
            elif self.exists(oid):
                there[oid] = None

        if len(oids) >= self.LIST_ALL_FROM:
            listed(self.root, deep=True)
        else:
            by_prefix: dict[str, list[str]] = {}
            for oid in oids:
                by_prefix.setdefault(oid[:2], []).append(oid)
            singles: list[str] = []
            for prefix, group in by_prefix.items():
                if len(group) >= self.LIST_PREFIX_FROM:
                    listed(f"{self.root}/{prefix}")
                else:
                    singles.extend(group)
            if self.local or len(singles) < 4:
                for o in singles:
                    single(o)
            else:  # the requests wait on the network: many in flight, not one after the other
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=min(16, len(singles))) as pool:
                    list(pool.map(single, singles))
        if sizes is None:
            return [o for o in oids if o not in there]
        return [o for o in oids if o not in there or (o in sizes and self._size_there(o, there[o]) != sizes[o])]

    def _size_there(self, oid: str, listed: int | None) -> int | None:
        """The size of ``oid`` on the remote: as listed, else (a local folder) its ``stat``."""
        if listed is not None or not self.local:
            return listed
        try:
            return os.stat(self.path(oid)).st_size
        except FileNotFoundError:
            return -1  # gone since the listing: missing

    # ------------------------------------------------------------ into a local cache

    def get_into(self, oid: str, cache, on_bytes=None, size: int | None = None) -> int:
        """Download object ``oid`` into the ``LocalObjectStore`` ``cache``, hashed while it is
        written; published only when the content matches the id (else the temp file goes and
        ``CorruptObjectError`` names the object and this remote). Returns the bytes moved;
        ``on_bytes(n)`` is told of them as they come (``-n`` for those of a try that failed).
        ``size`` (as a tree lists it): a small object is read in one request (``cat_file``)."""
        moved = Moved(on_bytes)
        small = size is not None and 0 < size <= SMALL_OBJECT
        if self.local:
            if small:
                return moved.tried(self._get_small, oid, cache, moved, size)
            return moved.tried(self._get_into, oid, cache, moved)
        if small:
            return self.with_retries(moved.tried, self._get_small, oid, cache, moved, size)
        return self.with_retries(moved.tried, self._get_into, oid, cache, moved)

    def get_small_local(self, items: list[tuple[str, int]], cache) -> int:
        """Small objects of a local-folder remote into the ``LocalObjectStore`` ``cache``, with
        the least Python an object: ``items`` are ``(oid, size)``, the size as the tree records
        it (up to ``SMALL_OBJECT``). Each is read in one ``read`` of one byte more than that
        (an object that is longer is refused, never all read) and enters the cache only when it
        hashes to its id, as ``get_into`` does. Returns the bytes moved. A failure is raised
        with ``partial`` set on it: how many of ``items`` are done."""
        root = self.root
        done = nbytes = 0
        try:
            for oid, size in items:
                fd = os.open(f"{root}/{oid[:2]}/{oid[2:]}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    data = os.read(fd, size + 1)  # a short read of a regular file is its end
                finally:
                    os.close(fd)
                self._check(oid, hash_bytes(data))
                cache._put(oid, data)
                done += 1
                nbytes += len(data)
        except BaseException as exc:
            exc.partial = done
            raise
        return nbytes

    def _get_small(self, oid: str, cache, moved, size: int) -> int:
        # one byte more than the tree says: an object that is longer is refused, never all read
        data = self.raw_fs.cat_file(self.path(oid), start=0, end=size + 1)
        self._check(oid, hash_bytes(data))
        cache._put(oid, data)  # a temp file (O_TMPFILE where it can) published under its id
        moved(len(data))
        return len(data)

    def _check(self, oid: str, digest: str) -> None:
        if digest != oid[:OID_HEX_LEN]:
            raise CorruptObjectError(f"object {oid} on remote {self.name!r} is corrupted (its content does not "
                                     "match its id); it was not put in the cache",
                                     f"delete {self.path(oid)} on the remote, then run `mlvc push --full` on a "
                                     "machine whose cache has it intact")

    def _get_into(self, oid: str, cache, moved=None) -> int:
        import xxhash

        folder = cache.folder(oid)
        tmp = fs.tmp_name(folder)
        h = xxhash.xxh3_128()
        size = 0
        try:
            with self.raw_fs.open(self.path(oid), "rb") as src, open(tmp, "xb") as dst:
                while True:
                    chunk = src.read(1024 * 1024)
                    if not chunk:
                        break
                    h.update(chunk)
                    dst.write(chunk)
                    size += len(chunk)
                    if moved is not None:
                        moved(len(chunk))
            self._check(oid, h.hexdigest())
            cache.publish_tmp(tmp, oid)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return size


def modified(info: dict) -> float | None:
    """The modification time in a backend's listing info, in seconds since the epoch: ``mtime``
    (local, SSH), ``LastModified`` (S3), ``last_modified`` (Azure), ``updated`` (GCS)."""
    import datetime

    for key in ("mtime", "LastModified", "last_modified", "updated", "modified", "time"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
        if isinstance(value, datetime.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=datetime.timezone.utc)
            return value.timestamp()
    return None


def _publish(fd: int, folder: str, dest: str) -> None:
    """The unnamed file ``fd`` (in ``folder``) named ``dest``, replacing an object already there
    (a short upload that ``push --full`` sends again)."""
    if fs.publish_tmpfile(fd, dest):
        return
    tmp = fs.tmp_name(folder)
    fs.publish_tmpfile(fd, tmp)
    try:
        os.replace(tmp, dest)
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_data(fd: int, data: bytes) -> tuple[int, int]:
    fs.write_all(fd, data)
    return len(data), len(data)


def _copy(source: str, dfd: int, moved=None, size: int | None = None) -> tuple[int, int]:
    """``source`` into the open file ``dfd``: ``(bytes copied, bytes source has)``, the second
    asked of the file (``fstat``) only where the copy is not ``size``, the size the caller
    expects. A file up to ``SMALL_COPY`` bytes in one read and one write; a larger one inside
    the kernel (copy_file_range) in 1 MiB steps, each told to ``moved``, with read and write
    where the file systems cannot."""
    from mlvc.fs.links import is_unsupported

    sfd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        total = 0
        if size is not None and size <= SMALL_COPY:
            data = os.read(sfd, size + 1)  # a short read of a regular file is its end
            fs.write_all(dfd, data)
            total = len(data)
            if total <= size:
                return total, total if total == size else os.fstat(sfd).st_size
        kernel = hasattr(os, "copy_file_range")
        while True:
            if kernel:
                try:
                    n = os.copy_file_range(sfd, dfd, COPY_STEP)
                except OSError as exc:
                    if not is_unsupported(exc):
                        raise
                    kernel = False
                    continue
            else:
                chunk = os.read(sfd, COPY_STEP)
                n = len(chunk)
                fs.write_all(dfd, chunk)
            if not n:
                break
            total += n
            if moved is not None:
                moved(n)
        return total, total if total == size else os.fstat(sfd).st_size
    finally:
        os.close(sfd)


class Moved:
    """The bytes of one transfer, told to ``on_bytes`` as they move; ``tried(fn, ...)`` takes
    back what a failed try had told, so a retried upload is not counted twice."""

    def __init__(self, on_bytes) -> None:
        self.on_bytes = on_bytes
        self.told = 0

    def __call__(self, n: int) -> None:
        if self.on_bytes is not None and n:
            self.told += n
            self.on_bytes(n)

    def undo(self) -> None:
        if self.told:
            self.on_bytes(-self.told)
            self.told = 0

    def tried(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BaseException:
            self.undo()
            raise

    def callback(self) -> dict:
        """``callback=`` for an fsspec transfer (``{}`` when nobody listens)."""
        if self.on_bytes is None:
            return {}
        from fsspec.callbacks import Callback

        moved = self

        class Told(Callback):
            def call(self, *args, **kwargs):
                seen = int(self.value or 0)
                moved(seen - self.__dict__.get("mlvc_seen", 0))
                self.__dict__["mlvc_seen"] = seen

        return {"callback": Told()}


class LocalFolder:
    """The few fsspec calls the store makes, for a local folder, with plain os calls."""

    def exists(self, path: str) -> bool:
        return os.path.isfile(path)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None) -> bytes:
        """The bytes of ``path`` from ``start`` up to ``end``: a small range in one read (a
        short read of a regular file is its end)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if start:
                os.lseek(fd, start, os.SEEK_SET)
            want = None if end is None else max(0, end - (start or 0))
            if want is not None and want <= SMALL_OBJECT + 1:
                return os.read(fd, want)
            parts = []
            while want is None or want > 0:
                chunk = os.read(fd, COPY_STEP if want is None else min(want, COPY_STEP))
                if not chunk:
                    break
                parts.append(chunk)
                if want is not None:
                    want -= len(chunk)
            return b"".join(parts)
        finally:
            os.close(fd)

    def open(self, path: str, mode: str = "rb"):
        return open(path, mode)

    def ls(self, path: str, detail: bool = False) -> list:
        names = [f"{path}/{n}" for n in os.listdir(path) if not n.startswith(fs.TMP_PREFIX)]
        return [_info(p) for p in names] if detail else names

    def find(self, path: str, detail: bool = False):
        found = []
        for prefix in _listdir(path):
            if len(prefix) == 2:
                found.extend(f"{path}/{prefix}/{n}" for n in _listdir(os.path.join(path, prefix))
                             if not n.startswith(fs.TMP_PREFIX))
        return {p: _info(p) for p in found} if detail else found

    def rm_file(self, path: str) -> None:
        os.unlink(path)


def _info(path: str) -> dict:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"name": path, "size": 0, "type": "gone"}
    return {"name": path, "size": st.st_size, "mtime": st.st_mtime, "type": "file"}


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
