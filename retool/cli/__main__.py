"""``python -m retool.cli ...`` is the ``retool`` command."""

import sys

from retool.cli.dispatch import main

sys.exit(main())
