"""Experiment grids as sweeps on Optuna: one machine or a cluster, every trial a normal run folder.

A **sweep file** (``params/sweeps/*.yaml``) is data: what to run (a notebook through papermill, or a
Python entry point), the fixed parameters, the grid (or a search space with a sampler), the metric that
selects the best trial and how the document's table is laid out from the trials. ``cxrlib sweep run``
enqueues every grid point once into an Optuna study and runs the trials in one or more worker processes,
on this machine or on several machines that share the study's storage; ``cxrlib sweep status`` lists
the trials; ``cxrlib sweep table`` builds the document's table from the finished trials (bootstrap CIs
from the run folders' predictions) beside the published one (:func:`cxrlib.published.align.beside`).

Sweep file (all keys but ``grid``/``search`` and ``notebook``/``entry`` are optional)::

    name: d000_table5_dinov2          # the study name (default: the file's stem)
    document: "000"
    notebook: 03_finetune             # notebooks/03_finetune.ipynb with papermill, or
    # entry: cxrlib.training.finetune # fit(TrainConfig) in the worker; or "pkg.mod:function" / "file.py:function"
    base: params/paper/03_finetune--d000_dinov2_vits14.yaml   # a params file (repository-relative)
    params: {epochs: 50}              # fixed parameters over the base
    profile: paper                    # passed as the notebook's `profile` (default: the base's folder)
    out: runs/sweeps/d000_table5      # the sweep's output folder: one run folder per trial in it
    grid:                             # a block (every combination) or a list of blocks (their union)
      unfrozen_blocks: [0, 1, 2]      # every value is a list (a list-valued parameter: [[a, b]])
      lr: [1.0e-1, 1.0e-2]
      _model: [B1]                    # keys starting with "_" are tags: in the table, never passed on
    # search: {space: {lr: {low: 1.0e-5, high: 1.0e-1, log: true}, dropout: [0.0, 0.2]},
    #          sampler: tpe, n_trials: 40, seed: 0}
    select: {metric: best_val_loss, direction: minimize}   # dotted path in metrics.json, or history:<col>
    table:
      item: d000_table5               # a registry item: its beside block's `sweep_table:` is this table and
                                      # its mapping puts the published table beside it (the keys below,
                                      # given here, override the item's)
      title: "Document 000, Table 5"  # printed above the table
    # a table of its own (no published table beside it) gives the layout here:
    # table:
    #   best_by: [unfrozen_blocks]    # keep the best trial (select.metric) per value of these
    #   records: metrics              # "metrics" (one record per trial) or a CSV of the run folder
    #   explode: {field: test.auroc, name: label}          # a dict field -> one record per key
    #   rows: [unfrozen_blocks]
    #   columns: null                 # a record field whose values become columns (then `values` is one field)
    #   values: {Val loss: best_val_loss, Test AUC: test.macro_auroc, Train loss: "history:train_loss"}
    #   ci: {column: Test AUC, predictions: predictions_test.csv, n_boot: 1000}
    smoke: {epochs: 1, image_size: 32}   # overrides of --smoke (03_finetune has defaults)
    heartbeat: 10                     # seconds between a running trial's heartbeats
    grace: 120                        # a RUNNING trial without a heartbeat for this long was killed
    max_retries: 2                    # a failed or killed grid point is run again at most this often

Validation on load, before any trial starts, one clear :class:`SweepError` each: a parameter that the
notebook's parameter cell (or the entry's signature / ``TrainConfig``) does not have, a grid value of the
wrong type (the notebook's literal rule, else the type of its default; the entry's annotation), an empty
grid (or an empty axis), a storage that cannot be reached, a table ``item`` the registry does not have, a
journal line that is not a record (file and line named). A journal line cut short (a killed writer, a full
disk) is dropped under the journal's lock before the next record is appended (:func:`repair_journal`). A
table ``values`` field (or ``explode`` field) that no finished trial has is refused when the table is built.

**Storage.** Default: a journal file next to the output folder (``<out>.optuna.journal``,
``optuna.storages.JournalStorage(JournalFileBackend(path))``), for the workers of one machine. For a
cluster: a PostgreSQL URL (``postgresql://user@host:5432/db``, ``psycopg2-binary``), shared by every
worker of every machine; the run folders must then live on a shared file system (or ``out`` per machine,
with the tables built where all of them are). SQLite is refused for parallel workers' sake (it has no
``SELECT ... FOR UPDATE``: a trial gets claimed twice).

**Exactly once.** Grid points are enqueued with :meth:`optuna.Study.enqueue_trial`, one trial per point,
under a lock (``fcntl`` on a file beside the journal; ``pg_advisory_lock`` on PostgreSQL) after
checking the study's trials for the point's key, so a second worker, a second machine or a re-run never
enqueues a point twice (Optuna's ``GridSampler`` runs duplicates with several workers). A worker claims a
waiting trial atomically (Optuna's own queue pop). A running trial writes a heartbeat (a user attribute)
every ``heartbeat`` seconds; a trial whose heartbeat is older than ``grace`` seconds belonged to a worker
that died (SIGKILL, a lost node): the next worker that looks marks it failed and enqueues its point again
(up to ``max_retries`` times). A finished point is never run again; a run folder that already holds a
finished run (``metrics.json``, and ``COMPLETE.json`` for notebook runs) is read, not re-trained, when it
was run with the trial's full parameters (recorded in ``<out>/_params/<key>.json``; otherwise the trial
fails and says so). Trial keys are unique per point (a value that the readable key cannot tell apart, such
as a path shown by its stem, adds a hash of the point).
Heartbeats compare wall clocks: the machines of a cluster need synchronised clocks (NTP).

**Smoke.** ``--smoke`` overrides sizes to tiny (``smoke:``, or for ``03_finetune`` :data:`FINETUNE_SMOKE`)
and keeps only the first value of every grid axis that is not a row, column or ``best_by`` field of the
table; it uses its own study (``<name>-smoke``) and output folder (``<out>-smoke``), and a trial's
``profile`` becomes ``<profile>-smoke`` (its captions say SMOKE). The paper smoke
(:mod:`cxrlib.book.paper_smoke`) runs every sweep file this way, in a staged tree (``load_sweep(...,
workdir=...)``: notebooks and relative paths are read there) and with one shared kernel.

**Modules**, one job each:

* :mod:`cxrlib.training.sweeps.sweep_file`: the sweep file's keys and checks, :func:`load_sweep`, the
  :class:`Sweep` it becomes, trial keys (:func:`trial_key`) and what a trial runs (notebook or entry);
* :mod:`cxrlib.training.sweeps.storage`: the study storage (journal file or PostgreSQL, :func:`open_storage`,
  :func:`repair_journal`, :func:`journal_problem`) and the study (:func:`open_study`);
* :mod:`cxrlib.training.sweeps.workers`: the queue and its workers (:func:`reconcile`, :func:`fail_stale`, the
  heartbeat, :func:`execute_point`, :func:`work`);
* :mod:`cxrlib.training.sweeps.results`: the status of the trials (:func:`status_frame`) and the document's
  table from the finished ones beside the published one (:func:`sweep_table`, :func:`combined`);
* :mod:`cxrlib.training.sweeps.cli`: ``cxrlib sweep`` (:func:`add_arguments`, :func:`run_cli`), also
  ``python -m cxrlib.training.sweeps`` (what ``run --workers N`` starts in each worker process).

Every name below is importable from the package and loaded on first use. No torch at import; Optuna,
papermill and the entry module are imported when needed.
"""
from cxrlib.core.exports import lazy_exports
from cxrlib.core.repo import REPO  # noqa: F401 (``sweeps.REPO``: notebook 13 reads its sweep file below it)

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "sweep_file": [
        "FINETUNE_SMOKE", "TOP_KEYS", "TABLE_KEYS", "SweepError", "Sweep", "load_sweep", "trial_key", "format_value",
        "optuna_params", "as_list", "entry_callable", "notebook_path", "item_comparison",
    ],
    "storage": ["default_storage", "redact", "Store", "open_storage", "repair_journal", "journal_problem", "open_study"],
    "workers": [
        "KEY_ATTR", "POINT_ATTR", "ATTEMPT_ATTR", "HEARTBEAT_ATTR", "WORKER_ATTR", "ERROR_ATTR", "NOTE_ATTR",
        "PARAMS_RECORDS", "trial_timestamp", "fail_stale", "trials_by_key", "reconcile", "read_field",
        "run_finished", "check_reused_run", "execute_point", "work",
    ],
    "results": ["STATE_WORDS", "status_frame", "finished_trials", "sweep_table", "combined"],
    "cli": ["add_arguments", "run_cli", "main"],
})
