"""`python -m albert_edge.arm64` (what `make arm64-parity` runs) = `albert-edge arm64-parity`."""

import sys

from ..cli import main

sys.exit(main(["arm64-parity", *sys.argv[1:]]))
