#!/usr/bin/env python
"""Reproduce the grid-world suite (envs/gridworld.yaml): hours per agent and seed on a CPU.

Trains every agent preset (or --agents) on every env of the suite for the suite's budget with 3
seeds, 2 runs at a time, and writes results/gridworld/results.md, results.csv and
learning_curves.png. Interrupted? Run it again with the same --out: finished runs are kept,
unfinished ones resume from their checkpoints.

Same as: memrl bench gridworld --agents <all presets> --seeds 3 --jobs 2
Quick try: --steps-scale 0.1 --seeds 1
"""

import sys

from memrl.cli import reproduce_main

if __name__ == "__main__":
    sys.exit(reproduce_main("gridworld", sys.argv[1:], __doc__))
