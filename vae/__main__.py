"""``python -m vae``: see :mod:`vae.cli`."""

import sys

from vae.cli import main

if __name__ == "__main__":
    sys.exit(main())
