"""The ROC primer's threshold explorer: its script and style on the pages that hold one.

``cxrlib.book.roc_explorer`` writes the widget's data into ``book/_teaching/roc-explorer.md`` (a raw HTML
block marked ``data-roc-explorer``); ``book/_vendor/roc_explorer.js`` and ``roc_explorer.css`` (plain files
shipped with the book, copied to ``_static/``) draw it. They are added only to pages whose HTML holds the
marker, so no other page loads them.
"""
from docutils import nodes

MARKER = "data-roc-explorer"
STATIC = ("roc_explorer.css", "roc_explorer.js")


def _has_explorer(doctree) -> bool:
    return any(MARKER in node.astext() for node in doctree.findall(nodes.raw) if "html" in node.get("format", ""))


def _add_assets(app, pagename, templatename, context, doctree):
    if doctree is not None and _has_explorer(doctree):
        for name in STATIC:
            (app.add_css_file if name.endswith(".css") else app.add_js_file)(name)


def setup(app):
    app.connect("html-page-context", _add_assets)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
