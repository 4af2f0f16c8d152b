"""Test-wide settings."""

import torch

# The suite's tensors are tiny: one intra-op thread is fastest, and on a 2-core CI machine
# two threads per process fight each other (observed: 10-40x slower under load).
torch.set_num_threads(1)
