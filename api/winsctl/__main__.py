import sys

from winslow.api.winsctl.cli import main

sys.exit(main())
