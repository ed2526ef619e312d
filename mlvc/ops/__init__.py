"""The verbs: one module per verb (add, commit, status, checkout, remove, unprotect, ls,
fsck, config, init, remote, transfer: push/fetch/pull, gc, install, merge, external:
get/import/update), each a function that takes a ``Repo`` and returns a value.

``targets`` turns a user's paths into ``Target`` values (an artifact, or a path inside a
folder artifact) and holds the one rule for what is tracked; ``record`` is shared by
add and commit. Verbs never print or prompt: they return values (small dataclasses) and
raise ``mlvc.errors``. May import every layer below (repo, config, workspace, odb,
formats, scm, objects, fs); nothing below imports ``ops``. ``mlvc.api`` re-exports them.
"""
