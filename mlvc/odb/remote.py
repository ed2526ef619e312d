"""Remotes: an ``ObjectStore`` over an fsspec file system, with the cache's layout.

Layout (the same as the cache, format 2): ``<url>/files/xxh3/<first 2 hex>/<other 30 hex>[.tree]``,
so a remote written by one version of mlvc is read by the next.

URLs: a local path or ``file://``, ``s3://bucket/prefix``, ``gs://bucket/prefix``,
``az://container/prefix``, ``ssh://[user@]host[:port]/path`` and ``http(s)://`` (read-only).
The backend (s3fs, gcsfs, adlfs, sshfs, aiohttp) is an extra of mlvc; fsspec and the
backend are imported only when a remote is opened, never by the modules that parse a URL.

Writes: to a local folder or over SSH, a temp name in the object's folder then a rename
(atomic: an interrupted upload leaves a temp name, never a partial object under its id);
elsewhere one PUT (atomic on S3). Reads into the cache are hashed while they are written
and published only when the id matches (``get_into``).

Retries: a transient failure (a timeout, a dropped or reset connection, a 5xx answer, S3's
503 SlowDown and other throttling) is retried with exponential backoff and jitter, at most
``RETRY_TRIES`` tries within ``RETRY_WITHIN`` seconds; anything else (403, a missing bucket or
object, refused credentials, a refused connection) fails at once. The backend's own retries
are turned off where it has them (botocore, s3fs), so this is the one policy for every remote.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import urlsplit

from mlvc import fs
from mlvc.errors import ConfigError, CorruptObjectError, MlvcError
from mlvc.objects.hashing import OID_HEX_LEN, is_valid_oid
from mlvc.odb.base import ObjectStore

LAYOUT = ("files", "xxh3")
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")

# scheme -> (fsspec protocol, the module the backend needs, the extra that installs it)
SCHEMES: dict[str, tuple[str, str, str]] = {
    "local": ("file", "", ""),  # plain os calls: a local folder needs no extra
    "s3": ("s3", "s3fs", "s3"),
    "gs": ("gs", "gcsfs", "gs"),
    "az": ("az", "adlfs", "azure"),
    "ssh": ("ssh", "sshfs", "ssh"),
    "http": ("http", "aiohttp", "http"),
    "https": ("https", "aiohttp", "http"),
}
# options of each scheme (backend names where one exists) -> the keyword the backend takes
OPTIONS: dict[str, dict[str, str]] = {
    "local": {},
    "s3": {"endpointurl": "endpoint_url", "region": "region", "profile": "profile",
           "access_key_id": "key", "secret_access_key": "secret", "session_token": "token"},
    "gs": {"projectname": "project", "credentialpath": "token"},
    "az": {"account_name": "account_name", "account_key": "account_key",
           "connection_string": "connection_string", "sas_token": "sas_token"},
    "ssh": {"user": "username", "port": "port", "keyfile": "client_keys", "password": "password"},
    "http": {},
    "https": {},
}
READ_ONLY = {"http", "https"}

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


class RemoteError(MlvcError):
    """A remote that cannot be used: not reachable, credentials refused, bucket missing ..."""


@dataclass(frozen=True)
class RemoteSpec:
    """One configured remote: its ``name``, ``url`` and backend ``options`` (secrets included:
    never shown; ``__repr__`` leaves the options out)."""

    name: str
    url: str
    options: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def scheme(self) -> str:
        return scheme_of(self.url)


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ConfigError(f"invalid remote name {name!r}",
                          "use letters, digits, '-' and '_' (at most 64)")
    return name


def scheme_of(url: str) -> str:
    """``local``, ``s3``, ``gs``, ``az``, ``ssh``, ``http`` or ``https``; ConfigError otherwise."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    if not m:
        return "local"
    scheme = m.group(1).lower()
    if scheme == "file":
        return "local"
    if scheme in ("gcs",):
        return "gs"
    if scheme in ("azure",):
        return "az"
    if scheme not in SCHEMES:
        raise ConfigError(f"unsupported remote URL scheme {scheme}://",
                          "use a local path, file://, s3://, gs://, az://, ssh:// or http(s)://")
    return scheme


