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
            tables = item.classroom.get("beside_table") or []
            for table in [tables] if isinstance(tables, str) else tables:
                assert _writes(run.split("--")[0], table), f"{item.id}: notebook {run} does not write {table}"
            if item.classroom.get("figure"):
                assert _writes(run.split("--")[0], item.classroom["figure"]), f"{item.id}: no figure {item.classroom['figure']}"
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
    assert status.names == ["exact", "classroom analogue"]
    assert status.comparisons[0]["differing"] == 0


def test_status_classroom_only_when_a_cell_differs(fake_repo):
    ours = published.load("d000_table1").frame[["class", "total", "test"]].copy()
    ours.loc[0, "test"] += 3
    _fake_run(fake_repo, "01_data", "classroom-smoke", {"d000_table1.csv": ours.to_csv(index=False)})
    item = _item(published="d000_table1", classroom={"run": "01_data", "artifact": "d000_table1"},
                 beside=(_totals(),))
    status = registry.item_status(item, fake_repo)
    assert status.names == ["classroom analogue"] and status.profile == "classroom-smoke"
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


# ------------------------------------------------------------- statuses that mean what they say (issue 24)
def _learning(folder: Path, learned: bool, where: str = ".") -> None:
    from cxrlib.stats.learning import check_learning

    target = folder / where
    target.mkdir(parents=True, exist_ok=True)
    check = (check_learning(estimate=0.9, ci_low=0.85, ci_high=0.95, final_loss=0.3, no_information=0.69) if learned
             else check_learning(estimate=0.52, ci_low=0.45, ci_high=0.6, final_loss=0.69, no_information=0.69))
    (target / "learning.json").write_text(json.dumps(check.to_dict()))


def test_a_model_that_failed_its_learning_check_is_a_pipeline_demo_not_an_analogue(fake_repo):
    _fake_run(fake_repo, "03_finetune", "classroom", {"ft_test_auroc.csv": "class,auroc\nPneumonia,0.9\n"})
    folder = fake_repo / "book" / "_generated" / "03_finetune"
    item = _item(classroom={"run": "03_finetune", "artifact": "ft_test_auroc"})
    status = registry.item_status(item, fake_repo)  # no check recorded: an analogue, and the line says so
    assert status.names == ["classroom analogue"] and "no trained model's learning check" in status.why["classroom analogue"]
    _learning(folder, learned=True, where="ssl")
    status = registry.item_status(item, fake_repo)
    assert status.names == ["classroom analogue"] and "1 learning check(s) passed" in status.why["classroom analogue"]
    _learning(folder, learned=False, where="random")
    status = registry.item_status(item, fake_repo)
    assert status.names == ["pipeline demo"], status.names
    assert "`03_finetune/random` did not learn" in status.why["pipeline demo"] and "NO" in status.why["pipeline demo"]
    # an item that reads only the model that learned stays an analogue
    only_ssl = _item(classroom={"run": "03_finetune", "artifact": "ft_test_auroc", "checks": ["03_finetune/ssl"]})
    assert registry.item_status(only_ssl, fake_repo).names == ["classroom analogue"]
    # an item that reads another run's model (a probe of notebook 02's encoder) follows that run's check
    _fake_run(fake_repo, "02_pretrain", "classroom", {})
    _learning(fake_repo / "book" / "_generated" / "02_pretrain", learned=False)
    probe = _item(classroom={"run": "03_finetune", "artifact": "ft_test_auroc", "checks": ["02_pretrain", "03_finetune/ssl"]})
    assert "`02_pretrain` did not learn" in registry.item_status(probe, fake_repo).why["pipeline demo"]
    # an artifact that involves no trained model (augmented views) is not judged by any check
    views = _item(classroom={"run": "03_finetune", "artifact": "ft_test_auroc", "checks": []})
    status = registry.item_status(views, fake_repo)
    assert status.names == ["classroom analogue"] and "no trained model is involved" in status.why["classroom analogue"]
    counts = registry.status_counts([registry.Document("000", "p", "s", "t", "s", (), (item, only_ssl))], fake_repo)
    assert counts["000"]["pipeline demo"] == 1 and counts["000"]["classroom analogue"] == 1


