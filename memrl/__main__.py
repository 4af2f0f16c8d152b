"""``python -m memrl``: the ``memrl`` command."""

import sys

from memrl.cli import main

sys.exit(main())
