"""``python -m deltagrad.cli ...`` runs the ``deltagrad`` command (as ``python -m deltagrad``)."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
