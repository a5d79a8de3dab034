"""`python -m bot`: the command line lives in `bot.cli`."""

import sys

from bot.cli import main

sys.exit(main())
