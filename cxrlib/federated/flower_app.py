"""Federated training on Flower (``flwr==1.42.0``): one server process and one process per institution,
talking gRPC on 127.0.0.1 only, every update written to the signed, hash-chained ledger.

We use Flower's compatibility API (``flwr.server.start_server`` with a custom ``Strategy``, and
``flwr.client.start_client`` with a ``NumPyClient``), deprecated since Flower 1.13 but shipped and
working in 1.42: it needs no SuperLink/SuperExec processes and no app bundle, so one federation is
``1 + n_clients`` processes. Flower does the transport (gRPC streams, serialization of the parameters,
client registration, round timeouts); we write no network code.

Process layout of :func:`run_federation` (all children of the caller, all on 127.0.0.1):

* ``python -m cxrlib.federated server <config.json> --keys <dir>``: the Flower server with :class:`LedgerStrategy`
  (the aggregator). It holds the aggregator's and the validators' signing keys, the validators' check
  sets (the task's validation part) and the pooled test part for the per-round learning curve. It writes
  the ledger, ``result.json`` and the final model (``model.npz``).
* ``python -m cxrlib.federated client <config.json> --client k --keys <dir>``: institution ``k``. It reads
  only its own training rows of the data file and its own private key; each round it trains locally, hashes
  and signs its update and sends parameters, sample count, metrics and signature back through Flower.

Keys: the private keys live only while the federation runs, in a temporary folder outside the run folder
that only the user can read (files 0600); the run folder gets ``public_keys.json`` (public keys only), the
keys a verifier trusts (``python -m cxrlib.federated verify <ledger> --keys <workdir>/public_keys.json``).

Telemetry: ``FLWR_TELEMETRY_ENABLED=0`` is set here before Flower is imported and in every child's
environment.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

os.environ["FLWR_TELEMETRY_ENABLED"] = "0"

import numpy as np  # noqa: E402

from cxrlib.federated import aggregation, attacks, ledger, model  # noqa: E402
from cxrlib.federated.validators import ValidationRule, Validator, check_auroc, norm_ratios, split_check_sets  # noqa: E402

AGGREGATOR = "aggregator"
PUBLIC_KEYS = "public_keys.json"  # in the workdir: the parties' public keys (never a private one)


@dataclass
class FederationConfig:
    """Everything a server or client process needs (written as ``config.json`` beside the run)."""

    name: str
    data: str  # npz written by :func:`write_federation_data`
    workdir: str
    n_clients: int = 4
    rounds: int = 5
    local_epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 32
    weight_decay: float = 1e-4
    hidden: int = 64
    seed: int = 0
    rule: str = "fedavg"
    trim: float = 0.25
    validation: dict = field(default_factory=lambda: ValidationRule().to_dict())
    attack: str = "none"
    attack_client: int = 0
    attack_factor: float = 4.0
    attack_from_round: int = 1
    round_timeout: float = 60.0
    join_timeout: float = 60.0
    port: int = 0
    experiments: list = field(default_factory=list)  # [{name, rule, validate, attack}]: a session of runs

    @property
    def experiment_list(self) -> list[dict]:
        """The runs of this session, one after another over the same connected institutions (a fresh
        model and ledger each); without ``experiments`` one run from the top-level fields."""
        if self.experiments:
            return [dict(e) for e in self.experiments]
        return [{"name": self.name, "rule": self.rule, "validate": bool(self.validation.get("validate", True)),
                 "attack": self.attack}]

    def experiment_dir(self, name: str) -> Path:
        return Path(self.workdir) / name if self.experiments else Path(self.workdir)

    @property
    def client_ids(self) -> list[str]:
        return [client_id(k) for k in range(self.n_clients)]

    @property
    def rule_obj(self) -> ValidationRule:
        return ValidationRule(**self.validation)

    def path(self, name: str) -> Path:
        return Path(self.workdir) / name

    def save(self) -> Path:
        path = self.path("config.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FederationConfig":
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def client_id(k: int) -> str:
    return f"inst{k}"


def validator_id(v: int) -> str:
    return f"validator{v}"


# ------------------------------------------------------------------------------------------ data


def write_federation_data(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, client: np.ndarray,
                          split: np.ndarray, patient: np.ndarray) -> Path:
    """One npz for all processes: features ``x`` (N x d float32), labels, institution per row (-1 for rows
    no institution holds, e.g. the validators' validation part), split and patient id."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x.astype(np.float32), y=y.astype(np.int64), client=client.astype(np.int64),
             split=split.astype(str), patient=patient.astype(str))
    return path


