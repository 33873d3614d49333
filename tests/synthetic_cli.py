"""`digitnet` with MNIST replaced by the tests' tiny synthetic set, for tests that drive the real
command line in a subprocess (parse, library call, print; ensemble members, Ctrl+C) without
loading the 55,000 real images:

    python tests/synthetic_cli.py train --epochs 1 --out RUN
"""

import sys

import pytest

from conftest import use_synthetic_data
from digitnet import cli

if __name__ == "__main__":
    with pytest.MonkeyPatch.context() as patch:
        use_synthetic_data(patch)
        sys.exit(cli.main(sys.argv[1:]))
