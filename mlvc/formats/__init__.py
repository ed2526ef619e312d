"""The committed text files: ``mlvc.yaml`` (``project``), ``mlvc.lock`` (``lock``),
and the YAML reading and writing they share (``yamlio``).

Each file carries its ``schema``; see docs/concepts.md for the compatibility
policy. May import ``objects``, ``fs`` and ``errors``.
"""
