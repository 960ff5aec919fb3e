"""One module per notebook: the code that turns run folders into that chapter's tables and figures.

Only the notebooks, the command line and the tests import this package.
"""
