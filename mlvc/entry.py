"""The console-script entry: Ctrl-C at any moment, even while the CLI is still
being imported, ends with one line and exit 130, never a traceback."""

import sys


def main() -> None:
    try:
        from mlvc.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
