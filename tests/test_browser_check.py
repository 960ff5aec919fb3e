"""The real-browser check (``cxrlib.book.browser_check``) on a tiny hand-written site: each kind of
breakage is found, a clean page passes. Needs Chromium (``bash scripts/chromium.sh install``)."""

import base64
import os

import pytest

from pathlib import Path

from cxrlib.book import browser_check as bc
from cxrlib.book import notebook_pages as pages
from cxrlib.book import roc_explorer

VENDOR = Path(__file__).resolve().parents[1] / "book" / "_vendor"

PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _browser_or_skip():
    try:
        return bc.find_browser()
    except bc.BrowserMissing as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have Chromium: {exc}")
        pytest.skip(str(exc))


def _page(body: str, title: str = "t") -> str:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>{body}</body></html>"


def _table(rows: int, columns: int) -> str:
    head = "<tr>" + "<th>h</th>" * columns + "</tr>"
    return "<table><thead>" + head + "</thead><tbody>" + ("<tr>" + "<td>1</td>" * columns + "</tr>") * rows + "</tbody></table>"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _browser_or_skip()
    root = tmp_path_factory.mktemp("site")
    (root / "_images").mkdir()
    (root / "_images" / "dot.png").write_bytes(PNG_1x1)
    (root / "_images" / "empty.png").write_bytes(b"")
    (root / "book" / "documents").mkdir(parents=True)
    (root / "index.html").write_text(_page(
        "<h1 id='top'>Clean</h1><p>See <a href='book/documents/d000.html#results'>results</a>, "
        "<a href='#top'>top</a>, <a href='https://example.org/x'>outside</a>.</p>"
        "<img src='_images/dot.png' alt='dot'><pre>$$ in code is fine: \\begin{x}</pre>"))
    (root / "book" / "documents" / "d000.html").write_text(_page(
        "<p><strong>Full-scale results: none.</strong></p><h2 id='results'>Results</h2><img src='../../_images/dot.png'>"
        + "<details><summary>long</summary>" + _table(25, 2) + "</details>"
        + "<div class='pst-scrollable-table-container'>" + _table(2, 12) + "</div>"))
    (root / "book" / "documents" / "d001.html").write_text(_page(  # no statement, long and wide tables bare
        "<p>Not transcribed (no published numbers).</p><p>Ours. No classroom run reproduces this item.</p>"
        + _table(25, 2) + _table(2, 12)))
    (root / "missing_image.html").write_text(_page(
        "<img src='_images/nope.png'><img src='_images/empty.png'><img src='_images/dot.png'>"))
    (root / "broken_link.html").write_text(_page(
        "<a href='nowhere.html'>a</a> <a href='index.html#no-such-anchor'>b</a> <a href='index.html#top'>ok</a>"))
    (root / "raw_math.html").write_text(_page("<p>The loss is $$x^2$$ and \\(y\\).</p>"))
    (root / "js_error.html").write_text(_page("<p>hi</p><script>throw new Error('boom')</script>"))
    (root / "mathjax_error.html").write_text(_page(
        "<mjx-container><mjx-merror data-mjx-error='Undefined control sequence \\foo'>"
        "<mjx-mtext>\\foo</mjx-mtext></mjx-merror></mjx-container>"))
    (root / "_static").mkdir()
    for script in ("roc_explorer.js", "figures.js"):
        (root / "_static" / script).write_text((VENDOR / script).read_text())
    data = {"source": "test", "images": 6, "findings": {
        "A": roc_explorer.finding_data([0, 1, 1, 0, 1, 0], [0.1, 0.4, 0.9, 0.3, 0.7, 0.8], steps=4),
        "B": roc_explorer.finding_data([1, 0, 0, 1, 0, 0], [0.2, 0.1, 0.6, 0.9, 0.3, 0.5], steps=4)}}
    widget = roc_explorer.render(data).split("\n\n", 1)[0]
    (root / "explorer.html").write_text(_page(widget + "<script src='_static/roc_explorer.js'></script>"))
    (root / "explorer_dead.html").write_text(_page(widget))  # the data without the script: nothing is drawn
    (root / "figure_ok.html").write_text(_page(
        "<figure><img src='_images/dot.png' alt='A readable description.'><figcaption>A readable description."
        "</figcaption></figure><script src='_static/figures.js'></script>"))
    (root / "figure_bad.html").write_text(_page("<figure><img src='_images/dot.png' alt='dot.png'></figure>"))
    shots = tmp_path_factory.mktemp("shots")
    problems = bc.check_site(root, screenshots_dir=shots)
    return root, shots, problems


