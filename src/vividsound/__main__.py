import sys

from vividsound.cli import main

sys.exit(main())
