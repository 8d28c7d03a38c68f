"""The bundle's entry point: the same command line as ``ensemble`` from source."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
