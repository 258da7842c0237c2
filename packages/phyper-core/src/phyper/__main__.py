"""``python -m phyper``: the command line, which lives in `phyper._cli`."""

from __future__ import annotations

import sys

from phyper._cli import main

if __name__ == "__main__":
    sys.exit(main())
