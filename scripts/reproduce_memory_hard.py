#!/usr/bin/env python
"""Reproduce the memory-hard results (envs/memory-hard.yaml, docs/results.md): about 27
core-hours on a CPU, so run it in the background and again after an interruption.

Trains the nine agents of the comparison on the eight tasks of the suite for the suite's
budgets, 3 seeds for memnet-long, mnm-g-fast, dnc-fast, lstm and recurrentppo and 1 seed for the
others, 2 runs at a time (seed 0 of every agent and env first), and writes
results/memory-hard/results.md, results.csv and learning_curves.png. Run it again with the
same --out: finished runs are kept, unfinished ones resume from their checkpoints (saved every
quarter of a run's budget).

The repository keeps the grid's finished runs in results/memory-hard (config.yaml, curve.csv
and eval.json of each, no models), so this command trains only the runs still missing there;
give another --out to train the whole grid yourself.

Same as: memrl bench memory-hard --agents AGENTS --seeds SEEDS --jobs 2 (the defaults below)
Quick try: --steps-scale 0.01 --seeds 1
"""

import sys

from memrl.cli import reproduce_main

AGENTS = "mlp,lstm,gru,recurrentppo,memnet-long,mnm-g-fast,mnm-p-fast,ntm-fast,dnc-fast"
SEEDS = "3,mlp=1,gru=1,mnm-p-fast=1,ntm-fast=1"

if __name__ == "__main__":
    sys.exit(reproduce_main("memory-hard", sys.argv[1:], __doc__, AGENTS, SEEDS))
