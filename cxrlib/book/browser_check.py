"""Open every page of the built HTML book in headless Chromium and report what a reader would see broken.

Light (stdlib only, no torch). One Chromium process per page (``--dump-dom`` after
``--virtual-time-budget``, so MathJax has run), two at a time; the rendered DOM is parsed with
:mod:`html.parser`. A page fails on:

- ``image``: an ``<img>`` whose local file is missing, empty or not an image (PNG, JPEG, GIF, WebP,
  SVG), or whose source is remote (the book is read offline). ``--dump-dom`` carries no
  ``naturalWidth``, so "loads" means "the file exists and starts like an image";
- ``link``: an ``<a href>`` to a local page or file that does not exist, or to an anchor that no
  element of the target's rendered DOM carries as ``id`` (or ``<a name>``); a local ``<script src>``
  or stylesheet that does not exist;
- ``math``: ``$$``, ``\\(``, ``\\[`` or ``\\begin{`` left in the visible text (outside code, scripts and
  MathJax's own output) after MathJax ran, or a MathJax error node (``mjx-merror``);
- ``javascript``: an uncaught exception or rejected promise: Chromium (``--enable-logging=stderr
  --v=0``) prints console messages to stderr as ``CONSOLE`` lines and uncaught ones start with
  "Uncaught" (console.error and console.log print the same level there, so only uncaught errors count);
- ``figure``: an image of a ``<figure>`` whose ``alt`` text is empty or its file name (the alt text comes from
  the caption, ``book/_ext/figures.py``), or that ``book/_vendor/figures.js`` did not make enlargeable
  (class ``zoomable``);
- ``explorer``: the ROC primer's threshold explorer (a page holding ``data-roc-explorer``) does not show
  the embedded data: the page is opened again at ``#roc-explorer=<finding>:<index>`` for a few thresholds,
  which moves the slider through its ``input`` event, and the confusion matrix cells, the point on the ROC
  curve and the threshold shown must equal the counts of the page's JSON at that index;
- ``notebook``: an executed notebook page (below ``book/_generated/``) that does not read as an executed
  notebook (:func:`notebook_page_problems`; the pages are prepared by :mod:`cxrlib.book.notebook_pages`): a
  folder of the build machine (a home folder, ``/tmp/...``, a work or scratch mount) or a path repr (``PosixPath(...)``)
  in its text, the parameters shown twice (the parameters cell and papermill's injected one), a
  ``validate_params(...)`` call, a table cell reading NaN, or a cell that draws a figure (``plt.show()``,
  ``.figure(``) followed by neither an image nor a link to another page of the book;
- ``document``: a document page (``book/documents/*.html``) or the scoreboard that does not say in words how
  many items have a full-scale result (:data:`DOCUMENT_STATEMENT`), that shows a table of more than
  :data:`LONG_TABLE_ROWS` rows outside a dropdown (``<details>``), a table of more than
  :data:`WIDE_TABLE_COLUMNS` columns outside the theme's scrolling box, or an item's empty "Not transcribed /
  No classroom run" pair (:func:`document_page_problems`; the pages are written by :mod:`cxrlib.book.registry`);
- ``browser``: Chromium failed or returned no DOM.

With ``screenshots_dir`` each document page (``book/documents/*.html``) and the scoreboard
(a page named ``*scoreboard*``) is saved as a PNG (1280x2400); when the book has none of them, every
page is. ``python -m cxrlib.book.browser_check <html root> [--screenshots DIR]`` prints the problems
and exits 1 when there are any (3 when Chromium is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--hide-scrollbars", "--mute-audio")
VIRTUAL_TIME_MS = 8000
TIMEOUT_S = 90
WORKERS = 2
SKIP_DIRS = ("_static", "_sources", "_images", "_downloads")
RAW_MATH = ("$$", "\\(", "\\[", "\\begin{")
HIDDEN_TAGS = {"script", "style", "noscript", "template", "textarea", "pre", "code", "kbd", "samp",
               "mjx-container", "math", "svg", "head", "title"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
             "source", "track", "wbr"}
DOCUMENT_STATEMENT = "Full-scale results"
"""The words with which every document page and the scoreboard say how many items have a paper result."""
LONG_TABLE_ROWS = 20
"""A table with more rows is folded into a dropdown on a document page (cxrlib.book.registry writes them so)."""
WIDE_TABLE_COLUMNS = 8
"""A table with more columns says that it scrolls sideways, inside the theme's scrolling box."""
SCROLL_BOX = "pst-scrollable-table-container"
EMPTY_PAIR = ("Not transcribed", "No classroom run reproduces this item")
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF")
REFRESH = re.compile(r"""<meta[^>]+http-equiv=["']?refresh["']?[^>]*content=["'][^"']*url=([^"'>]+)""", re.I)
CONSOLE_LINE = re.compile(r":CONSOLE[:(]\d*\)?\]\s*\"(?P<msg>.*)\",\s*source:\s*(?P<src>.*)$")


