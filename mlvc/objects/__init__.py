"""Content addressing: object ids (XXH3-128), tree objects and the rule for a safe relative path.

The bottom layer. It imports nothing of mlvc but ``mlvc.errors`` and touches
no disk: ``hashing`` names bytes, ``tree`` owns the tree encoding (every
version it reads, the one it writes), ``paths`` says which relative paths
are safe (``fs`` applies that rule on disk).
"""
