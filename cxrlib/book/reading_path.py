"""The path through the book: the sidebar's order (``_toc.yml``) and what the pages say about it.

A reader who presses *Next* walks the sidebar. Two promises of every chapter page (``book/*.md``) and every
executed notebook page (its text lives in ``notebooks/<run>.ipynb``) follow from that order:

- its ``## What's next`` section opens with a link to the **next page of the sidebar** (for a chapter, the
  page after its own notebook pages; for a notebook page, the page after it);
- its **prerequisites** (a chapter's ``Prerequisites and time`` admonition, a notebook's ``## Prerequisites``
  section) name **earlier pages only**: a link to a page of the book, or a notebook by its number
  ("notebooks 03 and 04"), which stands for that notebook's page.

:func:`path_problems` lists what breaks them (``tests/test_reading_path.py``); :func:`sidebar` is the order,
read from ``_toc.yml``, which ``scripts/renumber_notebooks.py`` also reads. Light: stdlib, yaml, nbformat.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cxrlib.core.repo import REPO

TOC = "_toc.yml"
GENERATED_PREFIX = "book/_generated/"
WHATS_NEXT = "What's next"
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)|\{doc\}`(?:[^`<]*<)?(?P<doc>[^`>]+)>?`")
_NOTEBOOKS = re.compile(r"\bnotebooks?\s+\d{2}(?:(?:\s*\([^()]*\))?(?:,\s*|\s+and\s+|\s+or\s+)\d{2})*")
_PARENTHESES = re.compile(r"\([^()]*\)")
_NUMBER = re.compile(r"\b\d{2}\b")


@dataclass(frozen=True)
class Page:
    """One page of the sidebar: ``file`` as ``_toc.yml`` names it (``book/pretrain``,
    ``book/_generated/02_pretrain/02_pretrain``), ``parent`` the chapter it is a section of (or None)."""

    file: str
    parent: str | None = None

    @property
    def run(self) -> str | None:
        """The run of an executed notebook page (``02_pretrain``), None for a written page."""
        return self.file.split("/")[-1] if self.file.startswith(GENERATED_PREFIX) else None

    @property
    def notebook(self) -> str | None:
        """The notebook of an executed notebook page (the run's name before any ``--``)."""
        return self.run.split("--")[0] if self.run else None


def sidebar(repo: Path = REPO) -> list[Page]:
    """Every page of ``_toc.yml`` in the order the sidebar (and the *Next* button) shows it: the root, then
    each chapter followed by its sections."""
    import yaml

    toc = yaml.safe_load((Path(repo) / TOC).read_text(encoding="utf-8"))
    pages = [Page(toc["root"])]

    def walk(entries, parent):
        for entry in entries or []:
            if "file" in entry:
                pages.append(Page(entry["file"], parent))
            walk(entry.get("sections"), entry.get("file", parent))
            walk(entry.get("chapters"), parent)

    walk(toc.get("chapters"), None)
    for part in toc.get("parts", []):
        walk(part.get("chapters"), None)
    return pages


def next_page(pages: list[Page], file: str) -> str | None:
    """The page a reader reaches after ``file`` and the pages below it (its own sections)."""
    files = [p.file for p in pages]
    below = {file}
    for page in pages[files.index(file) + 1:]:
        if page.parent in below:
            below.add(page.file)
            continue
        return page.file
    return None


def notebook_page(pages: list[Page], number: str) -> str | None:
    """The page of the executed notebook ``<number>_*`` (its main run), None when the sidebar has none."""
    return next((p.file for p in pages if p.notebook and p.run == p.notebook and p.notebook.startswith(number + "_")),
                None)


def link_target(link: str, page: str) -> str | None:
    """The sidebar file a link of ``page`` points at (``/book/pretrain.md#x`` -> ``book/pretrain``); None for
    a link outside the book's pages (a URL, a download, an anchor of the same page)."""
    target = link.split("#")[0]
    if not target or "://" in target or target.startswith("mailto:"):
        return None
    target = target[:-3] if target.endswith(".md") else target[:-6] if target.endswith(".ipynb") else target
    if Path(target).suffix:
        return None
    if target.startswith("/"):
        return target.lstrip("/")
    parts = list(Path(page).parent.parts)
    for part in Path(target).parts:
        if part == "..":
            parts = parts[:-1]
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def links(text: str, page: str) -> list[str]:
    """The sidebar files that ``text`` of ``page`` links to, in order (Markdown links and ``{doc}`` roles)."""
    found = []
    for match in _LINK.finditer(text):
        target = link_target(match["target"] or match["doc"], page)
        if target:
            found.append(target)
    return found


def notebook_numbers(text: str) -> list[str]:
    """The notebook numbers ``text`` names: "notebook 02", "notebooks 03 and 04", "notebooks 02 (the SSL
    checkpoint), 03 (fine-tuning) and 06" (numbers inside the parentheses are not notebooks)."""
    numbers = []
    for match in _NOTEBOOKS.finditer(text):
        numbers += _NUMBER.findall(_PARENTHESES.sub("", match.group(0)))
    return numbers


def heading_section(markdown: str, heading: str) -> str | None:
    """The text under ``## <heading>`` (any level) up to the next heading of that level or higher."""
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"^(#+)\s+(.*?)\s*$", line)
        if match and match.group(2).lower().startswith(heading.lower()):
            level, body = len(match.group(1)), []
            for following in lines[index + 1:]:
                other = re.match(r"^(#+)\s", following)
                if other and len(other.group(1)) <= level:
                    break
                body.append(following)
            return "\n".join(body)
    return None