@dataclass(frozen=True)
class Problem:
    page: str        # path of the page below the HTML root, e.g. "book/data.html"
    kind: str        # image | link | math | javascript | figure | explorer | notebook | document | browser
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: [{self.kind}] {self.detail}"


class BrowserMissing(RuntimeError):
    """No Chromium on this machine (``bash scripts/chromium.sh install`` installs Debian's)."""


def find_browser() -> str:
    """The Chromium executable: ``$CXRLIB_CHROMIUM`` or the first of :data:`BROWSER_NAMES` on PATH."""
    explicit = os.environ.get("CXRLIB_CHROMIUM")
    if explicit:
        return explicit
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing("no Chromium on PATH (install it with `bash scripts/chromium.sh install`)")


class _Dom(HTMLParser):
    """What the checks need from one rendered page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.images: list[str] = []
        self.assets: list[str] = []
        self.merrors: list[str] = []
        self.text: list[str] = []
        self._hidden = 0
        self._stack: list[tuple[str, bool]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("name"):
            self.ids.add(a["name"])
        if tag == "a" and a.get("href") is not None:
            self.links.append(a["href"])
        elif tag == "img":
            self.images.append(a.get("src") or "")
        elif tag == "script" and a.get("src"):
            self.assets.append(a["src"])
        elif tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or "").split():
            self.assets.append(a["href"])
        if tag == "mjx-merror" or "MathJax_Error" in (a.get("class") or "").split():
            self.merrors.append(a.get("data-mjx-error") or a.get("title") or "")
        if tag in VOID_TAGS:
            return
        hide = tag in HIDDEN_TAGS or tag.startswith("mjx-") or "hidden" in a
        self._stack.append((tag, hide))
        self._hidden += hide

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self._stack and self._stack[-1][0] == tag:
            self._hidden -= self._stack.pop()[1]

    def handle_endtag(self, tag):
        if tag in VOID_TAGS:
            return
        # pop up to the matching tag (tolerates unclosed elements)
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                for _, hide in self._stack[i:]:
                    self._hidden -= hide
                del self._stack[i:]
                return

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.text.append(data)


class _Widgets(HTMLParser):
    """Figure images and the threshold explorer's state in a rendered page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.figure_images: list[dict] = []
        self.cells: dict[str, str] = {}
        self.point: dict = {}
        self.threshold: dict = {}
        self._figures = 0
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag == "figure":
            self._figures += 1
        elif tag == "img" and self._figures:
            self.figure_images.append(a)
        if "data-cell" in a:
            self._cell = a["data-cell"]
            self.cells[self._cell] = ""
        if "data-roc-point" in a:
            self.point = a
        if "data-threshold" in a:
            self.threshold = a

    def handle_endtag(self, tag):
        if tag == "figure" and self._figures:
            self._figures -= 1
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self.cells[self._cell] += data


