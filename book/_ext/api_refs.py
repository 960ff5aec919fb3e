"""Cross-references of the API reference (``book/api.md``) to names it lists under their package.

The API page documents each layer's package (``cxrlib.stats``, ``cxrlib.training``, ...), so an object appears
as ``cxrlib.stats.delong_test``, not under the module that defines it. Docstrings name objects both ways
(``:func:`cxrlib.stats.bootstrap.redraw_counts```, ``:mod:`.finetune```, ``:data:`METHODS```), so when Sphinx
finds no target for a Python reference to ``cxrlib``, this resolves it in this order:

1. the same name listed under an enclosing package (``cxrlib.stats.bootstrap.redraw_counts`` ->
   ``cxrlib.stats.redraw_counts``);
2. a module or subpackage: the section of the nearest package the page documents;
3. a ``cxrlib`` name the page does not list (a chapter's helper, a private module): shown as code, unlinked.

References outside ``cxrlib`` are left to Sphinx, so ``-n`` still reports them.

Signatures: ``autodoc_preserve_defaults`` shows a default as written, but a dataclass's generated
``__init__`` has no source, so a default such as ``workdir=REPO`` (:class:`cxrlib.training.sweeps.Sweep`)
would show the build machine's checkout; :func:`_signature` names it ``REPO`` instead.
"""
from __future__ import annotations

from sphinx.util.nodes import make_refnode


def _target(node) -> str:
    target = node["reftarget"].lstrip(".~")
    module = node.get("py:module") or ""
    if target.startswith("cxrlib") or not module:
        return target
    return f"{module}.{target}"


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = _target(node)
    if not (target == "cxrlib" or target.startswith("cxrlib.")):
        return None
    domain = env.get_domain("py")
    parts = target.split(".")
    if node.get("reftype") != "mod":
        for end in range(len(parts) - 1, 0, -1):
            candidate = ".".join([*parts[:end], parts[-1]])
            entry = domain.objects.get(candidate)
            if entry is not None:
                return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, candidate)
    for end in range(len(parts), 0, -1):
        entry = domain.modules.get(".".join(parts[:end]))
        if entry is not None:
            return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, target)
    return contnode


def _signature(app, what, name, obj, options, signature, return_annotation):
    """``signature`` with the checkout's folder (the value of :data:`cxrlib.core.repo.REPO`) named ``REPO``."""
    if not signature:
        return None
    from cxrlib.core.repo import REPO

    shown = signature
    for value in (repr(REPO), repr(str(REPO)), str(REPO)):
        shown = shown.replace(value, "REPO")
    return (shown, return_annotation) if shown != signature else None


def setup(app):
    app.connect("missing-reference", _resolve)
    app.connect("autodoc-process-signature", _signature)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
