"""Federated learning with a verifiable update ledger (document 003, problem statement 3), on Flower.

* :mod:`~cxrlib.federated.ledger`: append-only, hash-chained JSON-lines ledger with Ed25519 signatures
  and its verifier (light: no torch, no Flower);
* :mod:`~cxrlib.federated.partition`: patient-disjoint institutions with label and size skew;
* :mod:`~cxrlib.federated.model`: the numpy model every party trains;
* :mod:`~cxrlib.federated.validators`: norm bound, held-out check, quorum;
* :mod:`~cxrlib.federated.aggregation`: FedAvg, trimmed mean, median;
* :mod:`~cxrlib.federated.attacks`: poisoned updates, loss-threshold membership inference;
* :mod:`~cxrlib.federated.flower_app`: the Flower server (strategy = aggregator + validators + ledger),
  the clients, and the launcher that runs them as processes on 127.0.0.1.

``python -m cxrlib.federated verify <ledger.jsonl> --keys <public_keys.json>`` checks a ledger against public
keys taken from outside it and exits non-zero naming the first bad record.

Every name below is importable from the package and loaded on first use (the ledger and the partitions without
torch or Flower).
"""
from cxrlib.core.exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "partition": ["class_shares", "partition_patients", "assert_institutions_disjoint", "partition_summary"],
    "model": ["TrainInfo", "init_params", "n_parameters", "logits", "predict_proba", "sample_losses", "train"],
    "validators": ["ValidationRule", "Validator", "distance", "norm_ratios", "check_auroc", "split_check_sets"],
    "aggregation": ["aggregate", "fedavg", "trimmed_mean", "median"],
    "attacks": ["membership_inference", "membership_table"],
    "ledger": [
        "LedgerWriter", "VerifyReport", "verify_ledger", "canonical_json", "serialize_params", "params_sha256",
        "generate_keys", "write_key", "sign_body", "genesis_body", "approved_clients", "storage_by_kind",
    ],
    "flower_app": [
        "FederationConfig", "run_federation", "prepare_keys", "write_federation_data", "make_strategy", "serve",
        "make_client",
    ],
})
