"""Building blocks with no domain knowledge: atomic file writes, JSON conversion, configuration checks.

Imports nothing else of ``cxrlib`` and never torch; every other layer may import it.
"""
