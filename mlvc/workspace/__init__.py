"""The user's files: ``scan`` (walk an artifact, fingerprint a folder), ``build`` (hash
with the stat cache, store, make the tree), ``cachelink`` (files between workspace
and cache through the link types), ``compare`` (what changed), ``state`` (the stat
cache) and ``gitignore``.

May import ``odb``, ``objects``, ``fs`` and ``errors``; never ``ops``, ``repo`` or the CLI.
"""
