"""Pipelines: the stages of ``mlvc.yaml``, ``mlvc repro`` (run the ones whose inputs
changed, record what they ran with in ``mlvc.lock``), ``mlvc verify`` and what
``dag``, ``params`` and ``metrics`` show.

``located`` (YAML nodes as values that keep their line), ``params`` (reading
YAML, JSON and TOML params files), ``templating`` (``vars``, ``${...}``,
``foreach``, ``matrix``), ``stage`` (the frozen ``Stage`` definitions and the
checks made when mlvc.yaml is read), ``dag`` (the graph from deps and outs,
``graphlib``; targets), ``status`` (why a stage would run; ``stage_status``,
the stages' part of ``mlvc status``), ``run`` (running one stage's commands
and recording its outs), ``run_cache`` (outs by what a run ran with, in
``<cache>/runs/``), and the verbs: ``stages`` (``stage add``, ``stage list``),
``repro``, ``verify`` (re-run at a revision in a git worktree), ``dagview``
(``mlvc dag``: the graph as data, text, Mermaid, dot) and ``values``
(``params diff``, ``metrics show``/``diff``). This part sits beside ``ops``: it
may import every layer below ``ops`` (workspace, odb, formats, scm, objects,
fs, repo, config) and, of ``ops``, only ``ops.targets`` (the lock and both
files), ``ops.record`` (to cache an artifact), ``ops.checkout``
(``checkout_entries``, for run-cache restores and verify) and ``ops.unprotect``
(a ``persist`` out in a link mode); ``ops`` never imports it. Like every verb it
never prints: it returns values, calls back, raises ``mlvc.errors``.
"""