def check_url(url: str) -> str:
    """Check a remote URL's form (no network): return its scheme."""
    if not url.strip() or "\0" in url or "\n" in url or "\r" in url:
        raise ConfigError("a remote URL cannot be empty or hold a NUL or a line break")
    scheme = scheme_of(url)
    if scheme == "local":
        return scheme
    parts = urlsplit(url)
    if scheme in ("s3", "gs", "az"):
        if not parts.netloc:
            what = "container" if scheme == "az" else "bucket"
            raise ConfigError(f"the remote URL {url!r} names no {what}", f"write it {scheme}://{what}/prefix")
    elif scheme == "ssh":
        if not parts.hostname:
            raise ConfigError(f"the remote URL {url!r} names no host", "write it ssh://user@host/path")
        try:
            parts.port
        except ValueError:
            raise ConfigError(f"the remote URL {url!r} has a bad port", "write it ssh://user@host:22/path") from None
    elif not parts.netloc:
        raise ConfigError(f"the remote URL {url!r} names no host", "write it https://host/path")
    if parts.password:
        raise ConfigError("a remote URL cannot hold a password",
                          "set it with `mlvc remote modify NAME password VALUE` (kept in .mlvc/config.local)")
    return scheme


def check_option(scheme: str, option: str, value: str | None = None) -> None:
    """Refuse an option this kind of remote does not take (never quoting the value)."""
    known = OPTIONS[scheme]
    if option not in known:
        names = ", ".join(sorted(known)) or "none"
        raise ConfigError(f"{scheme if scheme != 'local' else 'a local folder'} remotes take no option {option!r}",
                          f"options: url, {names}" if known else "a local folder remote takes only url")
    if value is None:
        return
    if option == "port" and not value.isdigit():
        raise ConfigError("port must be a number")
    if option == "endpointurl" and not re.match(r"https?://[^/]", value):
        raise ConfigError("endpointurl must be an http:// or https:// URL", "e.g. http://127.0.0.1:9000")


def missing_extra(scheme: str) -> str | None:
    """The pip command that installs what ``scheme`` needs, or None when it is there
    (looked up without importing anything)."""
    _, module, extra = SCHEMES[scheme]
    if not module:
        return None
    for mod in (module, "fsspec"):
        if importlib.util.find_spec(mod) is None:
            return f"pip install 'mlvc[{extra}]'"
    return None


def open_remote(spec: RemoteSpec, base: str) -> "RemoteObjectStore":
    """The store of ``spec``; ``base`` is the folder a relative local path is relative to."""
    scheme = check_url(spec.url)
    pip = missing_extra(scheme)
    if pip:
        raise RemoteError(f"remote {spec.name!r} ({scheme}) needs {SCHEMES[scheme][1]}, which is not installed",
                          f"run `{pip}`")
    protocol = SCHEMES[scheme][0]
    kwargs: dict = {}
    if scheme == "local":
        path = spec.url[len("file://"):] if spec.url.startswith("file://") else spec.url
        path = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
        return RemoteObjectStore(LocalFolder(), path, spec.name, local=True)
    import fsspec

    parts = urlsplit(spec.url)
    path = (parts.netloc + parts.path).rstrip("/") if scheme not in ("ssh", "http", "https") else parts.path
    if scheme in ("http", "https"):
        path = spec.url.rstrip("/")
    if scheme == "ssh":
        kwargs["host"] = parts.hostname
        if parts.username:
            kwargs["username"] = parts.username
        if parts.port:
            kwargs["port"] = parts.port
    for option, value in spec.options.items():
        if option == "url" or option not in OPTIONS[scheme]:
            continue
        kwargs.update(_backend_kwarg(scheme, option, value))
    if scheme == "s3":
        kwargs.setdefault("use_listings_cache", False)
        # one retry policy for every remote (``with_retries``): s3fs and botocore try once
        kwargs["config_kwargs"] = {"retries": {"total_max_attempts": 1}}
    try:
        filesystem = fsspec.filesystem(protocol, skip_instance_cache=True, **kwargs)
    except Exception as exc:  # a backend refusing its options: never quote them (secrets)
        raise RemoteError(f"cannot open remote {spec.name!r}: {type(exc).__name__}") from None
    if scheme == "s3":
        filesystem.retries = 1  # s3fs's own retry loop: one try
    return RemoteObjectStore(filesystem, path, spec.name, read_only=scheme in READ_ONLY,
                             rename=scheme == "ssh")


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
        status = getattr(e, "status", None)  # aiohttp's ClientResponseError (http, gcsfs, adlfs)
        if isinstance(status, int) and 100 <= status < 600:
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


