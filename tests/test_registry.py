"""The reproduction registry (cxrlib/published/registry/): valid items, statuses computed from run folders,
pages in document order, README's block up to date. Fast: no notebook runs, no HTML build."""
import ast
import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

from cxrlib import published
from cxrlib.book import registry
from cxrlib.core import staging
from cxrlib.published import align

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = registry.load_registry()
ITEMS = [item for document in DOCUMENTS for item in document.items]
PAPERS = REPO.parent / "shared" / "papers"  # the source documents beside the checkout


def _notebook_artifact_ids(notebook: str) -> list[re.Pattern]:
    """Artifact ids the notebook writes with ``run.table/figure`` (f-string fields match anything)."""
    source = (REPO / "notebooks" / f"{notebook}.py").read_text(encoding="utf-8")
    patterns = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("table", "figure")
                and len(node.args) > 1):
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                patterns.append(re.compile(re.escape(arg.value)))
            elif isinstance(arg, ast.JoinedStr):
                patterns.append(re.compile("".join(re.escape(p.value) if isinstance(p, ast.Constant) else ".+"
                                                   for p in arg.values)))
    return patterns


def _writes(notebook: str, artifact: str) -> bool:
    return any(p.fullmatch(artifact) for p in _notebook_artifact_ids(notebook))


def test_five_documents_with_unique_item_ids():
    assert [d.number for d in DOCUMENTS] == ["000", "001", "002", "003", "004"]
    ids = [item.id for item in ITEMS]
    assert len(ids) == len(set(ids)), f"repeated ids: {sorted({i for i in ids if ids.count(i) > 1})}"
    for document in DOCUMENTS:
        assert document.summary and document.deviations and document.items
        for item in document.items:
            assert item.id.startswith(f"d{document.number}_"), item.id
            assert item.kind in registry.KINDS and item.title and item.where


def test_every_table_and_figure_the_brief_names_is_listed():
    ids = {item.id for item in ITEMS}
    expected = ({f"d000_table{n}" for n in range(1, 9)} | {f"d000_fig{n}" for n in range(1, 6)}
                | {f"d001_table{n}" for n in range(1, 6)} | {f"d001_fig{n}" for n in range(1, 5)}
                | {f"d002_table{n}" for n in range(1, 4)} | {f"d002_fig{n}" for n in range(1, 6)}
                | {"d003_system1", "d003_system2", "d003_system3", "d003_chexpert"}
                | {f"d004_table{n}" for n in range(1, 6)} | {"d004_fig3_1", "d004_fig3_2", "d004_fig5_1", "d004_fig5_2", "d004_fig5_3"})
    assert expected <= ids, f"not in the registry: {sorted(expected - ids)}"


def test_published_ids_exist_and_belong_to_the_document():
    entries = published.index()
    for item in ITEMS:
        if item.published:
            assert item.published in entries, f"{item.id}: no published table {item.published}"
            assert str(entries[item.published]["document"]) == item.document, item.id


def test_runs_and_artifacts_exist():
    for item in ITEMS:
        if item.classroom:
            run, artifact = item.classroom["run"], item.classroom["artifact"]
            assert (REPO / "params" / "classroom" / f"{run}.yaml").exists(), f"{item.id}: no classroom run {run}"
            assert _writes(run.split("--")[0], artifact), f"{item.id}: notebook {run} does not write {artifact}"
            for block in item.beside:
                if block.exact:
                    assert _writes(run.split("--")[0], block.artifact or artifact), f"{item.id}: {block}"
        for run in item.paper_runs:
            assert (REPO / "params" / "paper" / f"{run}.yaml").exists(), f"{item.id}: no paper run {run}"
            assert (REPO / "notebooks" / f"{run.split('--')[0]}.py").exists()
        if item.paper and item.paper.get("artifact"):
            assert any(_writes(r.split("--")[0], item.paper["artifact"]) for r in item.paper_runs), item.id
        if item.sweep:
            assert (REPO / "params" / "sweeps" / f"{item.sweep}.yaml").exists(), f"{item.id}: no sweep {item.sweep}"
        assert item.classroom or item.paper_runs or item.described or item.missing, f"{item.id}: says nothing"
        if item.kind == "schematic":
            assert item.described or item.missing, f"{item.id}: a schematic says where it is implemented"
        for block in item.beside:
            if block.exact:
                assert item.published and item.classroom, f"{item.id}: an exact block needs published numbers and an artifact"
            if block.sweep_table:
                assert item.sweep, f"{item.id}: a sweep_table block belongs to an item with a sweep"


