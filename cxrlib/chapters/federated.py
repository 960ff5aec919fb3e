"""Notebook 08's glue: document 003's federated system built (data, baselines, tables, figures).

Data: the classroom task (Kermany pediatric pneumonia, :func:`cxrlib.images.tasks.get_task`), read through
the shared preprocessing cache (:class:`cxrlib.images.preprocess.PreprocessCache`, the classroom pipeline
at ``cache_size`` px, the same entries notebook 03 fills), shrunk to ``image_size`` px by area averaging,
standardised per image (no statistic crosses an institution) and flattened. Rows: the task's
patient-disjoint train / val / test parts; the train and test rows are divided among the institutions
by patient (:mod:`cxrlib.federated.partition`), the val rows are the validators' check sets.

Baselines trained in the notebook's own process with the same model and optimiser
(:mod:`cxrlib.federated.model`): **centralised** (all institutions' training rows pooled, as many epochs
as a client trains in the whole federation) and **local only** (each institution alone, same epochs).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cxrlib.federated import aggregation, attacks, ledger, model
from cxrlib.federated.partition import (
    assert_institutions_disjoint,
    check_institutions,
    partition_patients,
    partition_summary,
)
from cxrlib.images.preprocess import PreprocessCache, preprocess_config
from cxrlib.images.tasks import TARGET, get_task
from cxrlib.images.task_tables import subsample
from cxrlib.stats import bootstrap_auroc
from cxrlib.stats.metrics import auroc

POOLED = "pooled"


def load_images(task: str, data_root, *, preprocess: str, cache_size: int, image_size: int, seed: int,
                subset: dict | None = None, val_fraction: float | None = None, num_threads: int = 2):
    """``(table, x)``: the task table (``target``, ``patient_id``, ``split``) and the flattened, per-image
    standardised ``image_size`` px images (float32, one row per table row)."""
    spec = get_task(task)
    table = spec.load_table(data_root, seed=seed, val_fraction=val_fraction)
    if subset:
        table = subsample(table, spec, subset, seed)
    cache = PreprocessCache(None, preprocess_config(preprocess, cache_size))
    cache.warm(table["path"], progress=False, num_threads=num_threads)
    images = np.stack([cache.get(p) for p in table["path"]])
    if image_size != cache_size:
        images = np.stack([cv2.resize(im, (image_size, image_size), interpolation=cv2.INTER_AREA) for im in images])
    x = images.reshape(len(images), -1).astype(np.float32)
    x = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)
    return table.reset_index(drop=True), x


def institutions(table: pd.DataFrame, n_clients: int, *, sizes, alpha: float, min_share: float, seed: int,
                 names: list[str] | None = None) -> np.ndarray:
    """Institution per row (-1 for the val rows, which the validators hold), patient-disjoint and large enough
    to measure anything (both checked: :func:`cxrlib.federated.partition.check_institutions`)."""
    held = table["split"].isin(["train", "test"]).to_numpy()
    client = np.full(len(table), -1, dtype=np.int64)
    part = partition_patients(table[held], n_clients, sizes=sizes, alpha=alpha, min_share=min_share, seed=seed,
                              label=TARGET)
    assert_institutions_disjoint(table[held], part)
    check_institutions(table[held], part, n_clients, label=TARGET, names=names)
    client[held] = part.to_numpy()
    return client


def partition_table(table: pd.DataFrame, client: np.ndarray, names: list[str]) -> pd.DataFrame:
    held = client >= 0
    summary = partition_summary(table[held], pd.Series(client[held]), label=TARGET, names=names)
    wide = summary.pivot(index="institution", columns="split", values=["images", "patients", "positive_share"])
    wide.columns = [f"{split} {what.replace('_', ' ')}" for what, split in wide.columns]
    order = [c for s in ("train", "test") for c in (f"{s} images", f"{s} patients", f"{s} positive share")]
    return wide[order].reset_index()


def plot_partition(table: pd.DataFrame, client: np.ndarray, names: list[str]):
    fig, ax = plt.subplots(figsize=(6, 3))
    train = (client >= 0) & (table["split"] == "train").to_numpy()
    y = table[TARGET].to_numpy()
    neg = [int(((client == k) & train & (y == 0)).sum()) for k in range(len(names))]
    pos = [int(((client == k) & train & (y == 1)).sum()) for k in range(len(names))]
    ax.bar(names, neg, color="tab:blue", label="normal")
    ax.bar(names, pos, bottom=neg, color="tab:orange", label="pneumonia")
    ax.set_ylabel("training images")
    ax.legend(frameon=False)
    return fig


# ------------------------------------------------------------------------------------- baselines


def rows_of(table: pd.DataFrame, client: np.ndarray, split: str, k: int | None = None) -> np.ndarray:
    mask = (table["split"] == split).to_numpy() & (client >= 0)
    return mask & (client == k) if k is not None else mask


def centralised(x, y, table, client, *, hidden, epochs, lr, batch_size, weight_decay, seed):
    rows = rows_of(table, client, "train")
    params = model.init_params(x.shape[1], hidden, seed)
    return model.train(params, x[rows], y[rows], epochs=epochs, lr=lr, batch_size=batch_size,
                       weight_decay=weight_decay, seed=seed)[0]


def local_only(x, y, table, client, n_clients, *, hidden, epochs, lr, batch_size, weight_decay, seed):
    out = []
    for k in range(n_clients):
        rows = rows_of(table, client, "train", k)
        params = model.init_params(x.shape[1], hidden, seed)
        out.append(model.train(params, x[rows], y[rows], epochs=epochs, lr=lr, batch_size=batch_size,
                               weight_decay=weight_decay, seed=seed + 1 + k)[0])
    return out


def fedavg_in_process(x, y, table, client, n_clients, *, rounds, local_epochs, hidden, lr, batch_size, weight_decay,
                      seed):
    """FedAvg without processes, ledger or validators: the Flower federation's computation in this process
    (same initial model, same local training and batch-order seeds, :func:`cxrlib.federated.model.client_round_seed`,
    same weighted average, :func:`cxrlib.federated.aggregation.fedavg`). Equal to the Flower ``fedavg`` run
    whenever its validators accept every update (tested); used to replicate the comparison over partition
    seeds, where starting 1 + ``n_clients`` processes per seed would cost more than the training."""
    params = model.init_params(x.shape[1], hidden, seed)
    parts = [rows_of(table, client, "train", k) for k in range(n_clients)]
    for round_ in range(1, rounds + 1):
        updates = [model.train(params, x[r], y[r], epochs=local_epochs, lr=lr, batch_size=batch_size,
                               weight_decay=weight_decay, seed=model.client_round_seed(seed, round_, k))[0]
                   for k, r in enumerate(parts)]
        params = aggregation.fedavg(updates, [int(r.sum()) for r in parts])
    return params


# ----------------------------------------------------------------------------------- evaluation


def _auroc_row(y, score, groups, n_boot, seed) -> dict:
    if 0 < y.sum() < len(y):
        table = bootstrap_auroc(y, score, n_boot=n_boot, seed=seed, groups=groups, averages=()).table.iloc[0]
        auc, low, high = float(table["auc"]), float(table["ci_low"]), float(table["ci_high"])
    else:
        auc = low = high = float("nan")
    return {"images": len(y), "positives": int(y.sum()), "accuracy": float(np.mean((score >= 0.5) == (y == 1))),
            "auroc": auc, "ci_low": low, "ci_high": high}


def performance_table(models: dict, x, y, table, client, names: list[str], *, n_boot: int, seed: int) -> pd.DataFrame:
    """Test accuracy (threshold 0.5) and AUROC with a 95% patient-bootstrap CI per institution and pooled.

    ``models``: name -> parameters (one model for everybody) or a list of per-institution parameters
    (local only: each institution's test images are scored by its own model; pooled = all of them)."""
    patients = table["patient_id"].to_numpy()
    rows = []
    for name, params in models.items():
        per_inst = isinstance(params, list) and isinstance(params[0], list)
        pooled_y, pooled_s, pooled_g = [], [], []
        for k, inst in enumerate(names):
            r = rows_of(table, client, "test", k)
            score = model.predict_proba(params[k] if per_inst else params, x[r])
            pooled_y.append(y[r]), pooled_s.append(score), pooled_g.append(patients[r])
            rows.append({"model": name, "institution": inst, **_auroc_row(y[r], score, patients[r], n_boot, seed)})
        rows.append({"model": name, "institution": POOLED,
                     **_auroc_row(np.concatenate(pooled_y), np.concatenate(pooled_s), np.concatenate(pooled_g),
                                  n_boot, seed)})
    return pd.DataFrame(rows)


def auroc_matrix(perf: pd.DataFrame) -> pd.DataFrame:
    """Test AUROC, models x institutions (compact view of :func:`performance_table`)."""
    wide = perf.pivot(index="model", columns="institution", values="auroc")
    return wide.loc[list(dict.fromkeys(perf["model"]))].reset_index()


def rounds_frame(results: dict) -> pd.DataFrame:
    rows = []
    for name, res in results.items():
        rows.append({"run": name, "round": 0, "test_auroc": res["initial"].get("test_auroc")})
        for r in res["rounds"]:
            rows.append({"run": name, "round": r["round"], "test_auroc": r.get("test_auroc"),
                         "accepted": len(r["accepted"]), "rejected": len(r["rejected"])})
    return pd.DataFrame(rows)


def plot_rounds(results: dict, centralised_auroc: float | None = None):
    frame = rounds_frame(results)
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for name, group in frame.groupby("run", sort=False):
        ax.plot(group["round"], group["test_auroc"], marker="o", label=name)
    if centralised_auroc is not None:
        ax.axhline(centralised_auroc, color="grey", ls=":", label="centralised")
    ax.set_xlabel("round")
    ax.set_ylabel("pooled test AUROC")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    return fig


def cost_table(results: dict) -> pd.DataFrame:
    """Per run: parameters, payload bytes per round (down: global model to every client; up: client
    models), seconds per round (server, from sending the model to the aggregate record), a client's local
    training time, the validators' time, and the ledger's size."""
    rows = []
    for name, res in results.items():
        rounds = res["rounds"]
        fit = [s for r in rounds for s in (r.get("client_fit_seconds") or {}).values() if s is not None]
        store = ledger.storage_by_kind(res["ledger"])
        total = sum(v["bytes"] for v in store.values())
        rows.append({
            "run": name, "parameters": res["n_parameters"], "rounds": len(rounds),
            "MB down per round": np.mean([r["bytes_down"] for r in rounds]) / 1e6,
            "MB up per round": np.mean([r["bytes_up"] for r in rounds]) / 1e6,
            "s per round (server)": np.mean([r["round_seconds"] for r in rounds]),
            "s local training (client mean)": float(np.mean(fit)) if fit else float("nan"),
            "s validation per round": np.mean([r.get("validation_seconds", 0.0) for r in rounds]),
            "ledger records": sum(v["records"] for v in store.values()),
            "ledger kB": total / 1e3, "ledger kB per round": (total - store["genesis"]["bytes"]) / 1e3 / max(len(rounds), 1),
        })
    return pd.DataFrame(rows)


def attack_table(results: dict, runs: dict, attacker: str) -> pd.DataFrame:
    rows = []
    for name, res in results.items():
        spec = runs[name]
        rounds = res["rounds"]
        rejected_attacker = sum(attacker in r["rejected"] for r in rounds)
        rejected_honest = sum(len(set(r["rejected"]) - {attacker}) for r in rounds)
        reasons = sorted({reason.split(" ")[0] + (" bound" if reason.startswith("norm") else " AUROC")
                          for r in rounds for c, rs in (r.get("reject_reasons") or {}).items() for reason in rs})
        rows.append({"run": name, "rule": spec["rule"], "attack": spec["attack"], "validation": spec["validate"],
                     "final pooled test AUROC": rounds[-1].get("test_auroc") if rounds else float("nan"),
                     "attacker's updates rejected": f"{rejected_attacker} of {len(rounds)}" if spec["attack"] != "none" else "–",
                     "honest updates rejected": rejected_honest, "validators objected (norm / check)": ", ".join(reasons) or "–"})
    return pd.DataFrame(rows)


def membership_rows(models: dict, x, y, table, client, *, n_boot: int, seed: int) -> pd.DataFrame:
    """Loss-threshold membership inference on each model: members = the institutions' training images,
    non-members = the val rows, patients held out of the same official training folder (the same curation
    as the members; no model trained on them, the validators only scored updates on them). The official
    test folder is another curation (another positive share), so an attack on it would mix distribution
    shift with membership."""
    patients = table["patient_id"].to_numpy()
    train, test = rows_of(table, client, "train"), rows_of(table, client, "test")
    held = (table["split"] == "val").to_numpy()
    out = {}
    for name, params in models.items():
        out[name] = attacks.membership_inference(
            model.sample_losses(params, x[train], y[train]), model.sample_losses(params, x[held], y[held]),
            member_groups=patients[train], nonmember_groups=patients[held], n_boot=n_boot, seed=seed)
        out[name]["member positive share"] = float(y[train].mean())
        out[name]["non-member positive share"] = float(y[held].mean())
        out[name]["train AUROC"] = float(auroc(y[train], model.predict_proba(params, x[train])))
        out[name]["test AUROC"] = float(auroc(y[test], model.predict_proba(params, x[test])))
    return attacks.membership_table(out)


def forged_ledger(lines: list[str], path) -> None:
    """Write to ``path`` a ledger that says what ``lines`` say with one sample count changed, with fresh keys
    for every party registered in its genesis and every record re-signed and re-hashed: consistent in
    itself, so only keys trusted from outside the ledger expose it."""
    records = [json.loads(line) for line in lines]
    registry = ledger.key_registry(records[0]["body"])
    forger = {"aggregator": ledger.new_key(), **{party: ledger.new_key() for group in ("clients", "validators")
                                                 for party in registry[group]}}
    forged = {"aggregator": ledger.public_hex(forger["aggregator"]),
              **{group: {p: ledger.public_hex(forger[p]) for p in registry[group]} for group in ("clients", "validators")}}
    Path(path).unlink(missing_ok=True)
    writer = ledger.LedgerWriter(path)
    changed = False
    for record in records:
        kind, round_, body = record["kind"], record["round"], dict(record["body"])
        if kind == "genesis":
            body.update(forged)
        else:
            if kind == "update" and not changed:
                body["num_samples"], changed = body["num_samples"] + 1000, True
            signer = body.get("client_id") if kind == "update" else body.get("validator_id") if kind == "vote" else "aggregator"
            body = ledger.sign_body(forger[signer], kind, round_, body)
        writer.append(kind, round_, body)


def tamper_demo(ledger_path, workdir, trusted) -> pd.DataFrame:
    """Copies of a ledger with one record changed, forged, swapped or removed, and one forged whole (its own
    keys in its genesis), and what verify says against the ``trusted`` public keys."""
    lines = Path(ledger_path).read_text(encoding="utf-8").splitlines()
    update_at = next(i for i, line in enumerate(lines) if json.loads(line)["kind"] == "update")

    def changed(i, edit):
        record = json.loads(lines[i])
        edit(record)
        return [*lines[:i], ledger.canonical_json(record), *lines[i + 1:]]

    def rehash(record):
        record["hash"] = ledger.record_hash(record)

    def tamper(record):
        record["body"]["num_samples"] += 1000

    def forge(record):
        record["body"]["metrics"]["train_loss"] = 0.0
        key = ledger.new_key()  # somebody else's key: the hash is recomputed, the signature cannot be
        record["body"] = ledger.sign_body(key, record["kind"], record["round"], record["body"])
        rehash(record)

    cases = {
        "untouched": lines,
        "tampered update (num_samples changed)": changed(update_at, tamper),
        "forged signature (re-signed with an unregistered key, hash recomputed)": changed(update_at, forge),
        "two records swapped": [*lines[:update_at], lines[update_at + 1], lines[update_at], *lines[update_at + 2:]],
        "a record removed": [*lines[:update_at], *lines[update_at + 1:]],
        "last record removed": lines[:-1],
        "forged ledger (num_samples changed, new keys in the genesis, all re-signed and re-hashed)": None,
    }
    rows = []
    for name, content in cases.items():
        path = Path(workdir) / f"ledger_{len(rows)}.jsonl"
        if content is None:
            forged_ledger(lines, path)
        else:
            path.write_text("\n".join(content) + "\n", encoding="utf-8")
        report = ledger.verify_ledger(path, trusted=trusted)
        rows.append({"ledger": name, "verifies": report.ok, "first bad record": report.bad_index if not report.ok else "–",
                     "verify says": str(report)})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ replication over partition seeds

CENTRAL, FEDAVG = "centralised", "FedAvg"


def local_name(inst: str) -> str:
    """The arm name of institution ``inst``'s local-only model."""
    return f"{inst} alone"


def learning_of(params, x, y, table, rows_train, *, n_boot: int, seed: int, what: str):
    """Did this perceptron learn? Its validation AUROC (the val rows: held-out training patients, patient
    bootstrap) against chance, and its mean training loss on ``rows_train`` against the no-information loss
    of those targets (:func:`cxrlib.stats.learning.check_learning`)."""
    from cxrlib.stats.learning import binary_no_information_loss, check_learning

    val = (table["split"] == "val").to_numpy()
    row = _auroc_row(y[val], model.predict_proba(params, x[val]), table["patient_id"].to_numpy()[val], n_boot, seed)
    return check_learning(estimate=row["auroc"], ci_low=row["ci_low"], ci_high=row["ci_high"],
                          final_loss=float(np.mean(model.sample_losses(params, x[rows_train], y[rows_train]))),
                          no_information=binary_no_information_loss(y[rows_train]), what=what)


def replicate_partitions(x, y, table, n_clients: int, *, seeds, sizes, alpha: float, min_share: float, names,
                         hidden: int, rounds: int, local_epochs: int, lr: float, batch_size: int,
                         weight_decay: float, n_boot: int) -> dict:
    """Centralised, FedAvg (in process, :func:`fedavg_in_process`) and every institution alone, once per
    partition seed (the seed draws the institutions' patients and class mix, the initial weights and the
    batch order). Every model is scored on the *whole* test part (the same images for every seed and arm,
    so comparisons are paired) and checked for learning (:func:`learning_of`).

    Returns ``{"seeds", "y", "groups", "scores": arm -> seed -> test scores, "checks": arm -> seed ->
    LearningCheck, "parts": one row per seed and institution (training images, positive share)}``."""
    test = (table["split"] == "test").to_numpy()
    scores: dict[str, dict[int, np.ndarray]] = {}
    checks: dict[str, dict] = {}
    parts = []
    for s in seeds:
        s = int(s)
        client = institutions(table, n_clients, sizes=sizes, alpha=alpha, min_share=min_share, seed=s, names=names)
        if not (client[test] >= 0).all():
            raise AssertionError("every test image belongs to an institution (the pooled test set is shared)")
        kwargs = dict(hidden=hidden, lr=lr, batch_size=batch_size, weight_decay=weight_decay, seed=s)
        models = {CENTRAL: (centralised(x, y, table, client, epochs=rounds * local_epochs, **kwargs),
                            rows_of(table, client, "train")),
                  FEDAVG: (fedavg_in_process(x, y, table, client, n_clients, rounds=rounds, local_epochs=local_epochs,
                                             **kwargs), rows_of(table, client, "train"))}
        alone = local_only(x, y, table, client, n_clients, epochs=rounds * local_epochs, **kwargs)
        for k, inst in enumerate(names):
            rows = rows_of(table, client, "train", k)
            models[local_name(inst)] = (alone[k], rows)
            parts.append({"seed": s, "institution": inst, "train images": int(rows.sum()),
                          "train positive share": float(y[rows].mean())})
        for arm, (params, rows) in models.items():
            scores.setdefault(arm, {})[s] = model.predict_proba(params, x[test])
            checks.setdefault(arm, {})[s] = learning_of(params, x, y, table, rows, n_boot=n_boot, seed=s,
                                                        what=f"{arm} model (seed {s})")
    return {"seeds": [int(s) for s in seeds], "y": y[test], "groups": table["patient_id"].to_numpy()[test],
            "scores": scores, "checks": checks, "parts": pd.DataFrame(parts)}


def replicate_checks_table(rep: dict) -> pd.DataFrame:
    """One row per arm and seed: the learning check's numbers and the pooled test AUROC."""
    rows = []
    for arm, by_seed in rep["checks"].items():
        for s, check in by_seed.items():
            rows.append({"model": arm, "seed": s, "validation AUROC": check.estimate, "ci_low": check.ci_low,
                         "ci_high": check.ci_high, "final training loss": check.final_loss,
                         "no-information loss": check.no_information_loss, "learned": check.label,
                         "test AUROC": float(auroc(rep["y"], rep["scores"][arm][s]))})
    return pd.DataFrame(rows)


def replicate_comparisons(rep: dict, names, *, n_boot: int, seed: int) -> list:
    """The replicated quantities the chapter concludes from: each arm's test AUROC against chance, FedAvg -
    centralised, and FedAvg - each institution alone (paired, patient bootstrap over the shared test set)."""
    from cxrlib.stats.replication import replicated_auroc, replicated_auroc_difference

    y, groups, scores = rep["y"], rep["groups"], rep["scores"]
    out = [replicated_auroc(y, scores[arm], name=f"AUROC({arm})", groups=groups, n_boot=n_boot, seed=seed)
           for arm in scores]
    for other in (CENTRAL, *(local_name(inst) for inst in names)):
        out.append(replicated_auroc_difference(y, scores[FEDAVG], scores[other], name=f"AUROC({FEDAVG}) - AUROC({other})",
                                               groups=groups, n_boot=n_boot, seed=seed))
    return out


def _failed(rep: dict, arm: str) -> list[int]:
    return [s for s, check in rep["checks"][arm].items() if not check.learned]


def replicate_sentences(rep: dict, results: list, names, sizes) -> str:
    """Generated conclusions, one per comparison, each only what its verdict allows and only for models that
    learned (a model that failed its learning check at any seed is not interpreted)."""
    by_name = {r.name: r for r in results}
    lines = []
    for other, above, below in [
        (CENTRAL, "FedAvg beats centralised training", "centralised training beats FedAvg"),
        *((local_name(inst), f"federation helps {inst} ({share:.0%} of the patients): FedAvg beats the model it "
           "trains alone", f"{inst} ({share:.0%} of the patients) does better alone than with FedAvg")
          for inst, share in zip(names, sizes)),
    ]:
        r = by_name[f"AUROC({FEDAVG}) - AUROC({other})"]
        failed = {arm: _failed(rep, arm) for arm in (FEDAVG, other) if _failed(rep, arm)}
        if failed:
            what = "; ".join(f"{arm} at seed(s) {', '.join(map(str, s))}" for arm, s in failed.items())
            lines.append(f"- {r.name}: not interpreted, a model did not learn ({what}).")
        else:
            lines.append("- " + r.sentence(above=above, below=below))
    concluded = [r for r in results if r.name.startswith(f"AUROC({FEDAVG}) -") and r.concluded]
    head = (f"Over {len(rep['seeds'])} partition seeds (each draws the institutions' patients, their class mix, the "
            f"initial weights and the batch order), every model scored on the same {len(rep['y'])} test images; "
            f"{len(concluded)} of {len(results) - len(rep['scores'])} comparisons reach a verdict (the interval and "
            "every seed agree):")
    return head + "\n\n" + "\n".join(lines)


# --------------------------------------------------------------------------- validated attack run

def validated_attack_text(results: dict, runs: dict, attacker: str, names, table, client, x, y, *, n_boot: int,
                          seed: int, attacked: str = "fedavg_attack_validated", honest: str = "fedavg") -> str:
    """What the validators did to the attacker in the validated run (rounds rejected, which check objected in
    how many votes, the attacker's share of the training images), and the final model of that run against
    the honest run's on the same test images (paired patient bootstrap; one Flower run each)."""
    from cxrlib.federated.flower_app import load_model
    from cxrlib.stats.replication import replicated_auroc_difference

    rounds = results[attacked]["rounds"]
    rejected = sum(attacker in r["rejected"] for r in rounds)
    votes = [rec["body"] for rec in ledger.read_records(results[attacked]["ledger"])
             if rec["kind"] == "vote" and rec["body"]["client_id"] == attacker]
    norm = sum(any(s.startswith("norm") for s in v["reasons"]) for v in votes)
    check = sum(any(s.startswith("check") for s in v["reasons"]) for v in votes)
    train = rows_of(table, client, "train")
    share = float((client[train] == list(names).index(attacker)).mean())
    honest_rej = sum(len(set(r["rejected"]) - {attacker}) for r in rounds)
    spec = runs[attacked]
    test = rows_of(table, client, "test")
    diff = replicated_auroc_difference(
        y[test], {seed: model.predict_proba(load_model(results[attacked]["model"]), x[test])},
        {seed: model.predict_proba(load_model(results[honest]["model"]), x[test])},
        name=f"AUROC({attacked}) - AUROC({honest})", groups=table["patient_id"].to_numpy()[test], n_boot=n_boot,
        seed=seed)
    return (f"In `{attacked}` the validators rejected {attacker}, the attacking institution ({spec['attack']}), in "
            f"{rejected} of {len(rounds)} rounds: of its {len(votes)} votes, {norm} cite the norm bound and {check} the "
            f"held-out check. {attacker} holds {share:.0%} of the training images, so the model of that run was "
            f"averaged from the other institutions' updates only; honest updates rejected: {honest_rej}. Its final "
            f"model against the honest `{honest}` run's on the same test images: "
            + diff.sentence(above=f"the validated attacked run beats the honest run",
                            below=f"the validated attacked run is worse than the honest run"))