def _backend_kwarg(scheme: str, option: str, value: str) -> dict:
    name = OPTIONS[scheme][option]
    if scheme == "s3" and name == "region":
        return {"client_kwargs": {"region_name": value}}
    if name == "port":
        return {name: int(value)}
    if name == "client_keys":
        return {name: [os.path.expanduser(value)]}
    return {name: value}


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

    def _write_local(self, oid: str, write) -> None:
        """Object ``oid`` in a local-folder remote: ``write(tmp)`` fills a temp name in its
        folder, which is then renamed into place (removed if anything fails)."""
        tmp = fs.tmp_name(self._folder(oid))
        try:
            write(tmp)
            os.replace(tmp, self.path(oid))
        except BaseException:
            _unlink(tmp)
            raise

    def _put(self, oid: str, data: bytes) -> None:
        self._writable()
        if self.local:
            self._write_local(oid, lambda tmp: _write_new(tmp, data))
            return
        if self.rename:
            self.with_retries(self._put_renamed, oid, lambda tmp: self.raw_fs.pipe_file(tmp, data))
            return
        self.fs.pipe_file(self.path(oid), data)

    def put_file(self, oid: str, source: str) -> None:
        """Upload the file ``source`` as object ``oid`` (a temp name then a rename on a local
        folder; one PUT, or S3's multipart upload that completes at once, elsewhere)."""
        self._writable()
        if self.local:
            self._write_local(oid, lambda tmp: _copy(source, tmp))
            return
        if self.rename:
            self.with_retries(self._put_renamed, oid, lambda tmp: self.raw_fs.put_file(source, tmp))
            return
        self.fs.put_file(source, self.path(oid))

    def _put_renamed(self, oid: str, write) -> None:
        """``write(tmp)`` to a temp name beside the object, then move it into place (an SFTP
        posix-rename: atomic); the temp name goes on failure."""
        final = self.path(oid)
        tmp = f"{final.rpartition('/')[0]}/{fs.TMP_PREFIX}{os.urandom(8).hex()}"
        try:
            write(tmp)
            self.raw_fs.mv(tmp, final)
        except BaseException:
            try:
                self.raw_fs.rm_file(tmp)
            except Exception:
                pass  # the connection is gone: the temp name stays, never taken for an object
            raise

    def _folder(self, oid: str) -> str:
        folder = f"{self.root}/{oid[:2]}"
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
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

    def remove(self, oid: str) -> None:
        self._writable()
        try:
            self.fs.rm_file(self.path(oid))
        except FileNotFoundError:
            pass

    def missing(self, oids) -> list[str]:
        """The ids not on the remote, asked in bulk: one listing of everything for many ids, a
        listing per fan-out folder for several under it, a single check for the rest."""
        oids = list(oids)
        if not oids:
            return []
        if len(oids) >= self.LIST_ALL_FROM:
            have = self._list(self.root, deep=True)
            return [o for o in oids if o not in have]
        by_prefix: dict[str, list[str]] = {}
        for oid in oids:
            by_prefix.setdefault(oid[:2], []).append(oid)
        absent: set[str] = set()
        for prefix, group in by_prefix.items():
            if len(group) >= self.LIST_PREFIX_FROM:
                have = self._list(f"{self.root}/{prefix}")
                absent.update(o for o in group if o not in have)
            else:
                absent.update(o for o in group if not self.exists(o))
        return [o for o in oids if o in absent]

    # ------------------------------------------------------------ into a local cache

    def get_into(self, oid: str, cache) -> int:
        """Download object ``oid`` into the ``LocalObjectStore`` ``cache``, hashed while it is
        written; published only when the content matches the id (else the temp file goes and
        ``CorruptObjectError`` names the object and this remote). Returns the bytes moved."""
        if self.local:
            return self._get_into(oid, cache)
        return self.with_retries(self._get_into, oid, cache)

    def _get_into(self, oid: str, cache) -> int:
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
            if h.hexdigest() != oid[:OID_HEX_LEN]:
                raise CorruptObjectError(f"object {oid} on remote {self.name!r} is corrupted (its content does not "
                                         "match its id); it was not put in the cache",
                                         "push it again from a clone that has it intact")
            cache.publish_tmp(tmp, oid)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return size


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _copy(source: str, dest: str) -> None:
    import shutil

    with open(source, "rb") as src, open(dest, "xb") as dst:
        shutil.copyfileobj(src, dst, 1024 * 1024)


class LocalFolder:
    """The few fsspec calls the store makes, for a local folder, with plain os calls."""

    def exists(self, path: str) -> bool:
        return os.path.isfile(path)

    def cat_file(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def open(self, path: str, mode: str = "rb"):
        return open(path, mode)

    def ls(self, path: str, detail: bool = False) -> list[str]:
        return [f"{path}/{n}" for n in os.listdir(path) if not n.startswith(fs.TMP_PREFIX)]

    def find(self, path: str) -> list[str]:
        found = []
        for prefix in _listdir(path):
            if len(prefix) == 2:
                found.extend(f"{path}/{prefix}/{n}" for n in _listdir(os.path.join(path, prefix))
                             if not n.startswith(fs.TMP_PREFIX))
        return found

    def rm_file(self, path: str) -> None:
        os.unlink(path)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _write_new(path: str, data: bytes) -> None:
    with open(path, "xb") as f:
        f.write(data)
