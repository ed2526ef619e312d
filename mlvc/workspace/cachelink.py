"""Files between the workspace and the local cache, through the configured link types.

``store`` puts a workspace file into the cache (copy, reflink, or the file
itself by hardlink); ``place`` puts an object into the workspace. Every
link-type choice goes through one ``fs.Linker`` loop; the object store
itself only stores.
"""

from __future__ import annotations

import errno
import os
import stat

from mlvc import fs
from mlvc.errors import CorruptObjectError, MlvcError, ObjectNotFoundError
from mlvc.fs.links import FICLONE, Linker
from mlvc.objects.hashing import SMALL, hash_bytes, hash_file
from mlvc.odb.local import LocalObjectStore

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


def _large_file(path: str) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size > SMALL_NEW


class CacheLinker:
    def __init__(self, odb: LocalObjectStore, kinds: list[str]) -> None:
        self.odb = odb
        self.kinds = list(kinds)
        self.linker = Linker(kinds)

    # ------------------------------------------------------------ into the cache

    def store(self, src: str, oid: str | None = None, size: int = -1) -> tuple[str, int]:
        """Store the file at ``src``; return ``(oid, size)``.

        ``oid`` is the file's hash when the caller already knows it (from the
        stat cache). The source file is never modified, moved or truncated.
        """
        odb = self.odb
        if oid is not None and odb.exists(oid):
            return oid, size

        def put(kind: str) -> tuple[str, int]:
            nonlocal oid, size  # a hash computed for one kind serves the next
            if kind == "copy" and 0 <= size <= SMALL:
                data = fs.read_small(src, size)
                oid = hash_bytes(data)
                odb._put(oid, data)  # an object that exists already is kept as it is
                return oid, len(data)
            if kind == "copy":
                return self._store_large_copy(src, oid, size)
            if oid is None:
                oid, size = hash_file(src, size)
                if kind == "reflink" and odb.exists(oid):
                    return oid, size
            if kind == "reflink":
                tmp = fs.tmp_name(odb.folder(oid))
                fs.reflink(src, tmp)
                odb.publish_tmp(tmp, oid)
                return oid, size
            # hardlink and symlink both put the file itself in the cache. A link
            # appears whole at once, so it needs no temp name; one that exists
            # already is the object (never replaced).
            dest = os.path.join(odb.folder(oid), oid[2:])
            try:
                os.link(src, dest)
            except FileExistsError:
                return oid, size
            os.chmod(dest, 0o444)
            odb._dirty = True
            return oid, size

        return self.linker.run(src, put)[1]

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
            raise MlvcError(f"{src} changed while it was being added", "add it again once it is written")
        odb.publish_tmp(tmp, oid, chmod=False)
        return oid, size

    # ------------------------------------------------------- into the workspace

    def place(self, oid: str, dest: str, executable: bool = False, size: int = -1,
              tmp_dir: str | None = None, new: bool = False) -> str:
        """Put object ``oid`` at ``dest`` (replacing what is there) and return the link kind used.

        ``dest`` is always the old file or the new one, never half of one, and
        copies are verified against the id as they are written. The new file is
        written unnamed in ``dest``'s folder where it can be (``_place_unnamed``),
        else made in ``tmp_dir`` (or beside ``dest``) and moved into place.
        """
        src = self.odb.path(oid)
        mode = 0o777 if executable else 0o666  # the umask applies
        kind = self._place_unnamed(oid, src, dest, mode, size, new, tmp_dir)
        if kind is not None:
            return kind
        folder = tmp_dir or os.path.dirname(dest)

        def make(kind: str) -> str:
            tmp = fs.tmp_name(folder)
            try:
                if kind == "copy":
                    fs.copy_verified(src, tmp, oid, mode, size)
                elif kind == "reflink":
                    fs.reflink(src, tmp)
                    os.chmod(tmp, mode & ~_umask())
                elif kind == "hardlink":
                    os.link(src, tmp)
                else:
                    os.symlink(src, tmp)
            except OSError as exc:
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
            if exc.errno == errno.EXDEV and tmp_dir is not None:
                return self.place(oid, dest, executable, size, None)
            raise
        return kind

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
            if kind in ("hardlink", "symlink"):
                if not new:
                    return Linker.GIVE_UP
                (os.link if kind == "hardlink" else os.symlink)(src, dest)
                return kind
            fd = fs.open_tmpfile(folder, mode)
            if fd is None:
                return Linker.GIVE_UP
            try:
                self._fill(kind, fd, src, oid, size)
                if new:
                    if not fs.publish_tmpfile(fd, dest):
                        raise FileExistsError(errno.EEXIST, "appeared during checkout", dest)
                    return kind
                name = fs.tmp_name(tmp_dir or folder)
                try:
                    fs.publish_tmpfile(fd, name)
                except OSError as exc:  # tmp_dir on another file system (a bind mount)
                    if exc.errno != errno.EXDEV or tmp_dir is None:
                        raise
                    name = fs.tmp_name(folder)
                    fs.publish_tmpfile(fd, name)
                try:
                    fs.replace_file(name, dest)
                except BaseException:
                    fs.unlink_quiet(name)
                    raise
            finally:
                os.close(fd)
            return kind

        try:
            return self.linker.run(dest, create)[0]
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
