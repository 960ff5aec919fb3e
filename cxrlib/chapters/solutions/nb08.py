"""The answers to the exercises of notebook 08, federated learning (``book/solutions/08_federated.md``)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from cxrlib.chapters.solutions.format import intervals_overlap, source
from cxrlib.core.runs import markdown_table, read_table, run_params


def federated_ex1(runs: dict[str, Path]) -> str:
    parts = []
    for name in ("08_federated--ex1", "08_federated--ex1-scale"):
        params = run_params(runs[name])
        table = read_table(runs[name], "fl_attack")
        parts.append(f"**{name}**: attack {params['attack']}, factor {params['attack_factor']}\n\n" + markdown_table(table))
    return "\n\n".join(parts) + f"\n\n{source(runs['08_federated--ex1'], runs['08_federated--ex1-scale'])}\n"


def _federated_perf(folder: Path) -> pd.DataFrame:
    table = read_table(folder, "fl_performance")
    return table.assign(label_alpha=run_params(folder)["label_alpha"])


def federated_ex2(runs: dict[str, Path]) -> str:
    main, skew = runs["08_federated"], runs["08_federated--ex2"]
    perf = pd.concat([_federated_perf(main), _federated_perf(skew)])
    perf = perf[["label_alpha", "model", "institution", "images", "positives", "auroc", "ci_low", "ci_high"]]
    institutions = pd.concat([read_table(f, "fl_institutions").assign(label_alpha=run_params(f)["label_alpha"]) for f in (main, skew)])
    institutions = institutions.astype({c: int for c in institutions.columns
                                        if c.endswith(("images", "patients")) and institutions[c].notna().all()})
    attack = read_table(skew, "fl_attack")
    honest = ", ".join(f"{r['run']}: {r['honest updates rejected']}" for _, r in attack.iterrows())
    sentences = []
    for alpha, rows in institutions.groupby("label_alpha", sort=False):
        share = rows["train positive share"]
        pooled = perf[(perf["label_alpha"] == alpha) & (perf["institution"] == "pooled")].set_index("model")
        fed, central, local = (pooled.loc[m] for m in ("fedavg", "centralised", "local only"))
        overlap = intervals_overlap(fed, central)
        sentences.append(
            f"With `label_alpha` {alpha:g} the institutions' train positive shares run from {share.min():.2f} to "
            f"{share.max():.2f}; pooled test AUROC: centralised {central['auroc']:.3f} [{central['ci_low']:.3f}, "
            f"{central['ci_high']:.3f}], FedAvg {fed['auroc']:.3f} [{fed['ci_low']:.3f}, {fed['ci_high']:.3f}], local only "
            f"{local['auroc']:.3f} [{local['ci_low']:.3f}, {local['ci_high']:.3f}]; the FedAvg and centralised intervals "
            + ("overlap." if overlap else "do not overlap."))
    return ("**Institutions** (train positive share per institution)\n\n" + markdown_table(institutions) + "\n\n**AUROC per model and "
            "institution**\n\n" + markdown_table(perf) + "\n\n" + " ".join(sentences) + f"\n\n**Honest updates rejected** "
            f"(label_alpha {run_params(skew)['label_alpha']}): {honest}.\n\n{source(main, skew)}\n")


def federated_ex3(runs: dict[str, Path]) -> str:
    main = runs["08_federated"]
    return markdown_table(read_table(main, "fl_ledger_tamper")) + f"\n\n{source(main)}\n"


def federated_ex4(runs: dict[str, Path]) -> str:
    main, big = runs["08_federated"], runs["08_federated--ex4"]
    costs = pd.concat([read_table(f, "fl_costs").assign(hidden=run_params(f)["hidden"], local_epochs=run_params(f)["local_epochs"])
                       for f in (main, big)])
    costs = costs[costs["run"] == "fedavg"][["hidden", "local_epochs", "parameters", "MB down per round",
                                             "MB up per round", "ledger kB per round"]]
    member = pd.concat([read_table(f, "fl_membership").assign(hidden=run_params(f)["hidden"], local_epochs=run_params(f)["local_epochs"])
                        for f in (main, big)])
    member = member[["hidden", "local_epochs", "model", "attack_auroc", "ci_low", "ci_high", "train AUROC", "test AUROC"]]
    lines = []
    for model, rows in member.groupby("model", sort=False):
        small, large = rows.iloc[0], rows.iloc[-1]
        overlap = intervals_overlap(small, large)
        lines.append(f"{model}: attack AUROC {small['attack_auroc']:.3f} [{small['ci_low']:.3f}, {small['ci_high']:.3f}] "
                     f"-> {large['attack_auroc']:.3f} [{large['ci_low']:.3f}, {large['ci_high']:.3f}] (intervals "
                     + ("overlap)" if overlap else "do not overlap)"))
    return ("**Costs (FedAvg)**\n\n" + markdown_table(costs) + "\n\n**Membership inference**\n\n" + markdown_table(member)
            + "\n\nFrom the smaller to the larger model: " + "; ".join(lines) + f".\n\n{source(main, big)}\n")
