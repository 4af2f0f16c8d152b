#!/usr/bin/env python
"""Train one agent on one environment: the same options and code as `memrl train`.

    python scripts/train.py                      # dnc on memrl/TMaze-v0 (solved in minutes)
    python scripts/train.py --agent lstm --env memrl/GoalSearch-5x5-v0 --steps 100000
    python scripts/train.py --set memory_kwargs.memory_slots=32 env.kwargs.corridor_length=20

From Python, the same run is::

    from memrl.run import make_run_config, train
    result = train(make_run_config("dnc", "memrl/TMaze-v0"), "runs/my-run", callbacks=[...])
"""

import argparse
import sys

from memrl.cli import add_train_arguments, main


def parse(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_train_arguments(parser)
    parser.parse_args(argv)  # --help and argument errors here, under this script's name
    return argv


if __name__ == "__main__":
    sys.exit(main(["train", *parse(sys.argv[1:])]))
