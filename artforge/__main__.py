import sys

from artforge.cli import main

sys.exit(main())
