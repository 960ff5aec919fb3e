"""The answers to the exercises of notebook 11, the documents' analogues (``book/solutions/11_documents.md``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxrlib.chapters.solutions.format import interval, settled, source
from cxrlib.core.runs import markdown_table, read_table, run_params


def _auc_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("auc_")]


def documents_ex1(runs: dict[str, Path]) -> str:
    main = runs["11_documents"]
    table = read_table(main, "d001_analogue_table4")
    macro = table[table["kind"] == "average"].iloc[0]
    labels = table[table["kind"] == "label"]
    unscorable = labels[labels["difference"].isna()]
    few = labels[labels["difference"].notna() & (labels["n_positive"] < 5)]
    frame = labels[["label", "n_positive", "n_negative", "difference", "boot_ci_low", "boot_ci_high"]]
    return (f"The macro-average difference ({' - '.join(c[4:] for c in _auc_columns(table))}) is "
            f"{macro['difference']:+.3f} with the patient-bootstrap interval {interval(macro)}, which "
            f"{settled(macro)}. {len(unscorable)} of {len(labels)} labels have no positive (or no negative) test image "
            f"and cannot be scored at all" + (f" ({', '.join(unscorable['label'])})" if len(unscorable) else "")
            + f"; {len(few)} more have fewer than 5 positives" + (f" ({', '.join(few['label'])})" if len(few) else "")
            + ": each of their AUROCs rests on a handful of images, and a single image moves it by a large step. "
              "More epochs change the scores, not the test "
              "images: the number of positives per label is fixed by the test list, so only more test images "
              "narrow these intervals.\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n")


def documents_ex2(runs: dict[str, Path]) -> str:
    main = runs["11_documents"]
    rows = []
    for design, artifact, kind in (("document 001, NIH sample (macro)", "d001_analogue_table4", "average"),
                                   ("document 004, Kermany", "d004_analogue_paired", "label")):
        table = read_table(main, artifact)
        row = table[table["kind"] == kind].iloc[0]
        rows.append({"design": design, "difference": row["difference"], "CI low": row["boot_ci_low"],
                     "CI high": row["boot_ci_high"], "interval": settled(row),
                     "test positives": int(row["n_positive"]), "test negatives": int(row["n_negative"])})
    frame = pd.DataFrame(rows)
    excluding = frame[frame["interval"] == "excludes 0"]
    frame["CI width"] = frame["CI high"] - frame["CI low"]
    wider = frame.loc[frame["CI width"].idxmax(), "design"]
    return ("Both compare the SSL start with the other start on the same test images. "
            + (f"The interval excludes 0 for: {' and '.join(excluding['design'])}. " if len(excluding)
               else "Neither interval excludes 0. ")
            + f"The wider interval is that of {wider}. The Kermany test set has hundreds of images of one binary "
              "label; the NIH sample's test list keeps a few dozen images spread over fourteen labels (the macro row "
              "counts positives over all labels, so one image can count several times). A macro average over many "
              "labels can be steadier than any of its labels, but every label in it rests on a handful of "
              "positives.\n\n"
            + markdown_table(frame) + f"\n\n{source(main)}\n")


def documents_ex4(runs: dict[str, Path]) -> str:
    main = runs["11_documents"]
    table = read_table(main, "d001_analogue_table4")
    labels = table[(table["kind"] == "label") & table["difference"].notna()]
    frame = labels[["label", "n_positive", "bootstrap_p", "delong_p", "clustered_p"]]
    ratio = (frame["bootstrap_p"] - frame["delong_p"]).abs()
    n_boot = int(run_params(main)["n_boot"])
    return (f"Over the {len(frame)} scorable labels the two p-values differ by {ratio.median():.3f} in the median "
            f"(at most {ratio.max():.3f}). The run used `n_boot` = {n_boot}: a bootstrap p is a share of the "
            f"{n_boot} redraws, so it cannot resolve much below 1/{n_boot} = {1 / n_boot:.4f} (a p of 0 means 'below about "
            f"{1 / n_boot:.4f}', not 0). With 200 redraws the resolution is about 0.005, and "
            "a run with another `seed` draws other patients: p-values near 0.05 can cross it. DeLong's p does not "
            "depend on redraws at all.\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n")
