import sys

from tracker_app.cli import main

sys.exit(main())
