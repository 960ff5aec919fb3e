"""scripts/renumber_notebooks.py (prepared, not applied): the plan follows the sidebar and the rewrite does
not chain (12 -> 09 while 09 -> 13)."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("renumber_notebooks", REPO / "scripts" / "renumber_notebooks.py")
renumber = importlib.util.module_from_spec(spec)
spec.loader.exec_module(renumber)

RENAMED = {"12_semssxl": "09_semssxl", "09_sweep": "13_sweep", "10_documents": "11_documents"}


def test_the_plan_follows_the_sidebar_and_keeps_03_finetune():
    order = renumber.reading_order(REPO)
    plan = renumber.mapping(order)
    assert "03_finetune" not in plan
    assert [plan.get(name, name)[:2] for name in order] == [f"{i:02d}" for i in range(1, len(order) + 1)]


def test_names_modules_and_prose_are_rewritten_once():
    text = ("run 12_semssxl and 09_sweep; nb12.semssxl_ex1, nb09.sweep_ex1; notebooks 12 and 09; "
            "notebooks 10 (the analogues, 12 runs), 03 and 12; Notebook 12: SemSSXL; 12 epochs; 10_000")
    assert renumber.rewrite_text(text, RENAMED) == (
        "run 09_semssxl and 13_sweep; nb09.semssxl_ex1, nb13.sweep_ex1; notebooks 09 and 13; "
        "notebooks 11 (the analogues, 12 runs), 03 and 09; Notebook 09: SemSSXL; 12 epochs; 10_000")


def test_paths_move_with_their_notebook():
    assert renumber.new_path("params/paper/12_semssxl--d003_chexpert.yaml", RENAMED) == \
        "params/paper/09_semssxl--d003_chexpert.yaml"
    assert renumber.new_path("notebooks/09_sweep.ipynb", RENAMED) == "notebooks/13_sweep.ipynb"
    assert renumber.new_path("cxrlib/chapters/solutions/nb12.py", RENAMED) == "cxrlib/chapters/solutions/nb09.py"
    assert renumber.new_path("cxrlib/chapters/solutions/nb03.py", RENAMED) == "cxrlib/chapters/solutions/nb03.py"
    assert renumber.new_path("book/solutions/10_documents.md", RENAMED) == "book/solutions/11_documents.md"
