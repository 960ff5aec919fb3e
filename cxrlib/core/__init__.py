"""Building blocks with no domain knowledge: atomic file writes, JSON conversion, configuration checks, notebook
parameters, the staging folder of a run, papermill, and the lazy exports every package uses.

Imports nothing else of ``cxrlib`` and never torch; every other layer may import it. Every name below is
importable from the package and loaded on first use (:mod:`cxrlib.core.exports`).
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "config": ["ParamsMixin", "UnknownKeyError", "lookup"],
    "exports": ["lazy_exports"],
    "io": ["atomic_write", "write_text_atomic", "jsonable", "write_json_atomic", "file_sha256", "YamlFileError",
           "read_yaml_mapping"],
    "notebooks": ["SharedKernel", "execute_notebook"],
    "params": [
        "ParameterError", "Rule", "parse_rule", "parameter_rules", "parameter_cell_source", "notebook_rules",
        "assigned_values", "notebook_schema", "injected_names", "check_values", "validate_params", "check_config",
    ],
    "runs": [
        "RunInputMissing", "read_provenance", "run_params", "read_table", "finished_artifact", "read_config",
        "read_json", "predictions_file", "read_build_stamp", "write_csv", "write_config", "write_json",
        "write_build_stamp", "read_learning_records", "markdown_table", "data_fingerprint", "input_record", "input_changes", "shown_path",
    ],
    "staging": [
        "RunFolderBusy", "NotARunFolder", "Staging", "staging_dir", "held", "reset_staging", "staged_path", "write_marker", "is_complete", "open_staging",
        "commit", "abort", "require_finished_run",
    ],
})
