"""The book: artifacts with provenance (:mod:`.artifacts`) and the build (:mod:`.build`).

:mod:`.artifacts` is light (no torch); :mod:`.build` runs the notebooks and Jupyter Book. The names below (a
notebook's artifacts and their provenance) are importable from the package; the build, the teaching edition,
the registry pages and the paper smoke are used through ``cxrlib book`` and their modules.
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "artifacts": [
        "RunArtifacts", "markdown_table", "data_fingerprint", "package_versions", "git_commit", "find_book_root",
    ],
})
