"""``python -m seglab``: the ``seglab`` command (train, test, demo)."""
import sys

from seglab.cli import main

if __name__ == "__main__":
    sys.exit(main())
