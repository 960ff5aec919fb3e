"""``python -m cxrlib.data.download``: the ``cxrlib download`` command line."""
import sys

from cxrlib.data.download.cli import main

sys.exit(main())