def admonition(markdown: str, title: str) -> str | None:
    """The body of the colon-fenced admonition whose title starts with ``title``."""
    match = re.search(r"^(?P<fence>:{3,})\{admonition\}\s*" + re.escape(title) + r".*?$(?P<body>.*?)^(?P=fence)\s*$",
                      markdown, re.M | re.S)
    return match["body"] if match else None


@dataclass(frozen=True)
class PageText:
    """What a page says about the path: its ``What's next`` section and its prerequisites (None: absent)."""

    whats_next: str | None
    prerequisites: str | None


def page_text(page: Page, repo: Path = REPO) -> PageText | None:
    """The path sections of a sidebar page: a written page from ``<file>.md``, an executed notebook page from
    the markdown cells of ``notebooks/<notebook>.ipynb``; None for a page without a source here (a generated
    document page before the build)."""
    repo = Path(repo)
    if page.notebook:
        import nbformat

        source = repo / "notebooks" / f"{page.notebook}.ipynb"
        if not source.exists():
            return None
        cells = nbformat.read(source, as_version=4).cells
        markdown = "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
        return PageText(heading_section(markdown, WHATS_NEXT), heading_section(markdown, "Prerequisites"))
    source = repo / f"{page.file}.md"
    if not source.exists():
        return None
    markdown = source.read_text(encoding="utf-8")
    return PageText(heading_section(markdown, WHATS_NEXT), admonition(markdown, "Prerequisites"))


def path_problems(repo: Path = REPO) -> list[str]:
    """Every page whose ``What's next`` does not open with a link to the next page of the sidebar, and every
    prerequisite that names a page at or after the page itself."""
    pages = sidebar(repo)
    order = {p.file: i for i, p in enumerate(pages)}
    problems = []
    for page in pages:
        text = page_text(page, repo)
        if text is None:
            continue
        where = f"notebooks/{page.notebook}.ipynb" if page.notebook else f"{page.file}.md"
        if text.whats_next is not None:
            expected = next_page(pages, page.file)
            found = links(text.whats_next, page.file)
            if expected and (not found or found[0] != expected):
                problems.append(f"{where}: \"What's next\" opens with {found[0] if found else 'no link'}, but the "
                                f"next page of the sidebar is {expected}")
        if text.prerequisites is not None:
            named = [(link, link) for link in links(text.prerequisites, page.file)]
            named += [(f"notebook {n}", notebook_page(pages, n)) for n in notebook_numbers(text.prerequisites)]
            for name, target in named:
                if target not in order:
                    problems.append(f"{where}: prerequisite {name} is no page of the sidebar")
                elif order[target] >= order[page.file]:
                    problems.append(f"{where}: prerequisite {name} ({target}) comes at or after this page")
    return problems
