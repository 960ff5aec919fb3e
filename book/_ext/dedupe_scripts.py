"""Drop repeated <script> entries from every page.

sphinx-thebe (which Jupyter Book 1.x always loads) registers its inline configuration script on an
event that fires twice per build here, so each page declared ``const THEBE_JS_URL`` twice and the
browser raised "Identifier 'THEBE_JS_URL' has already been declared" (found by
``cxrlib.book.browser_check``). Keeping the first of identical scripts removes the error.
"""


def _key(script) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def _unique(scripts: list) -> None:
    seen, unique = set(), []
    for script in scripts:
        if _key(script) not in seen:
            seen.add(_key(script))
            unique.append(script)
    scripts[:] = unique


def _dedupe_builder(app):
    """Before any page is written: the builder's own list of scripts (shared by every page)."""
    for name in ("_js_files", "script_files"):
        scripts = getattr(app.builder, name, None)
        if isinstance(scripts, list):
            _unique(scripts)
    return []


def _dedupe_page(app, pagename, templatename, context, doctree):
    if isinstance(context.get("script_files"), list):
        _unique(context["script_files"])


def setup(app):
    app.connect("html-collect-pages", _dedupe_builder)
    app.connect("html-page-context", _dedupe_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
