"""Pipelines: the stages of ``mlvc.yaml`` and ``mlvc repro``, which runs the ones whose
inputs changed and records what they ran with in ``mlvc.lock``.

``located`` (YAML nodes as values that keep their line), ``params`` (reading
YAML, JSON and TOML params files), ``templating`` (``vars``, ``${...}``,
``foreach``, ``matrix``), ``stage`` (the frozen ``Stage`` definitions and the
checks made when mlvc.yaml is read), ``dag`` (the graph from deps and outs,
``graphlib``; targets), ``status`` (why a stage would run), ``run`` (running
one stage's commands and recording its outs), ``repro`` and ``stageadd`` (the
verbs). This part sits beside ``ops``: it may import every layer below ``ops``
(workspace, odb, formats, scm, objects, fs, repo, config) and, of ``ops``, only
the two helpers every writing verb shares (``ops.targets`` for the lock and
both files, ``ops.record`` to cache an artifact); ``ops`` never imports it.
Like every verb it never prints: it returns values, calls back, raises
``mlvc.errors``.
"""
