"""Object stores behind one contract (``base.ObjectStore``): ``memory`` for tests,
``local`` for the cache on disk, with its cache lock (``<cache>/lock``: shared by
writers, exclusive for a gc) and ``cache.shared`` modes, ``remote`` for a remote (the
cache's ``files/xxh3/`` layout under a URL; fsspec and a backend imported only when one
is opened; downloads hashed before they enter the cache). ``transfer``: what moves
between the cache and a remote (only what is missing, found by a Merkle walk; a tree
after everything it lists). ``gc``: what is reachable from a set of ids, and the rest.
``remotelock``: the markers under ``<url>/locks/`` that keep ``gc --remote`` and other
clones' pushes apart (a running push stops a gc, a running gc stops a push; a done push's
roots are kept for the grace period).

May import ``objects``, ``fs`` and ``errors``; never ``workspace``, ``ops``,
``repo`` or the CLI.
"""

from mlvc.odb.base import ObjectStore
from mlvc.odb.local import LocalObjectStore
from mlvc.odb.memory import MemoryObjectStore

__all__ = ["ObjectStore", "LocalObjectStore", "MemoryObjectStore"]