def test_a_run_that_asks_another_question_is_a_pipeline_demo_with_its_reason(fake_repo):
    _fake_run(fake_repo, "03_finetune", "classroom", {"ft_test_auroc.csv": "class,auroc\nPneumonia,0.9\n"})
    _learning(fake_repo / "book" / "_generated" / "03_finetune", learned=True)
    item = _item(classroom={"run": "03_finetune", "artifact": "ft_test_auroc", "demo": "binary Kermany, not 15 classes"})
    status = registry.item_status(item, fake_repo)
    assert status.names == ["pipeline demo"] and status.why["pipeline demo"].endswith("binary Kermany, not 15 classes")
    page = registry.render_item(item, fake_repo, shown={}, included=set())
    assert "{bdg-dark}`pipeline demo`" in page and "a **pipeline demo**, not an analogue" in page


def test_a_paper_file_that_asks_another_question_is_not_paper_ready(fake_repo):
    item = _item(paper={"runs": ["03_finetune--x"], "differs": "it trains a binary classifier"})
    status = registry.item_status(item, fake_repo)
    assert status.names == ["missing"] and status.why["missing"].endswith("it trains a binary classifier")


def test_unknown_classroom_fields_are_refused(tmp_path):
    (tmp_path / "d009.yaml").write_text("document: '009'\npaper: p\nshort: s\ntitle: t\nsummary: s\nitems:\n"
                                        "  - {id: d009_x, title: t, kind: table, where: w, classroom: {run: r, artifact: a, dmeo: x}}\n")
    with pytest.raises(ValueError, match="dmeo"):
        registry.load_registry(tmp_path)


def test_every_audited_item_is_a_demo_or_blocked_as_the_documents_require():
    """Issue 24's audit against the documents: these classroom runs ask another question (a demo by
    declaration), and these items need ME2/ME4's six-data-set pool or more data sets (missing in part)."""
    by_id = {item.id: item for item in ITEMS}
    demos = ["d000_table4", "d000_table7", "d000_table8", "d000_fig3", "d000_fig4", "d000_fig5", "d001_fig3",
             "d001_table4", "d001_fig4", "d004_fig4_3", "d004_fig4_4", "d004_fig4_6", "d004_best_checkpoints",
             "d004_table3", "d004_fig5_1"]
    for item_id in demos:
        assert by_id[item_id].classroom.get("demo"), item_id
    for item_id in ["d001_fig4", "d004_fig4_3", "d004_fig4_4", "d004_fig5_1", "d004_fig5_2", "d004_best_checkpoints"]:
        assert by_id[item_id].missing, item_id
    assert by_id["d003_system3"].paper.get("differs")
    assert {"d003_literature", "d003_encoders", "d003_encoders_xception", "d003_training_validation"} <= set(by_id)
    assert by_id["d003_literature"].published == "d003_literature"


# ------------------------------------------------------------------- pages: theirs beside ours, readable
def test_a_page_sets_the_published_rows_beside_ours_with_the_scale_in_words(fake_repo):
    ours = published.load("d000_table1").frame[["class", "total", "test"]].copy()
    ours.loc[0, "test"] += 3
    _fake_run(fake_repo, "01_data", "classroom", {"d000_table1.csv": ours.to_csv(index=False)})
    (fake_repo / "book" / "_generated" / "01_data" / "provenance.json").write_text(
        json.dumps({"params": {"profile": "classroom", "seed": 0, "image_size": 64}}))
    item = _item(published="d000_table1", classroom={"run": "01_data", "artifact": "d000_table1"},
                 beside=(_totals(),), paper={"runs": ["01_data"]})
    page = registry.render_item(item, fake_repo, shown={}, included=set())
    assert "**Theirs beside ours.**" in page
    assert "| class | total (ours) | total (published) | total (ours - published) |" in page
    first = ours.iloc[0]
    assert f"| {first['class']} | {first['total']} | {first['total']} | 0 |" in page  # one aligned row
    assert "*Classroom scale* (run `01_data`): image size 64; seed 0; profile classroom." in page
    (fake_repo / "book" / "_generated" / "01_data" / "a").mkdir()
    (fake_repo / "book" / "_generated" / "01_data" / "a" / "weights.json").write_text(
        json.dumps({"source": "ssl", "description": "our SimCLR checkpoint (notebook 02)"}))
    page = registry.render_item(item, fake_repo, shown={}, included=set())
    assert "profile classroom; backbones started from: our SimCLR checkpoint (notebook 02)." in page
    assert "*Paper scale* (`01_data`): seed 0; profile paper; not run here at full scale" in page