def _on(problems, page, kind):
    return [p for p in problems if p.page == page and p.kind == kind]


@pytest.mark.slow
def test_clean_pages_pass(site):
    _, _, problems = site
    assert not [p for p in problems if p.page in ("index.html", "book/documents/d000.html")], problems


@pytest.mark.slow
def test_missing_and_empty_images_are_found(site):
    _, _, problems = site
    found = _on(problems, "missing_image.html", "image")
    assert len(found) == 2, found
    assert any("nope.png" in p.detail for p in found) and any("empty.png" in p.detail for p in found)


@pytest.mark.slow
def test_broken_links_and_anchors_are_found(site):
    _, _, problems = site
    found = _on(problems, "broken_link.html", "link")
    assert len(found) == 2, found
    assert any("nowhere.html" in p.detail for p in found)
    assert any("no-such-anchor" in p.detail for p in found)


@pytest.mark.slow
def test_unrendered_math_is_found(site):
    _, _, problems = site
    found = _on(problems, "raw_math.html", "math")
    assert {"'$$'", "'\\\\('"} <= {p.detail.split()[1] for p in found}, found
    assert _on(problems, "mathjax_error.html", "math"), "mjx-merror not reported"


@pytest.mark.slow
def test_javascript_errors_are_found(site):
    _, _, problems = site
    found = _on(problems, "js_error.html", "javascript")
    assert found and "boom" in found[0].detail, problems


@pytest.mark.slow
def test_the_threshold_explorer_moves_with_its_slider(site):
    _, _, problems = site
    assert not _on(problems, "explorer.html", "explorer"), problems
    dead = _on(problems, "explorer_dead.html", "explorer")
    assert dead and any("cell tp shows nothing" in p.detail for p in dead), dead


@pytest.mark.slow
def test_figures_need_alt_text_from_the_caption_and_click_to_enlarge(site):
    _, _, problems = site
    assert not _on(problems, "figure_ok.html", "figure"), problems
    bad = _on(problems, "figure_bad.html", "figure")
    assert len(bad) == 2 and any("alt text" in p.detail for p in bad) and any("enlarged" in p.detail for p in bad), bad


def test_explorer_mismatches_name_the_wrong_cell():
    data = {"source": "t", "images": 3, "findings": {"A": roc_explorer.finding_data([0, 1, 1], [0.1, 0.4, 0.9], steps=2)}}
    f = data["findings"]["A"]
    html = ("<table><tr><td data-cell='tp'>{tp}</td><td data-cell='fn'>{fn}</td><td data-cell='positives'>2</td></tr>"
            "<tr><td data-cell='fp'>1</td><td data-cell='tn'>0</td><td data-cell='negatives'>1</td></tr></table>"
            "<svg><circle data-roc-point='' data-fpr='1.0' data-tpr='{tpr}'></circle></svg>"
            "<span data-threshold='' data-value='{t}'></span>")
    right = html.format(tp=f["tp"][0], fn=2 - f["tp"][0], tpr=f["tp"][0] / 2, t=f["thresholds"][0])
    assert bc.explorer_mismatches(data, "A", 0, right) == []
    wrong = html.format(tp=0, fn=2, tpr=0.0, t=f["thresholds"][0])
    found = bc.explorer_mismatches(data, "A", 0, wrong)
    assert any("cell tp" in w for w in found) and any("data-tpr" in w for w in found)


@pytest.mark.slow
def test_only_the_expected_problems(site):
    _, _, problems = site
    expected = {"missing_image.html", "broken_link.html", "raw_math.html", "js_error.html", "mathjax_error.html",
                "explorer_dead.html", "figure_bad.html", "book/documents/d001.html"}
    assert {p.page for p in problems} == expected, [str(p) for p in problems]


@pytest.mark.slow
def test_document_pages_get_screenshots(site):
    _, shots, _ = site
    pngs = sorted(p.name for p in shots.glob("*.png"))
    assert pngs == ["book__documents__d000.png", "book__documents__d001.png"]
    assert (shots / pngs[0]).read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_command_line_exit_status(site, capsys):
    root, _, _ = site
    assert bc.main([str(root), "--page", "index.html"]) == 0
    assert bc.main([str(root), "--page", "js_error.html"]) == 1
    assert "boom" in capsys.readouterr().out