def load_federation_data(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


# ---------------------------------------------------------------------------------------- server


def _flwr():
    import flwr.common as common
    import flwr.server as server
    from flwr.server.strategy import Strategy

    return common, server, Strategy


def make_strategy(cfg: FederationConfig, data: dict, keys_dir: Path):
    """The :class:`LedgerStrategy` of a session (built here so that Flower is imported lazily)."""
    common, _, Strategy = _flwr()
    experiments = cfg.experiment_list

    class LedgerStrategy(Strategy):
        """Flower strategy = aggregator: verify signatures, ledger every update, collect validator votes,
        aggregate the approved updates with the experiment's rule, ledger the result. Server rounds
        ``(e - 1) * cfg.rounds + 1 .. e * cfg.rounds`` belong to experiment ``e``, each with its own
        ledger, initial model and result files."""

        def __init__(self):
            self.aggregator_key = ledger.read_key(keys_dir / f"{AGGREGATOR}.key")
            self.publics = ledger.read_public_keys(cfg.path(PUBLIC_KEYS))
            val_rows = data["split"] == "val"
            check_sets = split_check_sets(data["x"][val_rows], data["y"][val_rows], data["patient"][val_rows],
                                          cfg.rule_obj.n_validators, cfg.seed)
            self.validators = [Validator(validator_id(v), ledger.read_key(keys_dir / f"{validator_id(v)}.key"), xv, yv)
                               for v, (xv, yv) in enumerate(check_sets)]
            test = data["split"] == "test"
            self.x_test, self.y_test = data["x"][test], data["y"][test]
            self.results: dict[str, dict] = {}
            self.initial: dict = {}
            self.current = -1
            self._start(0)

        def _start(self, e: int) -> None:
            self.current, self.exp = e, experiments[e]
            self.rule = ValidationRule(**{**cfg.validation, "validate": bool(self.exp["validate"])})
            self.folder = cfg.experiment_dir(self.exp["name"])
            self.folder.mkdir(parents=True, exist_ok=True)
            for name in ("ledger.jsonl", "result.json", "model.npz"):
                (self.folder / name).unlink(missing_ok=True)
            self.params = model.init_params(data["x"].shape[1], cfg.hidden, cfg.seed)
            self.model_hash = ledger.params_sha256(self.params)
            self.writer = ledger.LedgerWriter(self.folder / "ledger.jsonl")
            self.writer.append("genesis", 0, ledger.genesis_body(
                self.publics["clients"], self.publics["validators"], self.publics[AGGREGATOR],
                rule={**self.rule.to_dict(), "aggregation": self.exp["rule"], "trim": cfg.trim},
                initial_model_hash=self.model_hash, federation=self.exp["name"]))
            self.rounds: list[dict] = []
            self._started_exp = time.perf_counter()
            self._started = 0.0
            self._bytes_down = 0

        def _finish(self) -> None:
            n = len(self.rounds)
            self.writer.append("close", n + 1, ledger.sign_body(
                self.aggregator_key, "close", n + 1, {"rounds": n, "model_hash": self.model_hash}))
            np.savez(self.folder / "model.npz", *self.params)
            result = {"name": self.exp["name"], "experiment": self.exp, "rounds": self.rounds, "initial": self.initial,
                      "server_seconds": time.perf_counter() - self._started_exp,
                      "n_parameters": model.n_parameters(self.params),
                      "ledger": str(self.folder / "ledger.jsonl"), "model": str(self.folder / "model.npz")}
            (self.folder / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
            self.results[self.exp["name"]] = result

        def _local(self, server_round: int) -> tuple[int, int]:
            return (server_round - 1) // cfg.rounds, (server_round - 1) % cfg.rounds + 1

        def _aggregate_record(self, round_, accepted, rejected, failures, dropped):
            agg = {"rule": self.exp["rule"], "accepted": sorted(accepted), "rejected": sorted(rejected),
                   "failures": sorted(failures), "dropped": dropped, "quorum": self.rule.quorum,
                   "validate": self.rule.validate, "model_hash": self.model_hash}
            self.writer.append("aggregate", round_, ledger.sign_body(self.aggregator_key, "aggregate", round_, agg))

        # Flower API ----------------------------------------------------------------------------
        def initialize_parameters(self, client_manager):
            return common.ndarrays_to_parameters(self.params)

        def configure_fit(self, server_round, parameters, client_manager):
            e, round_ = self._local(server_round)
            if e != self.current:  # next experiment: fresh model, fresh ledger
                self._finish()
                self._start(e)
                parameters = common.ndarrays_to_parameters(self.params)
            if server_round == 1:
                client_manager.wait_for(cfg.n_clients, timeout=int(cfg.join_timeout))
            clients = list(client_manager.all().values())
            self._started = time.perf_counter()
            if not clients:  # nobody to train: close the round in the ledger so its rounds stay consecutive
                self._aggregate_record(round_, [], [], cfg.client_ids, [])
                self.rounds.append({"round": round_, "received": 0, "accepted": [], "rejected": [],
                                    "failures": sorted(cfg.client_ids), "bytes_down": 0, "bytes_up": 0,
                                    "round_seconds": 0.0, "ledger_bytes": self.writer.path.stat().st_size})
                return []
            payload = sum(len(t) for t in parameters.tensors)
            self._bytes_down = payload * len(clients)
            ins = common.FitIns(parameters, {"round": round_, "base_hash": self.model_hash,
                                             "experiment": self.exp["name"]})
            return [(c, ins) for c in clients]

        def aggregate_fit(self, server_round, results, failures):
            _, round_ = self._local(server_round)
            rule = self.rule
            received, dropped, bytes_up = [], [], 0
            for _, res in results:
                bytes_up += sum(len(t) for t in res.parameters.tensors)
                params = common.parameters_to_ndarrays(res.parameters)
                metrics = dict(res.metrics)
                cid = str(metrics.pop("client_id", ""))
                signature = str(metrics.pop("signature", ""))
                body = {"client_id": cid, "update_hash": ledger.params_sha256(params), "base_hash": self.model_hash,
                        "num_samples": int(res.num_examples), "metrics": dict(sorted(metrics.items())),
                        "signature": signature}
                key = self.publics["clients"].get(cid)
                if key is None or not ledger.signature_ok(key, "update", round_, body):
                    dropped.append({"client_id": cid, "reason": "unregistered client or bad signature"})
                    continue
                if any(r[0]["client_id"] == cid for r in received):
                    dropped.append({"client_id": cid, "reason": "second update in the round"})
                    continue
                received.append((body, params))
            received.sort(key=lambda item: item[0]["client_id"])
            for body, _ in received:
                self.writer.append("update", round_, body)
            ratios = norm_ratios(self.params, [p for _, p in received]) if received else []
            global_scores = [check_auroc(self.params, v.x, v.y) for v in self.validators]
            votes = []
            t_val = time.perf_counter()
            for (body, params), ratio in zip(received, ratios):
                for validator, g_score in zip(self.validators, global_scores):
                    vote = validator.vote(round_, body["client_id"], body["update_hash"], params,
                                          g_score, float(ratio), rule)
                    self.writer.append("vote", round_, vote)
                    votes.append(vote)
            validation_seconds = time.perf_counter() - t_val
            approved = ledger.approved_clients(votes, rule.quorum)
            accepted = approved if rule.validate else [b["client_id"] for b, _ in received]
            chosen = [(b, p) for b, p in received if b["client_id"] in accepted]
            if chosen:
                self.params = aggregation.aggregate(self.exp["rule"], [p for _, p in chosen],
                                                    [b["num_samples"] for b, _ in chosen], cfg.trim)
            self.model_hash = ledger.params_sha256(self.params)
            got = {b["client_id"] for b, _ in received}
            self._aggregate_record(round_, accepted, got - set(accepted), set(cfg.client_ids) - got, dropped)
            fit_seconds = {b["client_id"]: b["metrics"].get("fit_seconds") for b, _ in received}
            self.rounds.append({
                "round": round_, "received": len(received), "flower_failures": len(failures),
                "accepted": sorted(accepted), "rejected": sorted(got - set(accepted)),
                "failures": sorted(set(cfg.client_ids) - got),
                "reject_reasons": {v["client_id"]: v["reasons"] for v in votes if not v["approve"]},
                "bytes_down": self._bytes_down, "bytes_up": bytes_up,
                "round_seconds": time.perf_counter() - self._started,
                "validation_seconds": validation_seconds,
                "client_fit_seconds": fit_seconds,
                "ledger_bytes": self.writer.path.stat().st_size,
            })
            return common.ndarrays_to_parameters(self.params), {}

        def configure_evaluate(self, server_round, parameters, client_manager):
            return []

        def aggregate_evaluate(self, server_round, results, failures):
            return None, {}

        def evaluate(self, server_round, parameters):
            from cxrlib.stats.metrics import auroc

            params = common.parameters_to_ndarrays(parameters)
            score = model.predict_proba(params, self.x_test)
            loss = float(np.mean(model.sample_losses(params, self.x_test, self.y_test)))
            metrics = {"test_auroc": float(auroc(self.y_test, score)), "test_loss": loss}
            if server_round == 0:
                self.initial = metrics  # every experiment starts from the same initial model
            elif self.rounds and self.rounds[-1]["round"] == self._local(server_round)[1]:
                self.rounds[-1].update(metrics)
            return loss, metrics

        def close(self):
            self._finish()

    return LedgerStrategy()


def serve(cfg: FederationConfig, keys_dir: str | os.PathLike) -> dict:
    """Run the Flower server of a session until its last round; close each experiment's ledger and write
    its ``result.json`` and ``model.npz``; return the results by experiment name. ``keys_dir``: the folder
    of the aggregator's and the validators' private keys."""
    _, server, _ = _flwr()
    data = load_federation_data(cfg.data)
    strategy = make_strategy(cfg, data, Path(keys_dir))
    server.start_server(server_address=f"127.0.0.1:{cfg.port}",
                        config=server.ServerConfig(num_rounds=cfg.rounds * len(cfg.experiment_list),
                                                   round_timeout=cfg.round_timeout),
                        strategy=strategy)
    strategy.close()
    return strategy.results


# ---------------------------------------------------------------------------------------- client


def make_client(cfg: FederationConfig, k: int, keys_dir: str | os.PathLike, fail_at_round: int | None = None):
    """Institution ``k``'s Flower ``NumPyClient``: local training on its own rows, hash, sign, send (its private
    key is read from ``keys_dir``)."""
    import flwr.client as flwr_client

    data = load_federation_data(cfg.data)
    mine = (data["client"] == k) & (data["split"] == "train")
    x, y = data["x"][mine], data["y"][mine]
    del data
    cid = client_id(k)
    key = ledger.read_key(Path(keys_dir) / f"{cid}.key")
    attack_of = {e["name"]: e["attack"] for e in cfg.experiment_list}  # the attacker's own plan

    class InstitutionClient(flwr_client.NumPyClient):
        def get_parameters(self, config):
            return model.init_params(x.shape[1], cfg.hidden, cfg.seed)

        def fit(self, parameters, config):
            round_ = int(config["round"])
            if fail_at_round is not None and round_ >= fail_at_round:
                os._exit(3)  # the institution drops off mid-round: no answer, connection gone
            started = time.perf_counter()
            base_hash = ledger.params_sha256(parameters)
            local, info = model.train(parameters, x, y, epochs=cfg.local_epochs, lr=cfg.lr,
                                      batch_size=cfg.batch_size, weight_decay=cfg.weight_decay,
                                      seed=model.client_round_seed(cfg.seed, round_, k))
            plan = attack_of.get(str(config.get("experiment", "")), "none")
            if plan != "none" and k == cfg.attack_client and round_ >= cfg.attack_from_round:
                local = attacks.poison(local, parameters, plan, cfg.attack_factor)
            metrics = {"train_loss": round(info.loss, 6), "train_accuracy": round(info.accuracy, 6),
                       "fit_seconds": round(time.perf_counter() - started, 4)}
            body = {"client_id": cid, "update_hash": ledger.params_sha256(local), "base_hash": base_hash,
                    "num_samples": int(len(y)), "metrics": dict(sorted(metrics.items()))}
            signed = ledger.sign_body(key, "update", round_, body)
            return local, int(len(y)), {"client_id": cid, "signature": signed["signature"], **metrics}

        def evaluate(self, parameters, config):
            return 0.0, 0, {}

    return InstitutionClient()


def run_client(cfg: FederationConfig, k: int, keys_dir: str | os.PathLike, fail_at_round: int | None = None) -> None:
    import flwr.client as flwr_client

    client = make_client(cfg, k, keys_dir, fail_at_round)
    flwr_client.start_client(server_address=f"127.0.0.1:{cfg.port}", client=client.to_client(), insecure=True,
                             max_wait_time=cfg.join_timeout)


# -------------------------------------------------------------------------------------- launcher


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def child_env() -> dict:
    env = {**os.environ, "FLWR_TELEMETRY_ENABLED": "0", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GRPC_VERBOSITY": "ERROR"}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def prepare_keys(cfg: FederationConfig, keys_dir: str | os.PathLike) -> dict:
    """Fresh Ed25519 keys for every party: the private ones in ``keys_dir`` (outside the run folder, files
    0600), the public ones in ``workdir/public_keys.json`` (the registry the genesis record copies and a
    verifier trusts). Our simplification: one launcher makes all keys; in a deployment each institution
    makes its own and registers only the public half."""
    keys = Path(keys_dir)
    publics = {"clients": ledger.generate_keys(cfg.client_ids, keys),
               "validators": ledger.generate_keys([validator_id(v) for v in range(cfg.rule_obj.n_validators)], keys),
               AGGREGATOR: ledger.generate_keys([AGGREGATOR], keys)[AGGREGATOR]}
    shutil.rmtree(cfg.path("keys"), ignore_errors=True)  # where private keys lay before: none stays in a run folder
    cfg.path(PUBLIC_KEYS).parent.mkdir(parents=True, exist_ok=True)
    cfg.path(PUBLIC_KEYS).write_text(json.dumps(publics, indent=2), encoding="utf-8")
    return publics


def run_federation(cfg: FederationConfig, *, timeout: float = 300.0, fail: dict[int, int] | None = None,
                   python: str = sys.executable) -> dict:
    """Start the server and the clients as processes on 127.0.0.1, wait for the server, stop any client
    still running, and return the run's ``result.json`` (plus ``wall_seconds`` and the processes' exit
    codes), or, for a session (``cfg.experiments``), a dict experiment name -> result (each with the
    session's ``wall_seconds`` and exit codes).

    ``fail``: client index -> round at which that client process exits in the middle of its round.
    Raises ``RuntimeError`` with the server log's tail when the server fails or exceeds ``timeout``.

    The parties' private keys exist only while the processes run: in a temporary folder outside
    ``cfg.workdir`` that only this user can read, deleted at the end (see :func:`prepare_keys`).
    """
    work = Path(cfg.workdir)
    work.mkdir(parents=True, exist_ok=True)
    cfg.port = free_port()
    keys = tempfile.TemporaryDirectory(prefix="cxrlib-federation-keys-")  # mode 0700
    env = child_env()
    started = time.perf_counter()
    logs, procs = [], []
    try:
        prepare_keys(cfg, keys.name)
        config_path = cfg.save()
        server_log = open(work / "server.log", "w")
        logs.append(server_log)
        server = subprocess.Popen([python, "-m", "cxrlib.federated", "server", str(config_path), "--keys", keys.name],
                                  stdout=server_log, stderr=subprocess.STDOUT, env=env, cwd=work)
        procs.append(server)
        for k in range(cfg.n_clients):
            log = open(work / f"client{k}.log", "w")
            logs.append(log)
            extra = ["--fail-at-round", str(fail[k])] if fail and k in fail else []
            procs.append(subprocess.Popen([python, "-m", "cxrlib.federated", "client", str(config_path),
                                           "--client", str(k), "--keys", keys.name, *extra],
                                          stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work))
        try:
            server.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"federation {cfg.name}: server still running after {timeout:.0f} s\n"
                               + _tail(work / "server.log")) from None
        deadline = time.perf_counter() + 5.0  # the server has told every client to shut down
        for proc in procs[1:]:
            try:
                proc.wait(timeout=max(0.1, deadline - time.perf_counter()))
            except subprocess.TimeoutExpired:
                pass
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for log in logs:
            log.close()
        keys.cleanup()
    results = {}
    for exp in cfg.experiment_list:
        path = cfg.experiment_dir(exp["name"]) / "result.json"
        if server.returncode != 0 or not path.exists():
            raise RuntimeError(f"federation {cfg.name}: server exited with {server.returncode}\n"
                               + _tail(work / "server.log"))
        result = json.loads(path.read_text(encoding="utf-8"))
        result["wall_seconds"] = time.perf_counter() - started
        result["exit_codes"] = [p.returncode for p in procs]
        results[exp["name"]] = result
    return results if cfg.experiments else results[cfg.name]


def load_model(path: str | os.PathLike) -> list[np.ndarray]:
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


def add_process_arguments(sub) -> None:
    server = sub.add_parser("server", help="run a federation's Flower server (started by run_federation)")
    server.add_argument("config")
    server.add_argument("--keys", required=True, help="folder of the aggregator's and validators' private keys")
    client = sub.add_parser("client", help="run one institution's Flower client (started by run_federation)")
    client.add_argument("config")
    client.add_argument("--client", type=int, required=True)
    client.add_argument("--keys", required=True, help="folder holding the institution's private key")
    client.add_argument("--fail-at-round", type=int, default=None)


def run_process(args: argparse.Namespace) -> int:
    cfg = FederationConfig.load(args.config)
    if args.command == "server":
        serve(cfg, args.keys)
    else:
        run_client(cfg, args.client, args.keys, args.fail_at_round)
    return 0