def test_a_comparison_that_cannot_be_made_says_why_in_one_line(fake_repo):
    _fake_run(fake_repo, "03_finetune", "classroom", {"ft_test_auroc.csv": "class,auroc\nPneumonia,0.9\n"})
    item = _item(published="d000_table7", classroom={"run": "03_finetune", "artifact": "ft_test_auroc",
                                                      "compare": "one class of ours, fifteen of theirs"})
    page = registry.render_item(item, fake_repo, shown={}, included=set())
    assert "No cell-by-cell comparison: one class of ours, fifteen of theirs." in page


def test_a_figure_of_ours_appears_as_a_thumbnail_with_a_link_to_its_chapter(fake_repo):
    _fake_run(fake_repo, "03_finetune", "classroom", {"ft_learning_curves.png": "", "ft_learning_curves.md": ""})
    item = _item(kind="figure", classroom={"run": "03_finetune", "artifact": "ft_learning_curves"})
    page = registry.render_item(item, fake_repo, shown={("03_finetune", "ft_learning_curves"): "finetune"}, included=set())
    assert "```{image} ../_generated/03_finetune/ft_learning_curves.png" in page and ":width: 320px" in page
    assert "full size and caption in the chapter {doc}`../finetune`" in page


def test_diagram_only_items_say_in_one_line_that_there_is_nothing_to_compare(tmp_path):
    drawing = next(item for item in ITEMS if not (item.published or item.classroom))
    page = registry.render_item(drawing, tmp_path, shown={}, included=set())
    assert "nothing to set side by side" in page
    assert "Not transcribed" not in page and "No classroom run reproduces" not in page


def test_long_tables_fold_and_wide_tables_scroll():
    long = registry.readable_table(pd.DataFrame({"a": range(registry.LONG_TABLE_ROWS + 1)}), "Rows")
    assert long[0] == f"::::{{dropdown}} Rows ({registry.LONG_TABLE_ROWS + 1} rows × 1 columns; click to open)"
    assert long[-2] == "::::"
    short = registry.readable_table(pd.DataFrame({"a": [1]}), "Rows")
    assert not any("dropdown" in line for line in short)
    wide = registry.readable_table(pd.DataFrame([range(registry.WIDE_TABLE_COLUMNS + 1)]), "Cols")
    assert wide[0] == f"*{registry.WIDE_TABLE_COLUMNS + 1} columns: the table scrolls sideways.*"
    # the 617-row supplementary table of document 001 folds on its page
    page = registry.render_document(next(d for d in DOCUMENTS if d.number == "001"), Path("/nonexistent"),
                                    shown={}, included=set())
    assert "::::{dropdown} The published table `d001_supplementary`" in page


def test_scoreboard_and_pages_say_how_many_full_scale_results_exist_and_what_statuses_mean(tmp_path):
    scoreboard = registry.render_scoreboard(DOCUMENTS, tmp_path)
    assert "**Full-scale results: none.**" in scoreboard and "not the documents' numbers" in scoreboard
    for status in registry.STATUSES:
        assert f"- {registry.badge(status)} {registry.MEANINGS[status]}" in scoreboard
    assert "| all |" in scoreboard
    for document in DOCUMENTS:
        page = registry.render_document(document, tmp_path, shown={}, included=set())
        assert "**Full-scale results: none.**" in page and "::::{dropdown} What the statuses mean" in page
    counts = {"paper: run": 2, "classroom analogue": 3, "pipeline demo": 4}
    assert registry.full_scale_sentence(counts, 9, "x").startswith("**Full-scale results: 2 of 9 items** of x")


# ------------------------------------------------------------------------- corrected claims, guarded
def _paper_text(document) -> str:
    return " ".join((PAPERS / document.paper).read_text(encoding="utf-8", errors="ignore").split())


def test_quotes_in_the_summaries_are_the_documents_words():
    if not PAPERS.exists():
        pytest.skip("source documents not here")
    for document in DOCUMENTS:
        text = _paper_text(document)
        for quote in re.findall(r'"([^"]{12,})"', document.summary):
            assert quote.lower() in text.lower(), f"{document.number}: {quote!r} is not in {document.paper}"


def test_document_000_summary_says_no_imagenet_backbone_came_close_to_chexnet():
    summary = next(d for d in DOCUMENTS if d.number == "000").summary
    assert "none of the models came close to CheXNet" in summary and "come close to" not in summary


