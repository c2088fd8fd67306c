"""``python -m helpers``: the command line; see ``python -m helpers --help``."""
import sys

from helpers.cli import main

sys.exit(main())
