"""Building blocks with no domain knowledge: atomic file writes, JSON conversion, configuration checks, notebook
parameters, the staging folder of a run, papermill, and the lazy exports every package uses.

Imports nothing else of ``cxrlib`` and never torch; every other layer may import it. Every name below is
importable from the package and loaded on first use (:mod:`cxrlib.core.exports`).
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "config": ["ParamsMixin", "check_choice", "lookup"],
    "exports": ["lazy_exports"],
    "io": ["atomic_write", "write_text_atomic", "jsonable", "write_json_atomic", "file_sha256"],
    "notebooks": ["SharedKernel", "execute_notebook"],
    "params": [
        "ParameterError", "Rule", "parse_rule", "parameter_cell_source", "assigned_values", "notebook_schema",
        "injected_names", "validate_params",
    ],
    "staging": [
        "RunFolderBusy", "Staging", "staging_dir", "staged_path", "write_marker", "is_complete", "open_staging",
        "commit", "abort", "require_finished_run",
    ],
})
