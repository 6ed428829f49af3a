"""``python -m paraflowo COMMAND``: see :mod:`paraflowo.cli`."""

import sys

from paraflowo.cli import main

if __name__ == "__main__":
    sys.exit(main())
