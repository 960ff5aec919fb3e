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
"""
