"""Core sizes shared by the test files, passed to a core only where it accepts them
(``memrl.memory.accepted_kwargs``).

``SMALL``: unit tests of the cores in float64 (the contract suite runs in seconds).
``TINY``: MemoryPPO integration tests; ``TINY_TWO_READS`` adds a second read head, for
recall tests that check per-head records.
"""

SMALL = dict(
    memory_slots=6,
    slot_size=4,
    read_heads=2,
    write_heads=1,
    controller_size=12,
    hidden_size=12,
    key_size=4,
    hops=2,
)
TINY = dict(
    memory_slots=8,
    slot_size=8,
    read_heads=1,
    controller_size=16,
    hidden_size=16,
    key_size=8,
)
TINY_TWO_READS = {**TINY, "read_heads": 2}
