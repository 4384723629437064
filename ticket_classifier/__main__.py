"""``python -m ticket_classifier``: the same command line as ``ticket-classifier``."""

import sys

from ticket_classifier.cli import main

if __name__ == "__main__":
    sys.exit(main())
