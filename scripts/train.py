#!/usr/bin/env python
"""Train one agent on one environment: the same options and code as `memrl train`.

    python scripts/train.py                      # memnet on memrl/TMaze-v0 (solved in minutes)
    python scripts/train.py --agent lstm --env memrl/GoalSearch-5x5-v0 --steps 100000
    python scripts/train.py --set memory_kwargs.memory_slots=32 env.kwargs.corridor_length=20

From Python, the same run is::

    from memrl.run import make_run_config, train
    result = train(make_run_config("dnc", "memrl/TMaze-v0"), "runs/my-run", callbacks=[...])
"""

import argparse
import sys
from collections.abc import Sequence

from memrl.cli import add_train_arguments, run_command


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The arguments of `memrl train`; --help and argument errors under this script's name."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_train_arguments(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(run_command(parse(sys.argv[1:])))
