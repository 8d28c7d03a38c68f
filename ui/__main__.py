"""``python -m ui``: opens Ensemble's window."""

import sys

from ui.app import main

sys.exit(main())
