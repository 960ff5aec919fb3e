"""The answers to the exercises of notebook 05, explanations (``book/solutions/05_explain.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cxrlib.chapters.solutions.format import source
from cxrlib.core.runs import asset_path, markdown_table, read_table, run_params


def _figure(folder: Path, artifact: str, alt: str) -> str:
    return f"![{alt}]({asset_path(folder / f'{artifact}.png')})"


def explain_ex1(runs: dict[str, Path]) -> str:
    folder = runs["05_explain--ex1"]
    cases = read_table(folder, "ex_gradcam_cases")
    return (_figure(folder, "ex_gradcam", "Grad-CAM cases, four per kind") + "\n\n" + markdown_table(cases)
            + f"\n\n{source(folder)}\n")


def explain_ex2(runs: dict[str, Path]) -> str:
    parts = []
    for name in ("05_explain", "05_explain--ex2-p5", "05_explain--ex2-p50", "05_explain--ex2-seed1"):
        params = run_params(runs[name])
        parts.append(f"**{name}** (perplexity {params['tsne_perplexity']}, seed {params['seed']})\n\n"
                     + _figure(runs[name], "ex_tsne", f"t-SNE, perplexity {params['tsne_perplexity']}, seed {params['seed']}"))
    return "\n\n".join(parts) + f"\n\n{source(*(runs[n] for n in ('05_explain--ex2-p5', '05_explain--ex2-p50', '05_explain--ex2-seed1')))}\n"


def explain_ex3(runs: dict[str, Path]) -> str:
    main = runs["05_explain"]
    table = read_table(main, "ex_sanity")
    alpha = float(run_params(main)["sanity_alpha"])
    lines = []
    for method, rows in table.groupby("method", sort=False):
        rows = rows.sort_values("depth")
        reached = rows[rows["p_value"] > alpha]
        verdict = str(rows["verdict"].iloc[-1])
        if verdict.startswith("cannot tell"):
            lines.append(f"{method}: {verdict}")
        elif len(reached):
            first = reached.iloc[0]
            lines.append(f"{method}: at the level of other images' maps from '{first['level']}' on (depth "
                         f"{int(first['depth'])}: mean Spearman {first['mean']:.2f} with the same image's trained map, "
                         f"{first['unrelated']:.2f} with other images', p = {first['p_value']:.3g})")
        else:
            last = rows.iloc[-1]
            lines.append(f"{method}: never (with every layer random still {last['mean']:.2f} with the same image's "
                         f"trained map against {last['unrelated']:.2f} with other images', p = {last['p_value']:.3g})")
    columns = ["method", "depth", "level", "mean", "min", "max", "unrelated", "p_value", "constant_maps"]
    return ("; ".join(lines) + ".\n\n" + markdown_table(table[columns]) + f"\n\n{source(main)}\n")


def explain_ex4(runs: dict[str, Path]) -> str:
    from scipy.stats import norm

    main = runs["05_explain"]
    table = read_table(main, "ex_localisation")
    hit = table[table["metric"].str.startswith("pointing game")]
    chance = table[table["metric"].str.startswith("chance")]
    lines = []
    for r in hit.itertuples():
        c = chance[chance["run"] == r.run]
        chance_text = f"; chance (box share of the image) {c['estimate'].iloc[0]:.3f}" if len(c) else ""
        lines.append(f"{r.run}: hit rate {r.estimate:.3f} (95 % exact binomial CI {r.ci_low:.3f} to {r.ci_high:.3f}, n = {int(r.n)}){chance_text}")
    p0, p1, alpha, power = 0.4, 0.5, 0.05, 0.8
    z_a, z_b = norm.ppf(1 - alpha / 2), norm.ppf(power)
    one = ((z_a * np.sqrt(p0 * (1 - p0)) + z_b * np.sqrt(p1 * (1 - p1))) / (p1 - p0)) ** 2
    pbar = (p0 + p1) / 2
    two = ((z_a * np.sqrt(2 * pbar * (1 - pbar)) + z_b * np.sqrt(p0 * (1 - p0) + p1 * (1 - p1))) / (p1 - p0)) ** 2
    return ("; ".join(lines) + ".\n\n"
            f"To tell a hit rate of {p1} from {p0} (two-sided $\\alpha$ = {alpha}, power {power:.0%}): about "
            f"**{int(np.ceil(one))}** boxed images against a known rate of {p0}, or **{int(np.ceil(two))}** per model when "
            f"two models are compared on separate image sets (normal approximation; images of one patient count less "
            f"than independent ones).\n\n{source(main)}\n")
