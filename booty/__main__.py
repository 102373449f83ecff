"""`python -m booty serve | check-config | send-test-event`."""

import sys

from booty.cli import main

sys.exit(main())
