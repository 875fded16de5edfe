"""`python -m replog` is the `replog` command."""

import sys

from replog.cli import main

sys.exit(main())
