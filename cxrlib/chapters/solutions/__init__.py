"""The numbers of the exercises' worked solutions (instructor edition), computed from run folders.

Each answer is a row of :data:`ANSWERS`: an id ``<notebook>--ex<N>`` (the solution of exercise N of that
notebook, see ``book/solutions/<notebook>.md``), the run folders it reads (the chapter's classroom run
and the solution runs of ``params/solutions/``, executed by ``cxrlib book --edition instructor``) and a
function that turns them into a short MyST snippet: sentences and small tables whose every number is
read from those folders (or recomputed from the inputs their ``provenance.json`` names), never typed.
``python -m cxrlib.chapters.solutions GENERATED OUT`` (run by
:func:`cxrlib.book.teaching.write_teaching_pages` before an instructor build) writes each snippet to
``book/_teaching/answers/<id>.md``; the solutions include it. An answer whose run folders are missing
says which command makes them (so a partial build still renders).

One module per notebook holds that notebook's answers (:mod:`.nb01` ... :mod:`.nb10`); :mod:`.format` holds
what they share. A run's inputs are resolved again on the machine that computes the answer
(:func:`.format.run_input`), so a moved checkout or a recreated environment still answers.
"""
from __future__ import annotations

from pathlib import Path

from cxrlib.chapters.solutions import nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08, nb13, nb11, nb12, nb09, nb10
from cxrlib.chapters.solutions.format import Answer
from cxrlib.core.staging import is_complete

