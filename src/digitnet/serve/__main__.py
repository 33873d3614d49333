"""`python -m digitnet.serve [MODEL] [options]`: exactly `digitnet serve`, for checkouts without the
console script.

Benchmarks start the server this way so that they work on any checkout.
"""

import sys

from digitnet.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
