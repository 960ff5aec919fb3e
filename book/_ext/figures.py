"""Figures and captions people can read.

* **Alt text from the caption**: a figure's image gets the caption's description as ``alt`` (Sphinx
  would write the file path), without the run facts.
* **Description first, run facts second**: every caption that :class:`cxrlib.book.artifacts.RunArtifacts`
  writes ends with the run's facts in italics (``*dataset: ...; split: ...; profile: ...; seed: ...*``).
  That last emphasis gets the class ``run-facts``, which ``book/_vendor/figures.css`` sets as a compact
  second line under the description (the caption text itself is unchanged).
* **Click to enlarge**: ``book/_vendor/figures.js`` opens a figure's image at full size in an overlay
  (plain JavaScript shipped with the book, works from ``file://``); the CSS keeps a wide table's caption
  inside the page.
"""
import re

from docutils import nodes

from cxrlib.book.artifacts import CONTEXT_FIELDS

STATIC = ("figures.css", "figures.js")
_FACTS = re.compile(r"^(?:%s): " % "|".join(re.escape(f.replace("_", " ")) for f in CONTEXT_FIELDS))
FACTS_CLASS = "run-facts"


def run_facts(caption: nodes.Element) -> nodes.emphasis | None:
    """The caption's trailing emphasis when it holds the run facts (``dataset: ...``), else None."""
    children = [c for c in caption.children if not (isinstance(c, nodes.Text) and not c.astext().strip())]
    last = children[-1] if children else None
    if isinstance(last, nodes.emphasis) and _FACTS.match(last.astext()):
        return last
    return None


def description(caption: nodes.Element) -> str:
    """The caption's text without its run facts, on one line."""
    facts = run_facts(caption)
    text = "".join(c.astext() for c in caption.children if c is not facts)
    return " ".join(text.split())


def _captions(doctree):
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        if caption is not None:
            yield figure, caption
    for table in doctree.findall(nodes.table):
        title = next((c for c in table.children if isinstance(c, nodes.title)), None)
        if title is not None:
            yield table, title


def _readable(app, doctree, docname):
    for holder, caption in _captions(doctree):
        facts = run_facts(caption)
        if facts is not None:
            facts["classes"].append(FACTS_CLASS)
        if isinstance(holder, nodes.figure):
            text = description(caption)
            for image in holder.findall(nodes.image):
                if text and (not image.get("alt") or image.get("alt") == image.get("uri")):
                    image["alt"] = text


def setup(app):
    app.connect("doctree-resolved", _readable)
    for name in STATIC:
        (app.add_css_file if name.endswith(".css") else app.add_js_file)(name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
