"""The path through the book (issue 25, item 3): "What's next" is the next page of the sidebar, prerequisites
name earlier pages, and the documents' pages do not stand between the intro and the first lesson."""
from pathlib import Path

import pytest

from cxrlib.book import reading_path as rp

REPO = Path(__file__).resolve().parents[1]


def test_whats_next_is_the_next_page_and_prerequisites_come_earlier():
    """Every chapter page and every executed notebook's text (notebooks/*.ipynb)."""
    assert rp.path_problems(REPO) == []


def test_the_check_reads_every_chapter_and_notebook_of_the_sidebar():
    pages = rp.sidebar(REPO)
    texts = {p.file: rp.page_text(p, REPO) for p in pages}
    notebooks = [p for p in pages if p.notebook]
    assert len(notebooks) == len(list((REPO / "notebooks").glob("*.ipynb")))
    for page in notebooks:
        assert texts[page.file] and texts[page.file].whats_next, f"{page.notebook}: no What's next section"
        assert texts[page.file].prerequisites, f"{page.notebook}: no Prerequisites section"
    chapters = [p for p in pages if p.parent is None and any(q.parent == p.file for q in pages)]
    for page in chapters:
        assert texts[page.file].whats_next and texts[page.file].prerequisites, page.file


def test_notebook_numbers_follow_the_sidebar():
    """Issue 25 item 3: pressing Next meets notebook 01, 02, ... 13 in that order (03_finetune kept its name)."""
    order = [p.notebook for p in rp.sidebar(REPO) if p.notebook]
    numbers = [int(str(name).split("_", 1)[0]) for name in order]
    assert numbers == list(range(1, len(order) + 1)), order
    assert "03_finetune" in order


def test_the_first_lesson_follows_the_start_pages():
    """Next from the intro walks the "Start here" pages, then the first chapter with a notebook: no document
    page (generated, long) comes before it; the document pages are reached from the intro."""
    pages = rp.sidebar(REPO)
    first_lesson = next(i for i, p in enumerate(pages) if p.notebook)
    before = [p.file for p in pages[:first_lesson]]
    assert not [f for f in before if f.startswith("book/documents/") or "scoreboard" in f], before
    intro = (REPO / f"{pages[0].file}.md").read_text(encoding="utf-8")
    reached = set(rp.links(intro, pages[0].file))
    documents = {p.file for p in pages if p.file.startswith("book/documents/") or p.file.endswith("scoreboard")}
    assert documents and documents <= reached, f"the intro does not link {sorted(documents - reached)}"


def _toc(tmp_path, body: str) -> Path:
    (tmp_path / "_toc.yml").write_text(body, encoding="utf-8")
    return tmp_path


TOC = """format: jb-book
root: book/intro
parts:
  - caption: A
    chapters:
      - file: book/a
        sections:
          - file: book/_generated/01_x/01_x
      - file: book/b
        sections:
          - file: book/_generated/02_y/02_y
  - caption: B
    chapters:
      - file: book/c
"""


def test_next_page_skips_the_chapters_own_notebook(tmp_path):
    pages = rp.sidebar(_toc(tmp_path, TOC))
    assert [p.file for p in pages][:3] == ["book/intro", "book/a", "book/_generated/01_x/01_x"]
    assert rp.next_page(pages, "book/a") == "book/b"
    assert rp.next_page(pages, "book/_generated/01_x/01_x") == "book/b"
    assert rp.next_page(pages, "book/b") == "book/c"
    assert rp.next_page(pages, "book/c") is None
    assert rp.notebook_page(pages, "02") == "book/_generated/02_y/02_y"


def _page(tmp_path, name, whats_next, prerequisites):
    (tmp_path / "book").mkdir(exist_ok=True)
    (tmp_path / "book" / f"{name}.md").write_text(
        f"# {name}\n\n:::::{{admonition}} Prerequisites and time\n{prerequisites}\n:::::\n\n"
        f"## What's next\n\n{whats_next}\n\n## Exercises\n", encoding="utf-8")


def test_a_wrong_next_page_and_a_later_prerequisite_are_reported(tmp_path):
    _toc(tmp_path, TOC)
    _page(tmp_path, "a", "[C](c.md) first, then [B](b.md).", "- the [intro](intro.md); notebook 01")
    _page(tmp_path, "b", "[C](/book/c.md)", "- notebooks 01 (the counts) and 02; [C](c.md)")
    problems = rp.path_problems(tmp_path)
    assert any("book/a.md" in p and "book/c" in p and "next page of the sidebar is book/b" in p for p in problems)
    assert any("book/a.md" in p and "notebook 01" in p for p in problems)  # its own notebook comes after it
    assert any("book/b.md" in p and "notebook 02" in p for p in problems)
    assert any("book/b.md" in p and "prerequisite book/c" in p for p in problems)
    assert not any("book/b.md" in p and "notebook 01" in p for p in problems)
    assert not any("What's next" in p and "book/b.md" in p for p in problems)


@pytest.mark.parametrize("text, numbers", [
    ("a training loop (notebooks 03 and 04, [the ROC primer](roc_primer.md))", ["03", "04"]),
    ("notebooks 02 (the SSL checkpoint), 03 (fine-tuning) and 06 (its runs are read here)", ["02", "03", "06"]),
    ("contrastive learning (notebook 02, about 20 minutes); 10 % of the labels", ["02"]),
    ("no notebook here; 12 epochs", []),
])
def test_notebook_numbers(text, numbers):
    assert rp.notebook_numbers(text) == numbers


def test_links_resolve_to_sidebar_files():
    assert rp.links("[a](/book/pretrain.md#x), [b](statistics.md), {doc}`c <glossary>`, [w](https://x.org), "
                    "[f](../d.png)", "book/finetune") == ["book/pretrain", "book/statistics", "book/glossary"]
    assert rp.link_target("../../data.md", "book/_generated/01_data/01_data") == "book/data"
