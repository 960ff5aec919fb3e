"""``python -m cxrlib.chapters.solutions GENERATED OUT``: write every answer (see the package docstring)."""
from cxrlib.chapters.solutions import main

raise SystemExit(main())
