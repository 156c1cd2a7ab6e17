import sys

from api.winsctl.cli import main

sys.exit(main())
