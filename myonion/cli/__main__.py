"""``python -m myonion.cli``."""

import sys

from myonion.cli.main import main

sys.exit(main())
