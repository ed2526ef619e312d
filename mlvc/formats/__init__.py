"""The committed text files: ``mlvc.yaml`` (``project``), ``mlvc.lock`` (``lock``),
the YAML reading and writing they share (``yamlio``), and ``mlvc.yaml`` merged as text,
block by block, so that people's comments and layout outlive mlvc's writes and merges
(``yamltext``).

Each file carries its ``schema``; see docs/concepts.md for the compatibility
policy. May import ``objects``, ``fs`` and ``errors``.
"""
