"""``python -m deltagrad.cli ...`` runs the ``deltagrad`` command."""

import sys

from . import main

sys.exit(main())
