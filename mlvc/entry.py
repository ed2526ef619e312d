"""The console-script entry: Ctrl-C at any moment, even while the CLI is still
being imported, ends with one line and exit 130, never a traceback."""

import gc
import sys


def main() -> None:
    try:
        from mlvc.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    finally:
        # The process ends here. Freezing what is alive spares the cyclic collections Python
        # runs while it tears its modules down (40-90 ms a command). atexit handlers and the
        # flushing of stdout and stderr still run; objects held in reference cycles are left to
        # the OS (mlvc closes every file it writes, so no buffer waits on a finalizer).
        gc.freeze()
