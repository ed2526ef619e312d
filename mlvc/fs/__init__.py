"""Local file-system mechanics: atomic writes (``atomic``), safe paths (``paths``),
link types and verified copies with one linker (``links``), a thread pool (``parallel``).

Knows nothing of repositories beyond a root folder and relative paths. May
import ``objects`` (hashing while copying, the safe-path rule) and ``errors``.
The names most callers need are re-exported here.
"""

from mlvc.fs.atomic import (TMP_PREFIX, atomic_write, fsync_dir, open_tmpfile, publish_tmpfile, read_small,
                            remove_path, replace_file, syncfs, tmp_name, unlink_quiet,
                            write_all)
from mlvc.fs.links import (LINK_TYPES, Linker, copy_file, copy_hashing, copy_into, copy_verified, is_unsupported,
                           reflink)
from mlvc.fs.paths import (SafeDirs, check_no_links, check_own_file, check_relpath, is_within, read_regular,
                           safe_dir)

__all__ = [
    "TMP_PREFIX", "atomic_write", "fsync_dir", "open_tmpfile", "publish_tmpfile", "read_small", "remove_path",
    "replace_file", "syncfs", "tmp_name", "unlink_quiet", "write_all", "LINK_TYPES", "Linker", "copy_file", "copy_hashing", "copy_into",
    "copy_verified", "is_unsupported", "reflink", "SafeDirs", "check_relpath", "is_within",
    "safe_dir", "check_own_file", "check_no_links", "read_regular",
]