ANSWERS: dict[str, Answer] = {a.key: a for a in (
    Answer("01_data--ex1", ("01_data", "01_data--ex1"), nb01.data_ex1),
    Answer("01_data--ex2", ("01_data",), nb01.data_ex2),
    Answer("01_data--ex3", ("01_data",), nb01.data_ex3),
    Answer("01_data--ex4", ("01_data", "01_data--ex4"), nb01.data_ex4),
    Answer("02_pretrain--ex1", ("02_pretrain", "02_pretrain--ex1"), nb02.pretrain_ex1),
    Answer("02_pretrain--ex2", ("02_pretrain", "02_pretrain--ex2-t05", "02_pretrain--ex2-t10"), nb02.pretrain_ex2),
    Answer("02_pretrain--ex3", ("02_pretrain", "06_linear_probe", "02_pretrain--ex3", "06_linear_probe--ex2"), nb02.pretrain_ex3),
    Answer("02_pretrain--ex4", ("02_pretrain", "02_pretrain--ex4"), nb02.pretrain_ex4),
    Answer("03_finetune--ex1", ("03_finetune", "03_finetune--ex1-head", "03_finetune--ex1-all"), nb03.finetune_ex1),
    Answer("03_finetune--ex2", ("03_finetune", "03_finetune--ex1-head", "03_finetune--ex1-all"), nb03.finetune_ex2),
    Answer("03_finetune--ex3", ("03_finetune",), nb03.finetune_ex3),
    Answer("03_finetune--ex4", ("03_finetune", "03_finetune--ex4"), nb03.finetune_ex4),
    Answer("04_evaluate--ex1", ("04_evaluate", "04_evaluate--ex1"), nb04.evaluate_ex1),
    Answer("04_evaluate--ex2", ("04_evaluate--ex2", "04_evaluate"), nb04.evaluate_ex2),
    Answer("04_evaluate--ex3", ("04_evaluate",), nb04.evaluate_ex3),
    Answer("04_evaluate--ex4", ("04_evaluate",), nb04.evaluate_ex4),
    Answer("05_explain--ex1", ("05_explain--ex1",), nb05.explain_ex1),
    Answer("05_explain--ex2", ("05_explain", "05_explain--ex2-p5", "05_explain--ex2-p50", "05_explain--ex2-seed1"), nb05.explain_ex2),
    Answer("05_explain--ex3", ("05_explain",), nb05.explain_ex3),
    Answer("05_explain--ex4", ("05_explain",), nb05.explain_ex4),
    Answer("06_linear_probe--ex1", ("06_linear_probe", "06_linear_probe--ex1-100", "06_linear_probe--ex1-all"), nb06.linear_ex1),
    Answer("06_linear_probe--ex2", ("06_linear_probe", "06_linear_probe--ex2"), nb06.linear_ex2),
    Answer("06_linear_probe--ex3", ("06_linear_probe",), nb06.linear_ex3),
    Answer("06_linear_probe--ex4", ("06_linear_probe",), nb06.linear_ex4),
    Answer("07_label_noise--ex1", ("07_label_noise", "07_label_noise--ex1"), nb07.label_ex1),
    Answer("07_label_noise--ex2", ("07_label_noise", "07_label_noise--ex2"), nb07.label_ex2),
    Answer("07_label_noise--ex3", ("07_label_noise",), nb07.label_ex3),
    Answer("07_label_noise--ex4", ("07_label_noise",), nb07.label_ex4),
    Answer("08_federated--ex1", ("08_federated--ex1", "08_federated--ex1-scale"), nb08.federated_ex1),
    Answer("08_federated--ex2", ("08_federated", "08_federated--ex2"), nb08.federated_ex2),
    Answer("08_federated--ex3", ("08_federated",), nb08.federated_ex3),
    Answer("08_federated--ex4", ("08_federated", "08_federated--ex4"), nb08.federated_ex4),
    Answer("13_sweep--ex1", ("13_sweep", "13_sweep--ex1"), nb13.sweep_ex1),
    Answer("13_sweep--ex2", ("13_sweep",), nb13.sweep_ex2),
    Answer("13_sweep--ex3", ("13_sweep",), nb13.sweep_ex3),
    Answer("13_sweep--ex4", ("13_sweep",), nb13.sweep_ex4),
    Answer("11_documents--ex1", ("11_documents",), nb11.documents_ex1),
    Answer("11_documents--ex2", ("11_documents",), nb11.documents_ex2),
    Answer("11_documents--ex4", ("11_documents",), nb11.documents_ex4),
    Answer("12_label_efficiency--ex1", ("12_label_efficiency",), nb12.le_ex1),
    Answer("12_label_efficiency--ex2", ("12_label_efficiency",), nb12.le_ex2),
    Answer("12_label_efficiency--ex3", ("12_label_efficiency",), nb12.le_ex3),
    Answer("09_semssxl--ex1", ("09_semssxl",), nb09.semssxl_ex1),
    Answer("09_semssxl--ex2", ("09_semssxl",), nb09.semssxl_ex2),
    Answer("09_semssxl--ex3", ("09_semssxl",), nb09.semssxl_ex3),
    Answer("10_dual_stream--ex1", ("10_dual_stream",), nb10.dual_ex1),
    Answer("10_dual_stream--ex2", ("10_dual_stream",), nb10.dual_ex2),
    Answer("10_dual_stream--ex3", ("10_dual_stream",), nb10.dual_ex3),
)}


def answer_texts(generated: Path) -> dict[str, str]:
    """{answer id: MyST snippet} for every row of :data:`ANSWERS`, from the run folders under ``generated``."""
    out = {}
    for key, answer in ANSWERS.items():
        folders = {run: generated / run for run in answer.runs}
        missing = [run for run, folder in folders.items() if not is_complete(folder)]
        if missing:
            notebook = key.split("--")[0]
            out[key] = (f"*Not computed in this build: the run folder(s) {', '.join(missing)} are missing; run "
                        f"`cxrlib book --edition instructor --only {notebook}`.*\n")
            continue
        out[key] = answer.compute(folders)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m cxrlib.chapters.solutions", description=__doc__.split("\n\n")[0])
    parser.add_argument("generated", type=Path, help="the run folders (book/_generated)")
    parser.add_argument("out", type=Path, help="where to write <id>.md (book/_teaching/answers)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for key, text in answer_texts(args.generated).items():
        (args.out / f"{key}.md").write_text(text, encoding="utf-8")
    return 0
