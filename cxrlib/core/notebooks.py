"""Executing a notebook with papermill, in a fresh kernel or in one kernel shared by many notebooks.

``cxrlib book`` and ``cxrlib sweep`` execute notebooks with papermill, each in a kernel of its own (the
book's rule: a notebook never sees another's state). Smoke builds (``cxrlib book --smoke``, the paper
smoke harness :mod:`cxrlib.book.paper_smoke`, the test suite's smoke book) run dozens of notebooks at tiny
sizes, where starting a kernel and importing torch, timm and Lightning costs more than the run itself;
they pass a :class:`SharedKernel`,
and every notebook then starts with a cell (:data:`RESET_SOURCE`) that clears the kernel's namespace (``%reset -f``) and
returns to the working folder, so a name that a notebook forgets to import still fails. Modules stay
imported (that is the saving); library state kept in module globals is the one thing shared.

**Transport encryption.** Every kernel this module starts gets CurveZMQ keys from its kernel manager
(:data:`TRANSPORT_ENCRYPTION`, jupyter_client's ``KernelManager.transport_encryption``; the pinned
ipykernel's kernelspec declares ``supported_encryption: curve``), so the kernel's sockets on loopback are
encrypted and ipykernel no longer logs "Kernel is running over TCP without encryption" for every notebook
of a build. ``auto``: a kernelspec without Curve support still runs, unencrypted, as before.

Papermill is imported when a notebook runs (this module stays light).
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

RESET_TAG = "shared-kernel-reset"
RESET_SOURCE = "%reset -f\nimport gc as _gc, os as _os\n_gc.freeze()\n_os.chdir({cwd!r})\ndel _gc, _os"
"""The first cell of every notebook in a :class:`SharedKernel`: clear the namespace (``%reset -f``, which
also collects the garbage), then move what survives (the imported modules and their caches) to the
collector's permanent generation (``gc.freeze``), so that no later collection scans those ~0.5 M objects of
torch, timm, pandas and Lightning again (measured: a smoke book's notebooks ~15 % faster), and return to the
working folder."""
TRANSPORT_ENCRYPTION = "auto"
"""``KernelManager.transport_encryption`` of every kernel started here (see the module docstring)."""


class SharedKernel:
    """One Jupyter kernel for several :func:`execute_notebook` calls; close it (or use ``with``) at the end."""

    def __init__(self, kernel_name: str = "python3") -> None:
        from jupyter_client.manager import AsyncKernelManager

        self.kernel_name = kernel_name
        self.manager = AsyncKernelManager(kernel_name=kernel_name, transport_encryption=TRANSPORT_ENCRYPTION)
        self.runs = 0

    def close(self) -> None:
        from jupyter_client.utils import run_sync

        if self.manager.has_kernel:
            run_sync(self.manager.shutdown_kernel)(now=True)

    def __enter__(self) -> SharedKernel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _with_reset_cell(notebook: Path, cwd: Path):
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(RESET_SOURCE.format(cwd=str(cwd)))
    cell.metadata["tags"] = [RESET_TAG, "remove-cell"]
    nb.cells.insert(0, cell)
    return nb


def execute_notebook(notebook: str | os.PathLike, output: str | os.PathLike, parameters: dict, cwd: str | os.PathLike,
                     *, kernel: SharedKernel | None = None, kernel_name: str = "python3",
                     log_output: bool = False) -> None:
    """Run ``notebook`` with ``parameters`` into ``output`` (papermill), working in ``cwd``; in ``kernel``
    when given (after clearing its namespace), else in a kernel of its own. A failing cell raises
    papermill's ``PapermillExecutionError``."""
    import papermill
    from traitlets.config import Config

    source: Any = str(notebook)
    # a kernel of its own: nbclient makes its manager from this configuration
    extra: dict[str, Any] = {"config": Config({"KernelManager": {"transport_encryption": TRANSPORT_ENCRYPTION}})}
    if kernel is not None:
        source = _with_reset_cell(Path(notebook), Path(cwd).resolve())
        extra["km"] = kernel.manager
        kernel_name = kernel.kernel_name
        kernel.runs += 1
    papermill.execute_notebook(source, str(output), parameters=parameters, kernel_name=kernel_name, cwd=str(cwd),
                               progress_bar=False, log_output=log_output, **extra)
