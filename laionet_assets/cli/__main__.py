import sys

from laionet_assets.cli import main

sys.exit(main())
