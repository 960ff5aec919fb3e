"""The main job end to end: every classroom notebook executes and the HTML book builds offline, warning-free."""
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from cxrlib.book import build

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_book():
    for run in build.discover_runs("classroom"):
        build.execute(run, "classroom")
    return build.build_html()


@pytest.mark.slow
def test_every_run_wrote_provenance_and_captioned_artifacts(built_book):
    for run in build.discover_runs("classroom"):
        out = REPO / run.out_dir
        record = json.loads((out / "provenance.json").read_text())
        assert record["params"]["profile"] == "classroom"
        assert record["artifacts"], f"{run.name} wrote no artifacts"
        for artifact in record["artifacts"]:
            assert (out / artifact["file"]).exists()
            for fact in ("dataset:", "split:", "image size:", "weights:", "profile: classroom", "seed:"):
                assert fact in artifact["caption"], f"{run.name}/{artifact['id']}: caption lacks '{fact}'"


@pytest.mark.slow
def test_html_pages_show_the_artifacts(built_book):
    assert built_book.exists()
    html_root = built_book.parent
    pages = {p.relative_to(html_root).as_posix(): p.read_text(errors="ignore") for p in html_root.rglob("*.html")}
    for run in build.discover_runs("classroom"):
        executed = f"book/_generated/{run.name}/{run.name}.html"
        assert executed in pages, f"executed notebook page {executed} missing"
    data_page = pages["book/data.html"]
    table1 = pd.read_csv(REPO / "book/_generated/01_data/d000_table1.csv")
    total = int(table1.loc[table1["class"] == "Total", "total"].iloc[0])
    assert f"<td><p>{total}</p></td>" in data_page, "the data chapter does not show Table 1's computed total"
    assert re.search(r"<img[^>]+d000", data_page) or "_images/" in data_page
