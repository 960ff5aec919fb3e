"""The answers to the exercises of notebook 01, counting the data sets (``book/solutions/01_data.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.chapters.solutions.format import run_input, source
from cxrlib.core.runs import markdown_table, read_table, run_params
from cxrlib.data.root import data_root


def _band(weight: float) -> str:
    """Document 000's resampling band of a class weight (:data:`cxrlib.data.balance.RESAMPLE_RULE`)."""
    from cxrlib.data.balance import RESAMPLE_RULE

    band = next(b for b in RESAMPLE_RULE if b.lower <= weight < b.upper)
    return f"[{band.lower:g}, {band.upper:g}) x{band.factor:g}"


def data_ex1(runs: dict[str, Path]) -> str:
    main, variant = runs["01_data"], runs["01_data--ex1"]
    a, b = read_table(main, "d000_table1"), read_table(variant, "d000_table1")
    a, b = a[a["class"] != "Total"].set_index("class"), b[b["class"] != "Total"].set_index("class")
    frame = pd.DataFrame({
        "class": a.index,
        f"W (val {run_params(main)['val_fraction']:.0%})": a["class_weight"].to_numpy(),
        f"W (val {run_params(variant)['val_fraction']:.0%})": b.loc[a.index, "class_weight"].to_numpy(),
        "band before": [_band(w) for w in a["class_weight"]],
        "band after": [_band(w) for w in b.loc[a.index, "class_weight"]],
        "train before": a["train"].to_numpy(), "train after": b.loc[a.index, "train"].to_numpy(),
    })
    moved = frame[frame["band before"] != frame["band after"]]
    from cxrlib.data.balance import RESAMPLE_RULE

    edges = sorted({b.lower for b in RESAMPLE_RULE if b.lower > 0})
    closest = frame.assign(margin=[min(abs(w - e) for e in edges) for w in frame.iloc[:, 2]]).nsmallest(3, "margin")
    sentence = (f"{len(moved)} of {len(frame)} classes change band"
                + (f": {', '.join(moved['class'])}." if len(moved) else ".")
                + f" The weights move by at most {np.max(np.abs(frame.iloc[:, 2] - frame.iloc[:, 1])):.3f}; the classes "
                  f"closest to a band edge at 10 % are {', '.join(closest['class'])}.")
    return f"{sentence}\n\n{markdown_table(frame)}\n\n{source(main, variant)}\n"


def data_ex2(runs: dict[str, Path]) -> str:
    from cxrlib.data import nih

    main = runs["01_data"]
    metadata = run_input(main, "nih_metadata")
    meta = nih.load_metadata(metadata)
    chexnet = nih.chexnet_split(meta, root=data_root())
    disagreements = int(chexnet.attrs["label_disagreements"])
    compare = read_table(main, "d000_table1_vs_published")
    total = compare[compare["class"] != "Total"]
    exact = int((total["total_diff"].fillna(0) == 0).sum())
    return (f"The CheXNet split lists carry the labels of 2017; the shipped metadata (`{metadata.name}`) "
            f"is NIH's 2020 revision. They disagree on **{disagreements:,}** images. With the 2020 labels, "
            f"{exact} of {len(total)} classes of Table 1 have exactly the published Total, so the document counted "
            f"the labels of the revision we ship.\n\n{source(main)}\n")


def data_ex3(runs: dict[str, Path]) -> str:
    main = runs["01_data"]
    table = read_table(main, "d000_table1")
    rows = table[table["class"] != "Total"]
    share = rows["val"] / (rows["val"] + rows["train"])
    total = table[table["class"] == "Total"].iloc[0]
    overall = total["val"] / (total["val"] + total["train"])
    frame = pd.DataFrame({"class": rows["class"], "val": rows["val"], "train": rows["train"], "val share": share})
    return (f"The validation part holds {run_params(main)['val_fraction']:.0%} of the `train_val` *patients*. Patients "
            f"have different numbers of images, so the share of *images* is {overall:.1%} overall and ranges from "
            f"{share.min():.1%} ({rows.loc[share.idxmin(), 'class']}) to {share.max():.1%} "
            f"({rows.loc[share.idxmax(), 'class']}) per class: a class whose images come from a few patients with many "
            f"follow-ups moves in big steps.\n\n{markdown_table(frame)}\n\n{source(main)}\n")


def data_ex4(runs: dict[str, Path]) -> str:
    main, variant = runs["01_data"], runs["01_data--ex4"]
    a = read_table(main, "d001_table2_chexpert").set_index("label")
    b = read_table(variant, "d001_table2_chexpert").set_index("label")
    frame = pd.DataFrame({"label": a.index, "published": a["published_n"].to_numpy(),
                          "reconstructed selection": a["ours_n"].to_numpy(),
                          "all frontal train": b.loc[a.index, "ours_n"].to_numpy()})
    frame["moved"] = frame["all frontal train"] - frame["reconstructed selection"]
    frame["moved %"] = 100 * frame["moved"] / frame["reconstructed selection"]
    frame = frame.dropna(subset=["moved"])
    top = frame.reindex(frame["moved %"].abs().sort_values(ascending=False).index).head(3)
    return ("The rows that move most (relative to the reconstructed selection) are "
            + ", ".join(f"{r['label']} ({r['moved %']:+.1f} %)" for _, r in top.iterrows())
            + ". The reconstructed selection drops images with an uncertain mark in Cardiomegaly, Lung Opacity, "
              "Lung Lesion, Edema or Pneumonia: a finding often marked uncertain, or often co-marked with those, "
              "loses most when the selection is undone.\n\n"
            + markdown_table(frame, "{:.1f}") + f"\n\n{source(main, variant)}\n")
