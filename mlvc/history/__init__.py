"""History: what mlvc recorded across git revisions. ``diff`` (artifacts and the files of
folders between two revisions, or a revision and the workspace, comparing Merkle sub-tree
ids and reading only the trees that differ) and ``log`` (the commits in which an artifact's
recorded version changed: one ``git log`` and one ``git cat-file --batch`` process);
``tabular`` (``diff --rows``: the row diff of two versions of a Parquet, Arrow or CSV table,
from the 64-bit row digests of ``rowhash``, numpy on the batches' buffers); ``restore``.
Beside ``ops/``: it may import every layer below ``ops/`` and of ``ops/`` only ``targets``
(what is tracked, users' paths); ``ops/`` never imports it. The workspace side of a diff is
hashed through the stat cache (``workspace.build``), as ``mlvc status`` does. No typer or rich; pyarrow only inside the
functions that need it."""
