"""Files between the workspace and the local cache, through the configured link types.

``store`` puts a workspace file into the cache (copy, reflink, or the file
itself by hardlink); ``place`` puts an object into the workspace. Every
link-type choice goes through one ``fs.Linker`` loop; the object store
itself only stores.

An object is given its name only once the bytes under that name were hashed:
a linked file is linked in under a temp name, made read-only and hashed there
(the same inode), a reflink is hashed as the clone, a copy as it is written.
A file the file system cannot give one more name (EMLINK, ext4's 65,000 links)
stays a verified copy, and ``finish`` says how many once.
"""

from __future__ import annotations

import errno
import os
import stat
import threading

from mlvc import fs
from mlvc.errors import CorruptObjectError, MlvcError, ObjectNotFoundError
from mlvc.fs.links import FICLONE, Linker, is_unsupported
from mlvc.objects.hashing import SMALL, hash_bytes, hash_file
from mlvc.odb.local import LocalObjectStore
from mlvc.progress import NULL

SMALL_NEW = 4 * 1024 * 1024  # files up to this size are read in one call when copied out
_UMASK: int | None = None


def _umask() -> int:
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def _corrupt(oid: str) -> CorruptObjectError:
    return CorruptObjectError(f"cache object {oid} is corrupted (its content does not match its name)",
                              "run `mlvc fsck --repair` to drop damaged objects, then `mlvc commit` "
                              "where the data is good")


def _changed(src: str) -> MlvcError:
    return MlvcError(f"{src} changed while it was being added", "add it again once it is written")


def _damaged_in_cache(oid: str, src: str) -> CorruptObjectError:
    return CorruptObjectError(f"cache object {oid} is damaged (its content no longer matches its name); "
                              f"{src} has the right content and was left as it is",
                              "run `mlvc fsck --repair` to drop damaged objects, then add it again")


LINK_LIMIT = "the file system's link limit was reached"
AS_ROOT = ("running as root: read-only cache links do not stop writes; "
           "run `mlvc unprotect PATH` before editing a linked file")


def is_object_file(path: str, obj: str) -> bool:
    """Whether ``path`` is the cache object file ``obj`` itself: a hardlink to it, or a
    symlink to it (the same inode on the same device)."""
    try:
        return os.path.samefile(path, obj)
    except (OSError, ValueError):
        return False


def damaged_message(oid: str, path: str) -> str:
    return f"cache object {oid} is damaged: {path} is linked to it and was changed in place"


def check_not_damaged(odb: LocalObjectStore, oid: str, abspath: str, path: str, artifact: str) -> None:
    """Raise when the workspace file ``path``, whose content does not hash to the recorded
    ``oid``, is that object's own file: the object was written through its link (root
    ignores read-only files), so its recorded content is gone from this cache."""
    if is_object_file(abspath, odb.path(oid)):
        raise CorruptObjectError(
            damaged_message(oid, path),
            f"nothing was changed; to keep the change, `mlvc commit {artifact}` (it drops the damaged object); "
            "to get the recorded version back, `mlvc fsck --repair`, copy the object from another clone's "
            "cache, then `mlvc checkout --force`")


def warn_damaged(odb: LocalObjectStore, root: str, artifact: str, changes, progress=NULL) -> None:
    """Warn about each modified file of ``changes`` that is its recorded object's own file
    (see ``check_not_damaged``)."""
    for change in changes:
        if change.kind == "modified" and change.old_oid and \
                is_object_file(os.path.join(root, change.path), odb.path(change.old_oid)):
            progress.warn(f"{damaged_message(change.old_oid, change.path)}; `mlvc commit {artifact}` records "
                          "the new content, the recorded version is lost from this cache")


def _large_file(path: str) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > SMALL_NEW


