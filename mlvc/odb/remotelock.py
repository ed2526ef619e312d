"""Advisory markers on a remote, so that ``gc --remote`` and pushes from other clones never meet.

A remote has no lock of its own and is shared by every clone, so the rule is kept with small
objects under ``<url>/locks/`` (beside ``files/``), written with the store's file system:

- a push writes ``locks/push-<random>`` (``{"state": "running", "roots": [...]}``) before it
  looks at the remote, then checks for ``locks/gc``: a gc that is running makes it stop (its
  marker removed) before anything is sent. When it is done the marker is rewritten as
  ``"done"`` and stays: for the grace period, gc keeps everything reachable from its roots
  (a push skips an object the remote already holds, however old, so a pushed mlvc.lock that
  this clone's git has not seen yet may name objects gc would otherwise take for garbage). A
  push that fails removes its marker (what it sent is young, kept by the grace period).
- a gc that removes writes ``locks/gc``, then lists ``locks/``: a running push marker younger
  than ``STALE`` stops it before anything is removed. The marker is removed when gc ends.

Either writes its own marker before it reads the other's, so with a store that reads what was
written (S3, a folder, SFTP) at least one of them sees the other. Ages are taken from the
remote's own clock: the modification time of the gc marker just written is "now".
"""

from __future__ import annotations

import json
import os
import socket
import time

from mlvc.odb.backends import RemoteError

LOCKS = "locks"
GC = "gc"
PUSH_PREFIX = "push-"
STALE = 6 * 3600  # a running marker older than this is taken for a process that died
MAX_MARKER_BYTES = 16 * 1024 * 1024


class Markers:
    """The ``locks/`` folder of a ``RemoteObjectStore``."""

    def __init__(self, store) -> None:
        self.store = store
        self.root = f"{store.base.rstrip('/')}/{LOCKS}"

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def write(self, name: str, data: bytes) -> None:
        path = self.path(name)
        if self.store.local:
            from mlvc import fs

            os.makedirs(self.root, exist_ok=True)
            fs.atomic_write(path, data, fsync=False, tmp_dir=self.root)
            return
        self.store.fs.pipe_file(path, data)

    def remove(self, name: str) -> None:
        try:
            if self.store.local:
                os.unlink(self.path(name))
            else:
                self.store.fs.rm_file(self.path(name))
        except FileNotFoundError:
            pass

    def read(self, name: str) -> dict | None:
        try:
            if self.store.local:
                with open(self.path(name), "rb") as f:
                    data = f.read(MAX_MARKER_BYTES + 1)
            else:
                data = self.store.fs.cat_file(self.path(name))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        try:
            value = json.loads(data) if len(data) <= MAX_MARKER_BYTES else None
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def ages(self) -> dict[str, float | None]:
        """name -> modification time (seconds since the epoch, the remote's clock) of each marker."""
        from mlvc.odb.remote import modified

        if self.store.local:
            found = {}
            try:
                entries = list(os.scandir(self.root))
            except (FileNotFoundError, NotADirectoryError):
                return {}
            for e in entries:
                if e.is_file(follow_symlinks=False) and not e.name.startswith("."):
                    found[e.name] = e.stat(follow_symlinks=False).st_mtime
            return found
        try:
            infos = self.store.fs.ls(self.root, detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return {}
        return {i["name"].rstrip("/").rpartition("/")[2]: modified(i) for i in infos
                if i.get("type", "file") == "file"}


def _who() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


class PushMarker:
    """A push's marker: ``start`` before the push looks at the remote, ``done`` or ``failed`` after."""

    def __init__(self, store, roots: list[str]) -> None:
        self.markers = Markers(store)
        self.name = f"{PUSH_PREFIX}{int(time.time())}-{os.urandom(6).hex()}"
        self.roots = sorted(set(roots))

    def _data(self, state: str) -> bytes:
        return json.dumps({"state": state, "roots": self.roots, "by": _who(), "time": time.time()}).encode()

    def start(self) -> "PushMarker":
        m = self.markers
        m.write(self.name, self._data("running"))
        try:
            ages = m.ages()
            gc_age = ages.get(GC)
            if gc_age is not None:
                now = ages.get(self.name) or time.time()
                if now - gc_age < STALE:
                    who = (m.read(GC) or {}).get("by", "another clone")
                    raise RemoteError(f"remote {m.store.name!r} is being garbage-collected ({who}, "
                                      f"{_ago(now - gc_age)}); nothing was pushed",
                                      "push again when that `mlvc gc --remote` is done (if none is running, "
                                      f"remove {m.path(GC)})")
        except BaseException:
            self.failed()
            raise
        return self

    def done(self) -> None:
        self.markers.write(self.name, self._data("done"))

    def failed(self) -> None:
        try:
            self.markers.remove(self.name)
        except Exception:
            pass  # the remote is gone: the marker stays, taken for a dead push after STALE


class GcMarker:
    """gc's marker: ``start`` before gc reads the remote, ``release`` when it ends."""

    def __init__(self, store) -> None:
        self.markers = Markers(store)
        self.now = time.time()

    def start(self) -> "GcMarker":
        m = self.markers
        m.write(GC, json.dumps({"by": _who(), "time": time.time()}).encode())
        try:
            ages = m.ages()
            self.now = ages.get(GC) or time.time()
            running = []
            for name, age in ages.items():
                if not name.startswith(PUSH_PREFIX) or age is None or self.now - age >= STALE:
                    continue  # an older one is read no more (a push that died, or done long ago)
                record = m.read(name) or {}
                if record.get("state") == "running":
                    running.append((age, record.get("by", "another clone")))
            if running:
                age, who = min(running)
                raise RemoteError(f"a push to remote {m.store.name!r} is running ({who}, started "
                                  f"{_ago(self.now - age)}); nothing was removed",
                                  "run gc again when it is done (a push that died counts as done after "
                                  f"{STALE // 3600} hours, or remove its marker under {m.root})")
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        try:
            self.markers.remove(GC)
        except Exception:
            pass


def recent_pushes(store, now: float, grace: float) -> tuple[set[str], list[str]]:
    """``(roots, expired)``: the roots of the pushes done within ``grace`` seconds of ``now``
    (kept by gc), and the names of the markers older than that or than ``STALE`` (removable)."""
    m = Markers(store)
    roots: set[str] = set()
    expired: list[str] = []
    from mlvc.objects.hashing import is_valid_oid

    for name, age in m.ages().items():
        if not name.startswith(PUSH_PREFIX):
            continue
        age = now if age is None else age
        record = m.read(name) or {}
        state = record.get("state")
        if state == "done" and now - age < grace:
            found = record.get("roots")
            if isinstance(found, list):
                roots.update(o for o in found if isinstance(o, str) and is_valid_oid(o))
        elif now - age >= max(grace, STALE if state == "running" else 0):
            expired.append(name)
    return roots, expired


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"