def test_document_000_grid_rows_are_the_best_of_the_grid_without_the_blocks():
    import yaml

    grid = yaml.safe_load((REPO / "params" / "sweeps" / "d000_table2_swav_resnet50.yaml").read_text())["grid"]
    runs = 1
    for name, values in grid.items():
        runs *= 1 if name == "unfrozen_blocks" else len(values)
    notes = next(item for item in ITEMS if item.id == "d000_table2").notes
    assert f"= {runs} grid runs" in " ".join(notes.split()) and runs == 90
    assert "selects by validation loss" not in notes


def test_document_004_summary_numbers_are_the_published_total_row_and_the_thesis_count():
    summary = next(d for d in DOCUMENTS if d.number == "004").summary
    table = published.load("d004_table3").frame
    total = table[table["class"] == "Total"].set_index("model")["auroc"]
    assert f"0.660 for the baseline B1, {total['F1']:.3f} for F1, {total['F2']:.3f} for F2" in summary
    assert total["B1"] == 0.660 and "fall inside the intervals" not in summary
    if PAPERS.exists():
        text = _paper_text(next(d for d in DOCUMENTS if d.number == "004"))
        assert "is significantly worse than for Baseline model. Although it is true for nine classes" in text
        assert "nine classes" in summary


def test_document_004_rising_rows_counted_from_table_iii():
    frame = published.load("d004_table3").frame
    wide = frame.pivot(index="class", columns="model", values="auroc").drop("Total").dropna()
    rising = int(((wide["B1"] < wide["F1"]) & (wide["F1"] < wide["F2"])).sum())
    text = " ".join(" ".join(published.load("d004_table3").inconsistencies).split())
    assert f"{rising} of the {len(wide)} class rows with values rise B1 < F1 < F2" in text
    assert "only the Total row rises" not in text


def test_document_002_deviation_describes_our_probe_folds():
    from cxrlib.training import probe

    text = " ".join(" ".join(next(d for d in DOCUMENTS if d.number == "002").deviations).split())
    assert f"stratified {probe.DEFAULT_N_SPLITS}-fold" in text and "StratifiedGroupKFold" in text
    assert "patient grouping are our additions" in text
    source = Path(probe.__file__).read_text(encoding="utf-8")
    assert "StratifiedGroupKFold(" in source


def test_the_browser_check_uses_the_page_limits_of_the_registry():
    from cxrlib.book import browser_check

    assert browser_check.LONG_TABLE_ROWS == registry.LONG_TABLE_ROWS
    assert browser_check.WIDE_TABLE_COLUMNS == registry.WIDE_TABLE_COLUMNS
    assert browser_check.DOCUMENT_STATEMENT in registry.full_scale_sentence({}, 1, "x")
    assert browser_check.EMPTY_PAIR[1] in "\n".join(registry._ours(_item(), registry.Status(), REPO, {}, set()))


def test_a_table_the_notebook_already_aligned_is_shown_on_the_page(fake_repo):
    _fake_run(fake_repo, "06_linear_probe", "classroom", {"d002_table3.csv": "task,auroc\nk,0.9\n",
                                                          "d002_table3_compare.csv": "task,init,auc\nCell,ours,0.9\nCell,document 002,96.6\n"})
    item = _item(published="d002_table3", classroom={"run": "06_linear_probe", "artifact": "d002_table3",
                                                      "beside_table": "d002_table3_compare"})
    page = registry.render_item(item, fake_repo, shown={}, included=set())
    assert "*Ours beside theirs as the notebook set them side by side* (`06_linear_probe/d002_table3_compare`" in page
    assert "| Cell | document 002 | 96.6 |" in page and "No cell-by-cell comparison" not in page


def test_published_items_without_a_run_of_ours_say_why_in_one_line(tmp_path):
    item = next(i for i in ITEMS if i.id == "d000_table2")
    page = registry.render_item(item, tmp_path, shown={}, included=set())
    assert ("**Theirs beside ours:** no comparison on this page: no classroom run of ours asks this item's question; "
            "the paper run (`03_finetune--d000_swav_resnet50`, sweep `d000_table2_swav_resnet50`) would make ours, "
            "and has not run at full size here.") in page


def test_the_d003_page_does_not_call_the_federated_paper_file_the_slides_task():
    system3 = next(i for i in ITEMS if i.id == "d003_system3")
    assert "multi-label" in system3.paper["differs"]
    text = " ".join((REPO / "book" / "d003_built.md").read_text(encoding="utf-8").split())
    assert "(`08_federated--d003.yaml`) is a larger run of the classroom task" in text
    assert "not the slides' multi-label chest disease classification" in text
