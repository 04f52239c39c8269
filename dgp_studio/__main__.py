import sys

from dgp_studio.cli.main import main

sys.exit(main())
