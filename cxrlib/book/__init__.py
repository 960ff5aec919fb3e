"""The book: artifacts with provenance (:mod:`.artifacts`) and the build (:mod:`.build`).

:mod:`.artifacts` is light (no torch); :mod:`.build` runs the notebooks and Jupyter Book.
"""