class CacheLinker:
    def __init__(self, odb: LocalObjectStore, kinds: list[str], progress=NULL) -> None:
        self.odb = odb
        self.kinds = list(kinds)
        self.linker = Linker(kinds)
        self.progress = progress
        self.copies = 0  # files kept as copies at the file system's link limit (EMLINK)
        self._good: set[str] = set()  # objects found in the cache and rehashed in this run
        self._lock = threading.Lock()
        self._tmp_dir: str | None = None
        self._root_said = False

    def finish(self) -> None:
        """Say once, at the end of a run, what could not be done as configured."""
        n, self.copies = self.copies, 0
        if n:
            self.progress.warn(f"{n} files kept as copies: {LINK_LIMIT}" if n > 1
                               else f"1 file kept as a copy: {LINK_LIMIT}")

    def copies_only(self) -> bool:
        """Whether files are now placed as copies or reflinks (the first link type still usable):
        nothing shares an inode with the cache, so nothing is said about it (``_linked``)."""
        return next((k for k in self.kinds if k not in self.linker.failed), None) in ("copy", "reflink")

    def _kept_copy(self) -> None:
        with self._lock:
            self.copies += 1

    def _linked(self) -> None:
        """A workspace file shares its bytes with the cache: root is not stopped by read-only modes."""
        if not self._root_said and os.geteuid() == 0:
            self._root_said = True
            self.progress.warn(AS_ROOT)

    # ------------------------------------------------------------ into the cache

    def store(self, src: str, oid: str | None = None, size: int = -1) -> tuple[str, int]:
        """Store the file at ``src``; return ``(oid, size)``.

        ``oid`` is the file's hash when the caller already knows it (from the
        stat cache); the bytes stored must still hash to it. The source file's
        content is never modified, moved or truncated.
        """
        odb = self.odb
        if oid is not None and odb.exists(oid):
            return oid, size

        def put(kind: str) -> tuple[str, int]:
            if kind == "copy":
                return self._store_copy(src, oid, size)
            if kind == "reflink":
                return self._store_reflink(src, oid)
            return self._store_link(src, oid, size, kind)

        return self.linker.run(src, put)[1]

    def _store_copy(self, src: str, oid: str | None, size: int) -> tuple[str, int]:
        if 0 <= size <= SMALL:
            data = fs.read_small(src, size)
            got = hash_bytes(data)
            self.odb._put(got, data)  # an object that exists already is kept as it is
            return got, len(data)
        return self._store_large_copy(src, oid, size)

    def _store_large_copy(self, src: str, oid: str | None, size: int) -> tuple[str, int]:
        """Hash first, copy only if the object is new (in the kernel),
        then hash the copy: an object never holds bytes that do not match its name."""
        odb = self.odb
        if oid is None:
            oid, size = hash_file(src, size)
            if odb.exists(oid):
                return oid, size
        tmp = fs.tmp_name(odb.folder(oid))
        fs.copy_file(src, tmp, 0o444)
        got, size = hash_file(tmp)
        if got != oid:
            fs.unlink_quiet(tmp)
            raise _changed(src)
        odb.publish_tmp(tmp, oid, chmod=False)
        return oid, size

    def _tmp_folder(self) -> str:
        """Where a file waits in the cache before it has its object name: ``files/xxh3/``
        (fsck counts what a kill leaves). Made through the store's own ``folder``, so that
        what the store does before its first file is written (take the cache lock, which
        clears killed writers' temp files) is done before a temp file of ours exists."""
        if self._tmp_dir is None:
            self._tmp_dir = os.path.dirname(self.odb.folder("0" * 32))
        return self._tmp_dir

    def _store_reflink(self, src: str, oid: str | None) -> tuple[str, int]:
        """Clone the file, then hash the clone (which no other program can be writing)."""
        tmp = fs.tmp_name(self._tmp_folder())
        fs.reflink(src, tmp)
        try:
            got, size = hash_file(tmp)
            if oid is not None and got != oid:
                raise _changed(src)
            self.odb.folder(got)
            self.odb.publish_tmp(tmp, got)
        except BaseException:
            fs.unlink_quiet(tmp)
            raise
        return got, size

    def _store_link(self, src: str, oid: str | None, size: int, kind: str) -> tuple[str, int]:
        """hardlink and symlink modes put the file itself in the cache: linked in under a temp
        name, made read-only, hashed there (the same inode), and only then given its object
        name. A write meanwhile (an open file, or root, ignores the mode) changes its times or
        size, or its hash, and nothing is published."""
        for attempt in range(2):
            tmp = fs.tmp_name(self._tmp_folder())
            try:
                os.link(src, tmp, follow_symlinks=False)
            except OSError as exc:
                # EMLINK: the file has as many names as the file system allows (it is linked from
                # the cache already). In symlink mode the workspace gets a symlink whatever the
                # cache holds, so a cache on another file system (EXDEV) keeps a copy.
                if exc.errno == errno.EMLINK or (kind == "symlink" and is_unsupported(exc)):
                    return self._store_copy(src, oid, size)
                raise
            if stat.S_ISLNK(os.lstat(tmp).st_mode):
                # A symlink in a tracked folder is recorded as the file it points to; that file
                # (maybe outside the repository) is read, never linked into the cache or chmod'ed.
                fs.unlink_quiet(tmp)
                return self._store_copy(src, oid, size)
            try:
                got, got_size, named = self._hash_and_name(tmp, src, oid)
            except FileNotFoundError:
                # The temp name went while we held it: another repository's mlvc sharing this
                # cache took its lock and cleared temp files by their mtime, which a linked
                # file keeps from the user's file. Once more, under a new name.
                if attempt or os.path.lexists(tmp) or not os.path.exists(src):
                    raise
                continue
            finally:
                fs.unlink_quiet(tmp)
            if not named:  # no name left for this inode: the cache keeps a copy
                return self._store_copy(src, got, got_size)
            self._linked()
            return got, got_size
        raise AssertionError("unreachable")

    def _hash_and_name(self, tmp: str, src: str, oid: str | None) -> tuple[str, int, bool]:
        mode = stat.S_IMODE(os.stat(tmp).st_mode)
        os.chmod(tmp, 0o444)
        try:
            got, got_size = self._hash_linked(tmp)
            if got is None or (oid is not None and got != oid):
                raise _changed(src)
            return got, got_size, self._name(tmp, got, src)
        except BaseException:
            try:
                os.chmod(tmp, mode)  # the user's file, as it was
            except OSError:
                pass
            raise

    @staticmethod
    def _hash_linked(path: str) -> tuple[str | None, int]:
        """The hash of the file at ``path``, or None if it changed while it was read."""
        before = os.stat(path)
        got, size = hash_file(path)
        after = os.stat(path)
        if (before.st_mtime_ns, before.st_ctime_ns, before.st_size) != \
                (after.st_mtime_ns, after.st_ctime_ns, after.st_size) or size != after.st_size:
            return None, size
        return got, size

    def _name(self, tmp: str, oid: str, src: str) -> bool:
        """Give the hashed file at ``tmp`` its object name; an object there is kept (never
        replaced) once it is known to be good. False where the file can take no more names."""
        odb = self.odb
        dest = os.path.join(odb.folder(oid), oid[2:])
        try:
            os.link(tmp, dest)
        except FileExistsError:
            # The workspace file will become a link to that object: never to a damaged one
            # (an object written through a link by root). Each is rehashed once a run.
            if oid not in self._good and not is_object_file(dest, tmp):
                if hash_file(dest)[0] != oid:
                    raise _damaged_in_cache(oid, src) from None
                self._good.add(oid)
            return True
        except OSError as exc:
            if exc.errno == errno.EMLINK:
                return False
            raise
        odb._dirty = True
        return True

    # ------------------------------------------------------- into the workspace

    def place(self, oid: str, dest: str, executable: bool = False, size: int = -1,
              tmp_dir: str | None = None, new: bool = False) -> str:
        """Put object ``oid`` at ``dest`` (replacing what is there) and return the link kind used.

        ``dest`` is always the old file or the new one, never half of one, and
        copies are verified against the id as they are written; a link is refused
        when the object's size is not ``size`` (damaged). The new file is written
        unnamed in ``dest``'s folder where it can be (``_place_unnamed``), else made
        in ``tmp_dir`` (or beside ``dest``) and moved into place. A hardlink the file
        system refuses for the object's number of names (EMLINK) is a verified copy.
        """
        src = self.odb.path(oid)
        mode = 0o777 if executable else 0o666  # the umask applies
        kind = None if new else self._already_placed(src, dest)
        if kind is not None:
            self._linked()
            return kind
        kind = self._place_unnamed(oid, src, dest, mode, size, new, tmp_dir)
        if kind is not None:
            return kind
        folder = tmp_dir or self._tmp_folder()  # never a temp name among the user's files (but EXDEV below)
        copied = False

        def make(kind: str) -> str:
            nonlocal copied
            tmp = fs.tmp_name(folder)
            try:
                if kind == "copy":
                    fs.copy_verified(src, tmp, oid, mode, size)
                elif kind == "reflink":
                    fs.reflink(src, tmp)
                    os.chmod(tmp, mode & ~_umask())
                elif kind == "hardlink":
                    self._check_size(oid, src, size)
                    try:
                        os.link(src, tmp)
                    except OSError as exc:
                        if exc.errno != errno.EMLINK:
                            raise
                        fs.copy_verified(src, tmp, oid, mode, size)
                        copied = True
                else:
                    self._check_size(oid, src, size)
                    os.symlink(src, tmp)
            except OSError as exc:
                if not isinstance(exc, FileExistsError):  # else the name is not ours: never removed
                    fs.unlink_quiet(tmp)
                if isinstance(exc, FileNotFoundError) and not os.path.exists(src):
                    raise ObjectNotFoundError(f"object {oid} is not in the cache", [oid]) from None
                raise
            return tmp

        kind, tmp = self.linker.run(dest, make)
        try:
            fs.replace_file(tmp, dest)
        except OSError as exc:
            fs.unlink_quiet(tmp)
            if exc.errno == errno.EXDEV and folder != os.path.dirname(dest):  # a bind mount: beside it
                return self.place(oid, dest, executable, size, os.path.dirname(dest))
            raise
        if kind == "hardlink":
            # A rename onto another name of the same file does nothing and leaves the temp
            # name (where renameat2 cannot exchange the two); _already_placed avoids it.
            fs.unlink_quiet(tmp)
        if copied:
            self._kept_copy()
            return "copy"
        if kind in ("hardlink", "symlink"):
            self._linked()
        return kind

    def _already_placed(self, src: str, dest: str) -> str | None:
        """``dest`` is already what a link would make: the object's own file (hardlink), or a
        symlink to it, where that is the first link type still usable. (Where its content
        differs, the object was damaged through it; checkout refuses that before it starts.)"""
        kind = next((k for k in self.kinds if k not in self.linker.failed), None)
        try:
            if kind == "hardlink":
                st = os.lstat(dest)
                same = stat.S_ISREG(st.st_mode) and os.path.samestat(st, os.stat(src))
            elif kind == "symlink":
                same = os.path.islink(dest) and os.readlink(dest) == src
            else:
                same = False
        except OSError:
            return None
        return kind if same else None

    @staticmethod
    def _check_size(oid: str, src: str, size: int) -> None:
        """A link shares the object's bytes unverified; one whose size is not the recorded
        size was damaged (written through a link), and is refused like a corrupt copy."""
        if size >= 0:
            try:
                actual = os.stat(src).st_size
            except FileNotFoundError:
                return  # said by the link itself
            if actual != size:
                raise _corrupt(oid)

    def _place_unnamed(self, oid: str, src: str, dest: str, mode: int, size: int, new: bool,
                       tmp_dir: str | None = None) -> str | None:
        """Where nothing is at ``dest`` (``new``): a link, or an unnamed file (O_TMPFILE) given
        its name once written and verified, in one step that appears whole. Where a file is:
        the same unnamed file, given a temp name in ``tmp_dir`` (else beside ``dest``) only
        once complete, then exchanged with the old one at once; a kill leaves temp files
        in ``tmp_dir`` only, never among the user's files. Writing in ``dest``'s own folder
        matters: ext4 places a file near its folder, and a 1 GiB file written in .mlvc/tmp
        and moved took 1.3 s against 0.9 s here. An old file over 4 MiB is removed first
        (see below). None where this is not possible (then the caller uses a temp file)."""
        folder = os.path.dirname(dest)
        if not new and _large_file(dest):
            # The old content is in the cache (checkout's plan made sure) or was given up with
            # --force. Freeing its blocks before writing the new file made a 1 GiB checkout
            # 0.8 s instead of 1.8 s here (DVC does the same); the path is then absent, never
            # half written, until the new file appears whole.
            os.unlink(dest)
            new = True

        def create(kind: str):
            copied = False
            if kind in ("hardlink", "symlink"):
                if not new:
                    return Linker.GIVE_UP
                self._check_size(oid, src, size)
                try:
                    (os.link if kind == "hardlink" else os.symlink)(src, dest)
                except OSError as exc:
                    if exc.errno != errno.EMLINK or kind != "hardlink":
                        raise
                    kind, copied = "copy", True  # the object has as many names as it can have
                else:
                    self._linked()
                    return kind
            fd = fs.open_tmpfile(folder, mode)
            if fd is None:
                return Linker.GIVE_UP
            try:
                self._fill(kind, fd, src, oid, size)
                if new:
                    if not fs.publish_tmpfile(fd, dest):
                        raise FileExistsError(errno.EEXIST, "appeared during checkout", dest)
                    if copied:
                        self._kept_copy()
                    return kind
                name = fs.tmp_name(tmp_dir or self._tmp_folder())
                try:
                    published = fs.publish_tmpfile(fd, name)
                except OSError as exc:  # tmp_dir on another file system (a bind mount): beside dest
                    if exc.errno != errno.EXDEV:
                        raise
                    name = fs.tmp_name(folder)
                    published = fs.publish_tmpfile(fd, name)
                if not published:  # the name is taken (not by us): never replaced or removed
                    raise OSError(errno.EEXIST, "temp name taken", name)
                try:
                    fs.replace_file(name, dest)
                except BaseException:
                    fs.unlink_quiet(name)
                    raise
            finally:
                os.close(fd)
            return kind

        try:
            return self.linker.run(dest, create)[1]
        except FileExistsError:
            raise MlvcError(f"{dest} appeared while checkout was writing it",
                            "another program is writing there; run `mlvc status` and try again") from None
        except FileNotFoundError:
            if not os.path.exists(src):
                raise ObjectNotFoundError(f"object {oid} is not in the cache", [oid]) from None
            raise

    @staticmethod
    def _fill(kind: str, fd: int, src: str, oid: str, size: int) -> None:
        """Write object ``oid`` (at ``src``) into the new file ``fd``: a copy verified as it is
        written, or a reflink."""
        if kind == "copy":
            if 0 <= size <= SMALL_NEW:
                data = fs.read_small(src, size)
                if hash_bytes(data) != oid:
                    raise _corrupt(oid)
                fs.write_all(fd, data)
            elif fs.copy_into(src, fd, size)[0] != oid:
                raise _corrupt(oid)
            return
        import fcntl

        sfd = os.open(src, os.O_RDONLY)
        try:
            fcntl.ioctl(fd, FICLONE, sfd)
        finally:
            os.close(sfd)
