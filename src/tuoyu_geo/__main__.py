"""`python -m tuoyu_geo …` = the `tuoyu-geo` command."""

import sys

from .cli import main

sys.exit(main())
