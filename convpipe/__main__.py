"""`python -m convpipe` is the `convpipe` command."""

import sys

from convpipe.cli import main

sys.exit(main())