def test_dom_parser_hides_code_and_mathjax_output():
    dom = bc._parse(_page("<p>text</p><pre>$$a$$</pre><code>\\(b\\)</code><script>'\\['</script>"
                          "<mjx-container><mjx-c>\\begin{x}</mjx-c></mjx-container><p id='z'>more</p>"))
    assert dom.text == ["text", "more"]
    assert "z" in dom.ids


def _notebook_html(*cells: str) -> str:
    return "<html><body><main>" + "".join(cells) + "</main></body></html>"


def _cell(source: str, tags: str = "", output: str = "") -> str:
    out = f'<div class="cell_output docutils container">{output}</div>' if output else ""
    return (f'<div class="cell{(" " + tags) if tags else ""} docutils container"><div class="cell_input docutils '
            f'container"><pre><span class="n">{source}</span></pre></div>{out}</div>')


def test_notebook_page_rules_find_what_the_issue_saw():
    """Issue 25 item 6, on the rendered HTML of an executed-notebook page (no browser needed)."""
    bad = _notebook_html(
        _cell('out_dir = "out/x"', "tag_parameters"),
        _cell('# Parameters\nout_dir = "book/_generated/x"', "tag_injected-parameters"),
        _cell("validate_params(globals(), 'x', rules={})", output="<pre>data: /home/alice/data/x.csv</pre>"),
        _cell("run.figure(fig, 'f', 'c')\nplt.show()", "tag_remove-output"),
        "<p>Prose with a <a class='reference internal' href='#here'>link on this page</a>.</p>",
        _cell("run.finish()", output="<pre>PosixPath('book/_generated/x/provenance.json')</pre>"
                                     "<table><tr><td>NaN</td></tr></table>"))
    found = "\n".join(bc.notebook_page_problems(bad))
    for expected in ("a folder of the build machine", "a path repr", "validate_params", "shown 2 times",
                     "table cell shows NaN", "draws a figure but shows no image"):
        assert expected in found, (expected, found)


def test_a_prepared_notebook_page_passes():
    good = _notebook_html(
        _cell('out_dir = "book/_generated/x"  # see https://example.org/tmp/x and ~/.cache/x', "tag_parameters"),
        _cell(pages.VALIDATION_NOTE + "\nimport pandas as pd",
              output="<pre>weights in [site-packages]/timm, data in [data root]</pre>"),
        _cell("run.figure(fig, 'f', 'c')\nplt.show()", "tag_remove-output"),
        "<ul><li><p>figure <code>f</code>: <a class='reference internal' href='../../x.html#f'>The X chapter</a></p>"
        "</li></ul>",
        _cell("fig = draw()\nplt.show()", output="<img src='../../_images/f.png'>"),
        _cell("frame", output="<table><tr><td>–</td><td>0.5</td></tr></table>"))
    assert bc.notebook_page_problems(good) == []
def test_document_pages_say_the_full_scale_count_fold_long_tables_and_scroll_wide_ones():
    """The document-page checks on hand-written DOMs (no browser needed)."""
    good = _page("<p>Full-scale results: none.</p><details>" + _table(25, 2) + "</details>"
                 "<div class='pst-scrollable-table-container'>" + _table(2, 12) + "</div>" + _table(3, 3))
    assert bc.document_page_problems(good) == []
    bad = bc.document_page_problems(_page("<p>Not transcribed.</p><p>No classroom run reproduces this item.</p>"
                                          + _table(25, 2) + _table(2, 12)))
    assert len(bad) == 4
    assert any("full-scale" in p for p in bad) and any("25 rows" in p for p in bad)
    assert any("12 columns" in p for p in bad) and any("empty pair" in p for p in bad)


@pytest.mark.slow
def test_document_page_problems_are_reported_on_the_page(site):
    _, _, problems = site
    kinds = {p.detail.split(" ")[0] for p in _on(problems, "book/documents/d001.html", "document")}
    assert len(_on(problems, "book/documents/d001.html", "document")) == 4, kinds
    assert not _on(problems, "book/documents/d000.html", "document")
