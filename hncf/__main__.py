"""`python -m hncf ...` entry point."""

import sys

from hncf.cli import main

if __name__ == "__main__":
    sys.exit(main())
