"""The answers to the exercises of notebook 10, the dual-stream network (``book/solutions/10_dual_stream.md``)."""
from __future__ import annotations

from pathlib import Path

from cxrlib.chapters.solutions.format import interval, intervals_overlap, settled, source, variant_row
from cxrlib.core.runs import markdown_table, read_table, run_params


def dual_ex1(runs: dict[str, Path]) -> str:
    main = runs["10_dual_stream"]
    variants, gates = read_table(main, "ds_variants"), read_table(main, "ds_gates")
    transfer, auto = variant_row(variants, "transfer_only"), variant_row(variants, "autoencoder_only")
    params = run_params(main)
    overall = gates.iloc[0]
    info = params.get("weights_info") or {}
    start = info.get("description") or f"`weights: {params['weights']}`"
    imagenet = ("ImageNet weights give the transfer stream features learned on a million labelled natural images; "
                "expect its AUROC, the gap and the gate's weight on it to grow, while the autoencoder-only row does not "
                "change (it never sees the backbone).")
    if info.get("source") == "ssl":  # the book's own checkpoint (notebook 02), not published weights
        outlook = ("This run started from the book's own self-supervised checkpoint (notebook 02, pre-trained on "
                   "unlabeled images, never a test image), not from published weights. What that "
                   "pre-training is worth here is the difference to a frozen random network of the same backbone "
                   "(`-p weights none`), which this book does not run. " + imagenet)
    elif info.get("random", True):
        outlook = imagenet
    else:
        outlook = "This run already started from published weights: compare with `-p weights none` to see what they are worth."
    return (f"The transfer stream ({params['backbone']}) started from {start} (`weights: {params['weights']}`). It reaches a test "
            f"AUROC of {transfer['test AUROC']:.3f} [{transfer['CI low']:.3f}, {transfer['CI high']:.3f}] alone, the "
            f"autoencoder {auto['test AUROC']:.3f} [{auto['CI low']:.3f}, {auto['CI high']:.3f}]: a gap of "
            f"{transfer['test AUROC'] - auto['test AUROC']:+.3f}. The gate's mean weight on the transfer stream is "
            f"{overall['mean']:.2f}. " + outlook + "\n\n" + markdown_table(variants[["variant", "test AUROC", "CI low", "CI high"]])
            + f"\n\n{source(main)}\n")


def dual_ex2(runs: dict[str, Path]) -> str:
    main = runs["10_dual_stream"]
    variants, ablation = read_table(main, "ds_variants"), read_table(main, "ds_ablation")
    auto = variant_row(variants, "autoencoder_only")
    added = ablation[ablation["without"] == "transfer_only"]
    lines = [(f"The autoencoder's code alone ({run_params(main)['ae_latent']} values) reaches a test AUROC of "
              f"{auto['test AUROC']:.3f} [{auto['CI low']:.3f}, {auto['CI high']:.3f}].")]
    for _, row in added.iterrows():
        lines.append(f"Added to the transfer stream ({row['component']}) it changes the AUROC by {row['difference']:+.3f} "
                     f"{interval(row, 'bootstrap CI low', 'bootstrap CI high')}.")
    lines.append("The reconstruction error weighs every pixel alike, and most pixels of a chest X-ray are ribs, "
                 "borders and background: a larger code rebuilds those better without describing the faint "
                 "opacities that signal pneumonia, so a better reconstruction need not be a better feature.")
    return " ".join(lines) + "\n\n" + markdown_table(ablation[["component", "with", "without", "difference", "bootstrap CI low",
                                                       "bootstrap CI high"]]) + f"\n\n{source(main)}\n"


def dual_ex3(runs: dict[str, Path]) -> str:
    main = runs["10_dual_stream"]
    variants, gates = read_table(main, "ds_variants"), read_table(main, "ds_gates")
    gated, concat = variant_row(variants, "dual_gated"), variant_row(variants, "dual_concat")
    overall = gates.iloc[0]
    side = "the transfer stream" if overall["mean"] > 0.5 else "the autoencoder stream"
    per_class = "; ".join(f"{r['images']}: mean {r['mean']:.2f}" for _, r in gates.iloc[1:].iterrows())
    overlap = intervals_overlap(gated, concat, "CI low", "CI high")
    ablation = read_table(main, "ds_ablation")
    paired = ablation[(ablation["with"] == "dual_gated") & (ablation["without"] == "dual_concat")]
    paired_text = "".join(f" On the same test images the paired difference gated - concatenation is {r['difference']:+.3f} "
                          f"{interval(r, 'bootstrap CI low', 'bootstrap CI high')}, whose interval {settled(r, 'bootstrap CI low', 'bootstrap CI high')}."
                          for _, r in paired.iterrows())
    return (f"A gate value is the weight of the transfer stream. Its mean over the test images is {overall['mean']:.2f} "
            f"(median {overall['median']:.2f}), so on average it favours {side}; a share {overall['dims > 0.5']:.2f} of the "
            f"dimensions has a mean above 0.5 ({per_class}). The gated variant reaches {gated['test AUROC']:.3f} "
            f"[{gated['CI low']:.3f}, {gated['CI high']:.3f}], the concatenation {concat['test AUROC']:.3f} "
            f"[{concat['CI low']:.3f}, {concat['CI high']:.3f}]: the intervals "
            + ("overlap, so these intervals do not separate them." if overlap else "do not overlap.") + paired_text
            + "\n\n" + markdown_table(gates) + f"\n\n{source(main)}\n")