def test_document_texts_mention_each_item():
    if not PAPERS.exists():
        pytest.skip("source documents not here")
    words = {"table": ("TABLE", "Table"), "figure": ("FIGURE", "Figure", "Fig.")}
    for document in DOCUMENTS:
        text = (PAPERS / next(i for i in [document.paper])).read_text(encoding="utf-8", errors="ignore")
        for item in document.items:
            match = re.fullmatch(r"d\d{3}_(table|fig)(\w+)", item.id)
            if not match:
                continue
            number = match.group(2).replace("_", ".")
            roman = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}
            labels = [f"{w} {n}" for w in words["table" if match.group(1) == "table" else "figure"]
                      for n in (number, roman.get(number, number))]
            assert any(label in text for label in labels), f"{item.id}: none of {labels} in {document.paper}"


# ------------------------------------------------------------------------------- statuses on fake folders
def _fake_run(repo: Path, run: str, profile: str, files: dict[str, str]) -> None:
    folder = repo / "book" / "_generated" / run
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "provenance.json").write_text(json.dumps({"params": {"profile": profile}}))
    staging.write_marker(folder)


@pytest.fixture
def fake_repo(tmp_path):
    for profile, names in {"classroom": ["01_data"], "paper": ["01_data", "03_finetune--x"], "smoke": ["01_data", "03_finetune"]}.items():
        (tmp_path / "params" / profile).mkdir(parents=True)
        for name in names:
            (tmp_path / "params" / profile / f"{name}.yaml").write_text("seed: 0\n")
    return tmp_path


def _item(**fields):
    base = dict(document="000", id="d000_table1", title="t", kind="table", where="w")
    return registry.Item(**{**base, **fields})


def _totals():
    return align.Comparison.from_entry({"name": "totals", "keys": "class", "values": ["total", "test"], "exact": True},
                                       item="d000_table1", published="d000_table1")


def test_status_exact_classroom_when_the_artifact_equals_the_published_numbers(fake_repo):
    theirs = published.load("d000_table1").frame
    _fake_run(fake_repo, "01_data", "classroom", {"d000_table1.csv": theirs[["class", "total", "test"]].to_csv(index=False)})
    item = _item(published="d000_table1", classroom={"run": "01_data", "artifact": "d000_table1"},
                 beside=(_totals(),))
    status = registry.item_status(item, fake_repo)
    assert status.names == ["exact", "classroom"]
    assert status.comparisons[0]["differing"] == 0


def test_status_classroom_only_when_a_cell_differs(fake_repo):
    ours = published.load("d000_table1").frame[["class", "total", "test"]].copy()
    ours.loc[0, "test"] += 3
    _fake_run(fake_repo, "01_data", "classroom-smoke", {"d000_table1.csv": ours.to_csv(index=False)})
    item = _item(published="d000_table1", classroom={"run": "01_data", "artifact": "d000_table1"},
                 beside=(_totals(),))
    status = registry.item_status(item, fake_repo)
    assert status.names == ["classroom"] and status.profile == "classroom-smoke"
    assert status.comparisons[0]["differing"] == 1 and status.comparisons[0]["max_abs_diff"] == 3


