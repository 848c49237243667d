"""``python -m deltagrad ...`` runs the ``deltagrad`` command, exactly as ``deltagrad ...`` does
(handy where the console script is not on ``PATH``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
