"""The download button of an executed notebook page serves the *clean* notebook, not the executed copy.

The theme's download button links ``_sources/<page>.ipynb``: for the pages under
``book/_generated/<run>/`` that is the executed copy with all outputs (the book renders executed
copies). This extension copies every ``notebooks/<nb>.ipynb`` (parameters cell, no outputs; tests check
it) into ``_notebooks/`` of the HTML output and makes the download button of each executed notebook page
serve the copy of its notebook (the run name before ``--``); the theme's notebook and "source file"
entries, which would serve the executed copy, are dropped there. Chapters link the same file through the card that
``cxrlib.book.teaching`` generates. No launch buttons: the executed copies live in a git-ignored folder,
so a launch link built from the page path would point at nothing in the repository.
"""
import re
import shutil
from pathlib import Path

FOLDER = "_notebooks"
_EXECUTED = re.compile(r"^book/_generated/(?P<run>[^/]+)/(?P=run)$")


def clean_notebook(srcdir, pagename):
    """``notebooks/<nb>.ipynb`` for an executed notebook page, else None."""
    match = _EXECUTED.match(pagename)
    if not match:
        return None
    path = Path(srcdir) / "notebooks" / f"{match['run'].split('--')[0]}.ipynb"
    return path if path.exists() else None


def _point_buttons(app, pagename, templatename, context, doctree):
    notebook = clean_notebook(app.srcdir, pagename)
    if notebook is None:
        return
    url = f"{context['pathto'](FOLDER, 1)}/{notebook.name}"
    for group in context.get("header_buttons", []):
        if group.get("label") != "download-buttons":
            continue
        buttons = [b for b in group["buttons"]
                   if b.get("label") not in ("download-source-button", "download-notebook-button")]
        group["buttons"] = [{"type": "link", "url": url, "text": ".ipynb (clean)", "icon": "fas fa-code",
                             "tooltip": "Download the clean notebook (parameters cell, no outputs)",
                             "label": "download-notebook-button"}, *buttons]


def _copy_notebooks(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    target = Path(app.outdir) / FOLDER
    target.mkdir(parents=True, exist_ok=True)
    for notebook in sorted((Path(app.srcdir) / "notebooks").glob("*.ipynb")):
        shutil.copyfile(notebook, target / notebook.name)


def setup(app):
    app.connect("html-page-context", _point_buttons, priority=900)
    app.connect("build-finished", _copy_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
