"""The benchmark page shows each run's command without the scratch ``--output`` it wrote to."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from mlvcbench.report import shown_command  # noqa: E402


def test_the_scratch_output_is_left_out_of_the_command_shown():
    run = "python benchmarks/run.py --only remote --reps 1 --mlvc-rev HEAD --output /tmp/x/bf3.md --no-plot"
    assert shown_command(run) == "python benchmarks/run.py --only remote --reps 1 --mlvc-rev HEAD --no-plot"
    assert shown_command("python benchmarks/run.py --output=/tmp/a.md --quick") == "python benchmarks/run.py --quick"


def test_a_command_without_it_is_shown_as_it_was_run():
    assert shown_command("python benchmarks/run.py") == "python benchmarks/run.py"
    assert shown_command("python benchmarks/run.py --only 'remote-small' --reps 3") == \
        "python benchmarks/run.py --only remote-small --reps 3"
