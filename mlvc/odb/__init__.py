"""Object stores behind one contract (``base.ObjectStore``): ``memory`` for tests,
``local`` for the cache on disk, with its cache lock (``<cache>/lock``: shared by
writers, exclusive for a gc) and ``cache.shared`` modes (later: fsspec remotes,
transfer, gc).

May import ``objects``, ``fs`` and ``errors``; never ``workspace``, ``ops``,
``repo`` or the CLI.
"""

from mlvc.odb.base import ObjectStore
from mlvc.odb.local import LocalObjectStore
from mlvc.odb.memory import MemoryObjectStore

__all__ = ["ObjectStore", "LocalObjectStore", "MemoryObjectStore"]
