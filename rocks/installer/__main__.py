"""`python3 -m rocks.installer`: the test installer's entry point (stage 1 runs it)."""

import sys

from rocks.installer.main import main

sys.exit(main())
