"""``python -m tracker_app``: the same program as the ``tracker-app`` command (cli.main)."""
import sys

from tracker_app.cli import main

sys.exit(main())
