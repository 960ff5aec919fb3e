"""Data sets, official splits and metadata tables (pandas), kept apart from PyTorch datasets."""
from cxrlib.data.root import (
    SOURCES,
    DataNotFoundError,
    data_root,
    require,
    require_file,
)

__all__ = ["SOURCES", "DataNotFoundError", "data_root", "require", "require_file"]