def test_status_paper_run_ready_and_missing(fake_repo):
    item = _item(paper={"runs": ["03_finetune--x"], "artifact": "ft_test_auroc"})
    assert registry.item_status(item, fake_repo).names == ["paper: ready"]
    _fake_run(fake_repo, "03_finetune--x", "paper", {"ft_test_auroc.csv": "a\n1\n"})
    assert registry.item_status(item, fake_repo).names == ["paper: run"]
    absent = _item(paper={"runs": ["03_finetune--nope"]})
    assert registry.item_status(absent, fake_repo).names == ["missing"]
    # a smoke-profile paper folder is not a paper run
    smoke = _item(paper={"runs": ["01_data"]})
    _fake_run(fake_repo, "01_data", "paper-smoke", {})
    assert registry.item_status(smoke, fake_repo).names == ["paper: ready"]


def test_status_missing_with_its_reason_and_described(fake_repo):
    unbuilt = _item(classroom={"run": "01_data", "artifact": "d000_table1"})
    status = registry.item_status(unbuilt, fake_repo)
    assert status.names == ["missing"] and "not been built" in status.why["missing"]
    blocked = _item(missing="weights not public")
    assert registry.item_status(blocked, fake_repo).why["missing"] == "weights not public"
    drawing = _item(kind="schematic", described="a drawing")
    assert registry.item_status(drawing, fake_repo).names == ["described"]


# ------------------------------------------------------------------------------------------- rendering
def test_pages_list_every_item_in_document_order(tmp_path):
    shown = registry.chapter_artifacts(REPO)
    for document in DOCUMENTS:
        page = registry.render_document(document, tmp_path, shown=shown, included=set())
        positions = [page.index(f"## {item.id}:") for item in document.items]
        assert positions == sorted(positions), document.number
        assert "## Protocol deviations" in page
    scoreboard = registry.render_scoreboard(DOCUMENTS, tmp_path)
    for item in ITEMS:
        assert f"<reg-{item.id.replace('_', '-')}>" in scoreboard


def test_pages_include_only_built_artifacts_that_no_chapter_shows(tmp_path):
    """A chapter owns the artifacts it includes (tests/test_book.py): document pages link to them and
    include only the others, once."""
    shown = registry.chapter_artifacts(REPO)
    for item in ITEMS:
        if item.classroom:
            run, artifact = item.classroom["run"], item.classroom["artifact"]
            _fake = tmp_path / "book" / "_generated" / run
            if not (_fake / "COMPLETE.json").exists():
                _fake.mkdir(parents=True, exist_ok=True)
                (_fake / "COMPLETE.json").write_text("{}")
                (_fake / "provenance.json").write_text(json.dumps({"params": {"profile": "classroom"}}))
            (_fake / f"{artifact}.png").write_text("")
    included, pages = set(), []
    for document in DOCUMENTS:
        pages.append(registry.render_document(document, tmp_path, shown=shown, included=included))
    text = "\n".join(pages)
    includes = re.findall(r"\{include\} \.\./_generated/([^/]+)/(\S+)\.md", text)
    assert len(includes) == len(set(includes))
    for run, artifact in includes:
        assert (run, artifact) not in shown, f"{run}/{artifact} is already shown by chapter {shown[(run, artifact)]}"
    sys.path.insert(0, str(REPO / "tests"))
    import test_book

    chapter_keys = {(n, a) for _, n, a in test_book.chapter_artifacts()}
    assert chapter_keys == {(r.split("--")[0], a) for r, a in shown}


def test_chexnet_leakage_is_counted_from_the_lists():
    try:
        facts = registry.chexnet_leakage()
    except FileNotFoundError:
        pytest.skip("NIH split lists not in the data root")
    assert facts["official_test"] == 25596
    assert facts["test_in_chexnet_train"] == 17920


def test_readme_block_is_up_to_date():
    assert registry.update_readme(REPO, check=True), "README's registry block is stale: python -m cxrlib.book.registry readme"


def test_pipe_table_escapes_pipes_and_shows_missing_values_as_every_table_does():
    table = registry.pipe_table(pd.DataFrame({"a": ["x|y", None], "b": [1234567.0, float("nan")]}))
    assert "x\\|y" in table and "1,234,567" in table
    assert table.splitlines()[-1] == "| – | – |"  # one rendering of a missing value (cxrlib.core.runs.markdown_table)
