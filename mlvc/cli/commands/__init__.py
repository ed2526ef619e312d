"""The commands, split by area; importing this package registers them on ``mlvc.cli.app``.

data: init, add, commit, status, checkout, remove, unprotect, ls, fsck; gc: gc; config: config;
pipeline: stage (add, list), repro, verify; inspect: dag, params diff, metrics show/diff;
remote: remote (add, list, remove, modify, default), push, fetch, pull; history: diff, log, restore;
hooks: install and the hidden git-hook; merge: the hidden merge-driver; external: get, import, update.
"""

from mlvc.cli.commands import config, data, gc, inspect, pipeline  # noqa: F401
from mlvc.cli.commands import remote  # noqa: F401,E402
from mlvc.cli.commands import history  # noqa: F401,E402
from mlvc.cli.commands import merge  # noqa: F401,E402
from mlvc.cli.commands import hooks  # noqa: F401,E402
from mlvc.cli.commands import external  # noqa: F401,E402
