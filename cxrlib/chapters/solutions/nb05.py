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
    threshold = float(run_params(main)["sanity_threshold"])
    lines = []
    for method, rows in table.groupby("method", sort=False):
        rows = rows.sort_values("depth")
        below = rows[rows["mean"] < threshold]
        if rows["mean"].isna().all():
            lines.append(f"{method}: every randomised map is constant ({int(rows['constant_maps'].max())} constant maps), "
                         "so the correlation is undefined: the maps changed completely from the first level on")
        elif len(below):
            first = below.iloc[0]
            lines.append(f"{method}: below {threshold} from level '{first['level']}' (depth {int(first['depth'])}, mean "
                         f"Spearman {first['mean']:.2f})")
        else:
            lines.append(f"{method}: never below {threshold} (lowest mean {rows['mean'].min():.2f})")
    return ("; ".join(lines) + ".\n\n" + markdown_table(table[["method", "depth", "level", "mean", "min", "max", "constant_maps"]])
            + f"\n\n{source(main)}\n")


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
        lines.append(f"{r.run}: hit rate {r.estimate:.3f} (95 % CI {r.ci_low:.3f} to {r.ci_high:.3f}, n = {int(r.n)}){chance_text}")
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
