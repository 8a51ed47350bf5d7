"""`python -m suite` is the same as the `nlpsuite` command."""

import sys

from suite.cli import main

sys.exit(main())
