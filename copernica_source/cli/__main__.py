"""`python -m copernica_source.cli ...` is the `copernica` command."""

import sys

from copernica_source.cli import main

sys.exit(main())
