"""``python -m cxrlib.training.sweeps``: ``cxrlib sweep`` (:func:`cxrlib.training.sweeps.cli.main`); ``cxrlib sweep
run --workers N`` starts ``python -m cxrlib.training.sweeps worker ...`` in each worker process."""
import sys

from cxrlib.training.sweeps.cli import main

sys.exit(main())
