"""The stat cache: (inode, mtime and ctime in ns, size) of a workspace file -> its object id.

The ctime is part of the key, as in git's index, so that an edit whose mtime
was put back (``cp -p``, ``rsync -t``, ``tar x``) is still seen.

A sqlite database in ``.mlvc/tmp/`` (never tracked). Paths are stored
relative to the repository root. It is only a cache, never required: a damaged
database is deleted and rebuilt; one that cannot be opened or written (a full
disk, a read-only ``.mlvc/tmp``, an I/O error) switches the stat cache off for
the rest of the command, with one warning in ``warnings`` for the verb to pass
on (files are then hashed instead of trusted). Neither is ever fatal.
"""

from __future__ import annotations

import os
import sqlite3
import time
from itertools import islice
from typing import Iterable, Iterator

from mlvc.fs.atomic import RACY_NS  # rows this close to the moment they are saved are not kept

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    oid TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dirs (
    path TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    oid TEXT NOT NULL,
    cache_sig TEXT              -- the cache's signature when all the tree's objects were seen in it
) WITHOUT ROWID;
"""
_VERSION = "3"

Row = tuple[str, int, int, int, int, str]  # path, inode, mtime_ns, ctime_ns, size, oid


class StateNoop:
    """The stat cache turned off: nothing is remembered."""

    def load(self, prefix: str = "") -> dict[str, tuple[int, int, int, int, str]]:
        return {}

    def rows(self, prefix: str) -> Iterator[Row]:
        yield from ()  # a generator, as State's: callers close() it

    def save(self, rows: Iterable[Row]) -> None:
        pass

    def forget(self, prefix: str) -> None:
        pass

    def get_dir(self, path: str) -> tuple[str, str, str | None] | None:
        return None

    def save_dir(self, path: str, fingerprint: str, oid: str, cache_sig: str | None = None) -> None:
        pass

    def set_cache_sig(self, paths: list[str], cache_sig: str) -> None:
        pass

    def take_warnings(self) -> list[str]:
        """Warnings for the user since the last call (why the stat cache was switched off)."""
        return []

    def close(self) -> None:
        pass


class State(StateNoop):
    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self._conn: sqlite3.Connection | None = None
        self.off = False  # switched off after an error it cannot get past: acts as StateNoop
        self.warnings: list[str] = []  # for the user, once: why the stat cache was switched off

    def _switch_off(self, exc: BaseException) -> None:
        """Stop using the database for the rest of this command (a full disk, a read-only or
        missing folder, an I/O error): everything it would vouch for is hashed instead."""
        self._close_quietly()
        if not self.off:
            self.off = True
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.warnings.append(f"the stat cache {self.db_path} cannot be used ({reason}); carrying on "
                                 "without it (files are hashed instead of trusted; nothing else changes)")

    def take_warnings(self) -> list[str]:
        out, self.warnings = self.warnings, []
        return out

    def _close_quietly(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(self.db_path), exist_ok=True)
        for attempt in range(2):
            conn = None
            try:
                conn = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                # Never synced: it is a cache, rebuilt when damaged, and a lost row only means a
                # file is hashed again. A sync here would also wait, through the ext4 journal, for
                # the data a checkout just wrote (a second for 1 GiB).
                conn.execute("PRAGMA synchronous=OFF")
                conn.executescript(_SCHEMA)
                row = conn.execute("SELECT value FROM meta WHERE key='version'").fetchone()
                if row is None:
                    conn.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (_VERSION,))
                elif row[0] != _VERSION:
                    raise sqlite3.DatabaseError("unknown state version")
                conn.execute("SELECT count(*) FROM files LIMIT 1").fetchone()
                return conn
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                if isinstance(exc, sqlite3.OperationalError):  # cannot open, read-only, full, I/O: not damage
                    raise
                if attempt:  # damaged, or of another version: rebuilt once
                    raise
                self._destroy()
        raise AssertionError("unreachable")  # pragma: no cover

    def _destroy(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(self.db_path + suffix)
            except FileNotFoundError:
                pass

    def _guard(self, fn, *args, default=None):
        """``fn(*args)``; a damaged database is rebuilt and ``fn`` tried again; any error it cannot
        get past switches the stat cache off (``default`` is then returned)."""
        if self.off:
            return default
        try:
            try:
                return fn(*args)
            except sqlite3.OperationalError:
                raise
            except sqlite3.DatabaseError:
                # Damaged on disk (or by another program): start again, cold.
                self._close_quietly()
                self._destroy()
                return fn(*args)
        except (sqlite3.Error, OSError) as exc:
            self._switch_off(exc)
            return default

    def load(self, prefix: str = "") -> dict[str, tuple[int, int, int, int, str]]:
        """Every entry whose path is ``prefix`` or lies below it ('' for all)."""
        return self._guard(self._load, prefix, default={})

    def rows(self, prefix: str) -> Iterator[Row]:
        """The rows of ``prefix`` and everything below it, sorted by path (the scan's order),
        read as they are used. Read through a connection of their own, which sees the
        database as it was when reading began, so rows may be saved meanwhile."""
        if self._guard(lambda: self.conn) is None:  # opened (and rebuilt if damaged) before a second reads it
            return
        try:
            reader = sqlite3.connect(self.db_path, timeout=10, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            # One range of the primary key, read in its order (no sort): it holds the prefix,
            # everything below it, and names such as 'prefix.x' that the caller passes over.
            cur = reader.execute(
                "SELECT path, inode, mtime_ns, ctime_ns, size, oid FROM files WHERE path >= ? AND path < ? "
                "ORDER BY path", (prefix, prefix + "0"))
            while True:
                batch = cur.fetchmany(4096)
                if not batch:
                    return
                yield from batch
        except sqlite3.Error:
            return  # damaged or unreadable: nothing is vouched for, every file is hashed
        finally:
            reader.close()

    def _load(self, prefix: str) -> dict[str, tuple[int, int, int, int, str]]:
        if not prefix:
            cur = self.conn.execute("SELECT path, inode, mtime_ns, ctime_ns, size, oid FROM files")
        else:
            # '/' + 1 == '0': the range [prefix/, prefix0) holds everything below prefix.
            cur = self.conn.execute(
                "SELECT path, inode, mtime_ns, ctime_ns, size, oid FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                (prefix, prefix + "/", prefix + "0"),
            )
        return {r[0]: r[1:] for r in cur}

    def save(self, rows: Iterable[Row]) -> None:
        """Save rows (an iterable is read 50,000 rows at a time, so it may be a generator over a
        million files); rows racily new are left out."""
        now = time.time_ns()
        fresh = (r for r in rows if max(r[2], r[3]) + RACY_NS <= now)
        while not self.off and (chunk := list(islice(fresh, 50_000))):
            self._guard(self._save, chunk)

    def _save(self, rows: list[Row]) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        try:
            conn.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:  # sqlite rolled back already (a full disk at COMMIT)
                pass
            raise

    def forget(self, prefix: str) -> None:
        def run():
            args = (prefix, prefix + "/", prefix + "0")
            self.conn.execute("DELETE FROM files WHERE path = ? OR (path >= ? AND path < ?)", args)
            self.conn.execute("DELETE FROM dirs WHERE path = ? OR (path >= ? AND path < ?)", args)

        self._guard(run)

    def get_dir(self, path: str) -> tuple[str, str, str | None] | None:
        """The (fingerprint, tree oid, cache signature) last seen for a folder artifact."""
        row = self._guard(lambda: self.conn.execute(
            "SELECT fingerprint, oid, cache_sig FROM dirs WHERE path = ?", (path,)).fetchone())
        return (row[0], row[1], row[2]) if row else None

    def save_dir(self, path: str, fingerprint: str, oid: str, cache_sig: str | None = None) -> None:
        self._guard(lambda: self.conn.execute(
            "INSERT OR REPLACE INTO dirs VALUES (?, ?, ?, ?)", (path, fingerprint, oid, cache_sig)))

    def set_cache_sig(self, paths: list[str], cache_sig: str) -> None:
        """Note that every object of these folders' trees was in the cache when it had this signature."""
        self._guard(lambda: self.conn.executemany(
            "UPDATE dirs SET cache_sig = ? WHERE path = ?", [(cache_sig, p) for p in paths]))

    def close(self) -> None:
        self._close_quietly()