class _Tables(HTMLParser):
    """Each table of a page: its body rows, the cells of its widest row, whether it sits in a dropdown
    (``<details>``) and in the theme's scrolling box."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []
        self._open: list[tuple[str, bool, bool]] = []  # (tag, is details, is scroll box)
        self._table: dict | None = None
        self._cells = 0

    def _inside(self, index: int) -> bool:
        return any(entry[index] for entry in self._open)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in VOID_TAGS:
            return
        classes = (a.get("class") or "").split()
        if tag == "table" and self._table is None:
            self._table = {"rows": 0, "columns": 0, "folded": self._inside(1), "scrolls": self._inside(2)}
        elif tag == "tr" and self._table is not None:
            self._cells = 0
        elif tag in ("td", "th") and self._table is not None:
            self._cells += int(a.get("colspan") or 1)
        self._open.append((tag, tag == "details", SCROLL_BOX in classes))

    def handle_endtag(self, tag):
        if tag == "tr" and self._table is not None:
            self._table["rows"] += 1
            self._table["columns"] = max(self._table["columns"], self._cells)
        if tag == "table" and self._table is not None:
            self._table["rows"] = max(0, self._table["rows"] - 1)  # the header row
            self.tables.append(self._table)
            self._table = None
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                return


def document_page_problems(html: str) -> list[str]:
    """What a reader of a document page (or the scoreboard) would find wrong, from its rendered DOM: the
    full-scale statement absent, a long table not folded, a wide table outside the scrolling box, an empty
    "Not transcribed / No classroom run" pair."""
    problems = []
    text = " ".join(" ".join(_parse(html).text).split())
    if DOCUMENT_STATEMENT not in text:
        problems.append(f"no sentence saying how many items have a full-scale result ({DOCUMENT_STATEMENT!r})")
    start = text.find(EMPTY_PAIR[0])
    while start >= 0:
        if EMPTY_PAIR[1] in text[start:start + 200]:
            problems.append("an item shows the empty pair 'Not transcribed' / 'No classroom run' (one line is enough)")
            break
        start = text.find(EMPTY_PAIR[0], start + 1)
    tables = _Tables()
    tables.feed(html)
    for number, table in enumerate(tables.tables, 1):
        if table["rows"] > LONG_TABLE_ROWS and not table["folded"]:
            problems.append(f"table {number} has {table['rows']} rows outside a dropdown (fold it, show a summary)")
        if table["columns"] > WIDE_TABLE_COLUMNS and not table["scrolls"]:
            problems.append(f"table {number} has {table['columns']} columns outside a scrolling box")
    return problems


def _widgets(html: str) -> _Widgets:
    found = _Widgets()
    found.feed(html)
    found.close()
    return found


EXPLORER_MARK = "data-roc-explorer"
EXPLORER_DATA = re.compile(r'<script type="application/json" class="roc-explorer-data">(.*?)</script>', re.S)


def explorer_probes(data: dict) -> list[tuple[str, int]]:
    """(finding, threshold index) pairs the check moves the explorer to: both ends of the first finding's
    slider and the middle of the last finding's."""
    names = list(data["findings"])
    first, last = data["findings"][names[0]], data["findings"][names[-1]]
    return [(names[0], 0), (names[0], len(first["thresholds"]) - 1), (names[-1], len(last["thresholds"]) // 2)]


def explorer_mismatches(data: dict, finding: str, index: int, html: str) -> list[str]:
    """What the explorer shows at ``finding``/``index`` in the rendered ``html`` that differs from ``data``."""
    f = data["findings"][finding]
    tp, fp = f["tp"][index], f["fp"][index]
    expected = {"tp": tp, "fp": fp, "fn": f["positives"] - tp, "tn": f["negatives"] - fp,
                "positives": f["positives"], "negatives": f["negatives"]}
    shown = _widgets(html)
    wrong = []
    for cell, value in expected.items():
        text = shown.cells.get(cell, "").replace(",", "").strip()
        if text != str(value):
            wrong.append(f"{finding} at threshold #{index}: cell {cell} shows {repr(text) if text else 'nothing'}, "
                         f"the data say {value}")
    for axis, value in (("data-fpr", fp / f["negatives"]), ("data-tpr", tp / f["positives"])):
        try:
            ok = abs(float(shown.point.get(axis, "nan")) - value) < 1e-9
        except ValueError:
            ok = False
        if not ok:
            wrong.append(f"{finding} at threshold #{index}: the ROC point's {axis} is {shown.point.get(axis)!r}, not {value:.6g}")
    try:
        ok = float(shown.threshold.get("data-value", "nan")) == f["thresholds"][index]
    except ValueError:
        ok = False
    if not ok:
        wrong.append(f"{finding} at threshold #{index}: threshold {shown.threshold.get('data-value')!r} shown, "
                     f"not {f['thresholds'][index]!r}")
    return wrong


def _parse(html: str) -> _Dom:
    dom = _Dom()
    dom.feed(html)
    dom.close()
    return dom


def _run_browser(browser: str, args: list[str], url: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="cxr-chromium-") as profile:
        cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=TIMEOUT_S,
                              stdin=subprocess.DEVNULL)


def _dump(browser: str, page: Path, fragment: str = "") -> tuple[str, list[str], str]:
    """(rendered DOM, uncaught JS errors, browser failure or ""); ``fragment``: opened at ``#fragment``."""
    try:
        proc = _run_browser(browser, ["--enable-logging=stderr", "--v=0",
                                      f"--virtual-time-budget={VIRTUAL_TIME_MS}", "--dump-dom"],
                            page.resolve().as_uri() + (f"#{fragment}" if fragment else ""))
    except subprocess.TimeoutExpired:
        return "", [], f"Chromium did not finish in {TIMEOUT_S} s"
    errors = []
    for line in proc.stderr.splitlines():
        m = CONSOLE_LINE.search(line)
        if m and m["msg"].startswith("Uncaught"):
            errors.append(f"{m['msg']} (source: {m['src'].strip()})")
    failure = ""
    if proc.returncode != 0 or "<html" not in proc.stdout.lower():
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        failure = f"Chromium exit {proc.returncode}, no DOM: {tail}"
    return proc.stdout, errors, failure


def _screenshot(browser: str, page: Path, target: Path) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = _run_browser(browser, ["--window-size=1280,2400", f"--virtual-time-budget={VIRTUAL_TIME_MS}",
                                      f"--screenshot={target.resolve()}"], page.resolve().as_uri())
    except subprocess.TimeoutExpired:
        return f"screenshot: Chromium did not finish in {TIMEOUT_S} s"
    if proc.returncode != 0 or not target.exists() or target.stat().st_size == 0:
        return f"screenshot failed (exit {proc.returncode}) -> {target}"
    return ""


def _local_target(page: Path, ref: str) -> tuple[Path | None, str]:
    """The local file and fragment a reference points at; (None, "") for remote/scheme references."""
    parts = urlsplit(ref)
    if parts.scheme and parts.scheme != "file" or parts.netloc:
        return None, ""
    path = unquote(parts.path)
    if not path:
        target = page
    elif parts.scheme == "file" or path.startswith("/"):
        target = Path(path)
    else:
        target = page.parent / path
    if target.is_dir():
        target = target / "index.html"
    return target, unquote(parts.fragment)


def _is_image(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    if not head:
        return False
    if head.startswith(IMAGE_MAGIC):
        return True
    return b"<svg" in head.lower() or path.suffix.lower() == ".svg" and b"<" in head


NOTEBOOK_PAGES = "book/_generated/"
"""Where the executed notebook pages are, below the HTML root."""
MACHINE_PATH = re.compile(r"(?<![\w.:/~-])/(?:work|home|root|tmp|Users|mnt|scratch|private)/[^\s'\"<>]*")
PATH_REPR = re.compile(r"\b(?:Posix|Windows)Path\(")
NAN_CELL = re.compile(r"<td[^>]*>\s*(?:NaN|nan|&lt;NA&gt;|NaT)\s*</td>")
CELL_START = re.compile(r'<div class="cell(?P<tags>(?: [^"]*)?)"')
DRAWS = ("plt.show()", ".figure(")
_CHAPTER_LINK = re.compile(r"""<a [^>]*href=["'](?P<href>[^"'#]*\.html)(?:#[^"']*)?["']""")


def _visible_text(html: str) -> str:
    from html import unescape

    body = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return unescape(re.sub(r"<[^>]+>", "", body))


def notebook_page_problems(html: str) -> list[str]:
    """What keeps a rendered executed-notebook page from reading as an executed notebook (see ``notebook`` in
    the module docstring). A cell's stretch runs from its ``<div class="cell ...">`` to the next cell's, so a
    note after the cell (:mod:`cxrlib.book.notebook_pages`) counts for it."""
    problems = []
    main = html[html.find("<main"):] if "<main" in html else html
    text = _visible_text(main)
    for pattern, what in ((MACHINE_PATH, "a folder of the build machine"), (PATH_REPR, "a path repr")):
        found = pattern.search(text)
        if found:
            snippet = " ".join(text[max(0, found.start() - 40):found.end() + 40].split())
            problems.append(f"{what} in the page: ...{snippet}...")
    if "validate_params(" in text:
        problems.append("the validate_params(...) block is shown")
    cells = list(CELL_START.finditer(main))
    parameter_cells = [c for c in cells if {"tag_parameters", "tag_injected-parameters"} & set(c["tags"].split())]
    if len(parameter_cells) > 1:
        problems.append(f"the parameters are shown {len(parameter_cells)} times (parameters and injected-parameters cells)")
    if NAN_CELL.search(main):
        problems.append("a table cell shows NaN")
    for index, cell in enumerate(cells):
        end = cells[index + 1].start() if index + 1 < len(cells) else len(main)
        stretch = main[cell.start():end]
        source = _visible_text(stretch.split('<div class="cell_output', 1)[0])
        if not any(mark in source for mark in DRAWS):
            continue
        linked = [m["href"] for m in _CHAPTER_LINK.finditer(stretch) if "_generated/" not in m["href"]]
        if "<img" not in stretch and not linked:
            first = " ".join(source.split())[:80]
            problems.append(f"a cell draws a figure but shows no image and links to no chapter: {first}...")
    return problems


def _is_document_page(rel: str) -> bool:
    return rel.startswith("book/documents/") or "scoreboard" in Path(rel).stem.lower()


def site_pages(html_root: Path) -> list[Path]:
    """Every HTML page of the built book (not the theme's or Sphinx's own support folders)."""
    html_root = Path(html_root)
    return sorted(p for p in html_root.rglob("*.html")
                  if not any(part in SKIP_DIRS for part in p.relative_to(html_root).parts))


def check_site(html_root, *, screenshots_dir=None, pages=None, browser: str | None = None,
               workers: int = WORKERS) -> list[Problem]:
    """Open every page (or ``pages``: paths, absolute or below ``html_root``) in headless Chromium and
    return the problems found, in page order. Raises :class:`BrowserMissing` without Chromium."""
    html_root = Path(html_root).resolve()
    if not html_root.is_dir():
        raise FileNotFoundError(f"no HTML book at {html_root}")
    browser = browser or find_browser()
    if pages is None:
        todo = site_pages(html_root)
    else:
        todo = [p if Path(p).is_absolute() else html_root / p for p in map(Path, pages)]
    todo = [p.resolve() for p in todo]

    def rel(p: Path) -> str:
        try:
            return p.relative_to(html_root).as_posix()
        except ValueError:
            return str(p)

    explorers = {}
    for page in todo:
        served = page.read_text(errors="replace")
        match = EXPLORER_DATA.search(served) if EXPLORER_MARK in served else None
        if match:
            explorers[page] = json.loads(match.group(1))
    probes = [(page, finding, index) for page, data in explorers.items() for finding, index in explorer_probes(data)]

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        dumps = dict(zip(todo, pool.map(lambda p: _dump(browser, p), todo)))
        probed = list(pool.map(lambda probe: _dump(browser, probe[0], f"roc-explorer={probe[1]}:{probe[2]}"), probes))
        shots = {}
        if screenshots_dir is not None:
            wanted = [p for p in todo if _is_document_page(rel(p))] or todo
            targets = {p: Path(screenshots_dir) / (rel(p)[:-len(".html")].replace("/", "__") + ".png")
                       for p in wanted}
            shots = dict(zip(wanted, pool.map(lambda p: _screenshot(browser, p, targets[p]), wanted)))

    doms = {p: _parse(html) for p, (html, _, _) in dumps.items()}
    static_ids: dict[Path, set] = {}

    def ids_of(target: Path) -> set:
        if target in doms:
            return doms[target].ids
        if target not in static_ids:  # a page not opened this time: its served HTML
            static_ids[target] = _parse(target.read_text(errors="replace")).ids
        return static_ids[target]

    problems: list[Problem] = []
    for page in todo:
        name = rel(page)
        html, js_errors, failure = dumps[page]
        redirect = REFRESH.search(page.read_text(errors="replace")[:4000])
        if redirect:  # e.g. the root index.html: the browser shows the target, which is checked itself
            target, _ = _local_target(page, redirect[1].strip())
            if target is not None and not target.exists():
                problems.append(Problem(name, "link", f"redirect to {redirect[1]!r}: no file {rel(target)}"))
            continue
        if failure:
            problems.append(Problem(name, "browser", failure))
        for err in js_errors:
            problems.append(Problem(name, "javascript", err))
        dom = doms[page]
        for src in dom.images:
            if src.startswith("data:"):
                continue
            target, _ = _local_target(page, src)
            if target is None:
                problems.append(Problem(name, "image", f"<img src={src!r}> is remote (the book is read offline)"))
            elif not target.is_file():
                problems.append(Problem(name, "image", f"<img src={src!r}>: no file {rel(target)}"))
            elif not _is_image(target):
                problems.append(Problem(name, "image", f"<img src={src!r}>: {rel(target)} is empty or not an image"))
        for href in dom.links:
            target, fragment = _local_target(page, href)
            if target is None:
                continue
            if not target.exists():
                problems.append(Problem(name, "link", f"<a href={href!r}>: no file {rel(target)}"))
            elif fragment and target.suffix == ".html" and fragment not in ids_of(target.resolve()):
                problems.append(Problem(name, "link", f"<a href={href!r}>: {rel(target)} has no id {fragment!r}"))
        for src in dom.assets:
            target, _ = _local_target(page, src)
            if target is not None and not target.exists():
                problems.append(Problem(name, "link", f"script/stylesheet {src!r}: no file {rel(target)}"))
        for err in dom.merrors:
            problems.append(Problem(name, "math", f"MathJax error node mjx-merror {err!r}".rstrip()))
        text = " ".join(dom.text)
        for raw in RAW_MATH:
            start = text.find(raw)
            if start >= 0:
                snippet = " ".join(text[max(0, start - 40):start + 60].split())
                problems.append(Problem(name, "math", f"unrendered {raw!r} in the visible text: ...{snippet}..."))
        for image in _widgets(html).figure_images:
            alt, src = image.get("alt", "").strip(), image.get("src", "")
            if not alt or alt == src or alt == Path(unquote(urlsplit(src).path)).name:
                problems.append(Problem(name, "figure", f"<img src={src!r}> in a figure has no alt text from its caption"))
            if "zoomable" not in image.get("class", "").split():
                problems.append(Problem(name, "figure", f"<img src={src!r}> in a figure cannot be enlarged (figures.js)"))
        for (probe_page, finding, index), (probe_html, probe_errors, probe_failure) in zip(probes, probed):
            if probe_page != page:
                continue
            if probe_failure or probe_errors:
                problems.append(Problem(name, "explorer", probe_failure or "; ".join(probe_errors)))
                continue
            for wrong in explorer_mismatches(explorers[page], finding, index, probe_html):
                problems.append(Problem(name, "explorer", wrong))
        if name.startswith(NOTEBOOK_PAGES):
            problems.extend(Problem(name, "notebook", detail) for detail in notebook_page_problems(html))
        if _is_document_page(name) and html:
            problems += [Problem(name, "document", wrong) for wrong in document_page_problems(html)]
        if shots.get(page):
            problems.append(Problem(name, "browser", shots[page]))
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cxrlib.book.browser_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("html_root", type=Path, help="the built book, e.g. book/_build/html")
    parser.add_argument("--screenshots", type=Path, default=None, help="save document pages' screenshots here")
    parser.add_argument("--page", action="append", default=None, help="check only this page (repeatable)")
    args = parser.parse_args(argv)
    try:
        problems = check_site(args.html_root, screenshots_dir=args.screenshots, pages=args.page)
    except BrowserMissing as exc:
        print(f"browser_check: {exc}", file=sys.stderr)
        return 3
    n_pages = len(args.page) if args.page else len(site_pages(args.html_root))
    for problem in problems:
        print(problem)
    print(f"browser_check: {n_pages} pages, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
