"""The answers to the exercises of notebook 06, the linear probe (``book/solutions/06_linear_probe.md``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cxrlib.chapters.solutions.format import probe_rows, source
from cxrlib.core.runs import find_book_root, markdown_table, read_table, run_params
from cxrlib.data.root import data_root


def linear_ex1(runs: dict[str, Path]) -> str:
    rows = []
    for name in ("06_linear_probe--ex1-100", "06_linear_probe", "06_linear_probe--ex1-all"):
        table = probe_rows(runs[name])
        table = table[(table["init"] == "random") | table["init"].str.startswith("SSL 100%")]
        for r in table.itertuples():
            limit = run_params(runs[name]).get("fit_limit")
            rows.append({"run": name, "fit_limit": "all" if limit is None else str(limit), "task": r.task, "init": r.init,
                         "n_fit": r.n_fit, "AUROC": r.auc, "CI low": r.auc_ci_low, "CI high": r.auc_ci_high})
    frame = pd.DataFrame(rows)
    return markdown_table(frame) + f"\n\n{source(*(runs[n] for n in ('06_linear_probe--ex1-100', '06_linear_probe--ex1-all')))}\n"


def linear_ex2(runs: dict[str, Path]) -> str:
    parts = []
    for name in ("06_linear_probe", "06_linear_probe--ex2"):
        folder = runs[name]
        policy = run_params(folder)["pretrain"]["policy"]
        if (folder / "d004_style_finetune.csv").exists():
            table = read_table(folder, "d004_style_finetune")
            parts.append(f"**Fine-tuning, pre-training policy {policy}** ({name})\n\n"
                         + markdown_table(table[["model", "auc", "boot_ci_low", "boot_ci_high", "delong_p_vs_baseline"]]))
        probe_table = probe_rows(folder)
        parts.append(f"**Linear probe, policy {policy}** ({name})\n\n"
                     + markdown_table(probe_table[["init", "task", "auc", "auc_ci_low", "auc_ci_high"]]))
    return "\n\n".join(parts) + f"\n\n{source(runs['06_linear_probe'], runs['06_linear_probe--ex2'])}\n"


def linear_ex3(runs: dict[str, Path]) -> str:
    from sklearn.metrics import roc_curve

    from cxrlib.chapters import linear_probe as linear_eval
    from cxrlib.training import probe, ssl

    main = runs["06_linear_probe"]
    params = run_params(main)
    task = "kermany_pneumonia" if "kermany_pneumonia" in params["tasks"] else params["tasks"][0]
    pre = params["pretrain"]
    table = linear_eval.task_table(task, data_root(), params["seed"], params.get("fit_limit"),
                                   test_limit=params.get("test_limit"))
    # pretrain_dir names a run folder of the same checkout (book/_generated/02_pretrain), wherever it now is
    pretrain_dir = find_book_root(main) / params["pretrain_dir"]
    finals, _ = linear_eval.checkpoint_inits(ssl.read_checkpoint_index(pretrain_dir))
    rows = []
    for init in [linear_eval.Init("random", "none"), finals[0]]:
        model, info = linear_eval.load_init(pre["backbone"], init, image_size=pre["image_size"], seed=params["seed"])
        features = linear_eval.init_features(model, info, table, task, preprocess=pre["preprocess"],
                                             image_size=pre["image_size"], feature_dir=main / "features")
        _, fitted, prob = linear_eval.evaluate_features(features, table, task, seed=params["seed"], n_boot=1)
        fit, test = (table["role"] == "fit").to_numpy(), (table["role"] == "test").to_numpy()
        from cxrlib.images.tasks import get_task

        y = get_task(task).targets(table)
        fpr, tpr, thresholds = roc_curve(y[fit], fitted.predict_proba(features[fit]))
        youden = float(thresholds[np.argmax(tpr - fpr)])
        for name, threshold in (("0.5", 0.5), (f"Youden on fit rows ({youden:.3f})", youden)):
            m = probe.probe_metrics(y[test], prob, threshold=threshold)
            rows.append({"init": init.name, "threshold": name, "sensitivity": m["sen"], "specificity": m["spe"],
                         "accuracy": m["acc"]})
    frame = pd.DataFrame(rows)
    return (f"Task {task}, test part; the probe is refitted on the features cached in the run folder (same C "
            "selection and seed as the run). The probe weights the classes inversely to their frequency, so 0.5 is "
            "already near a balanced operating point; Youden's threshold from the fit rows moves it by what the fit "
            "rows' ROC curve says:\n\n" + markdown_table(frame) + f"\n\n{source(main)}\n")


def linear_ex4(runs: dict[str, Path]) -> str:
    main = runs["06_linear_probe"]
    table = probe_rows(main).query("init == 'random'")
    lines = [f"{r.task}: AUROC {r.auc:.3f} (95 % CI {r.auc_ci_low:.3f} to {r.auc_ci_high:.3f}, {int(r.n_test)} test images)"
             for r in table.itertuples()]
    return "Linear probe on a frozen, untrained ResNet: " + "; ".join(lines) + f".\n\n{source(main)}\n"
