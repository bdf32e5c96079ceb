import sys

from cybermesh.cli import main

sys.exit(main())
