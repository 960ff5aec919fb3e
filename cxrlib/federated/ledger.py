"""An append-only, hash-chained ledger of federated-learning updates (JSON lines), signed with Ed25519.

Light module: ``hashlib``, ``json``, ``numpy`` and ``cryptography`` only (no torch, no Flower).

Record layout (one JSON object per line, keys sorted, no spaces)::

    {"body": {...}, "hash": "<sha256>", "index": 7, "kind": "vote", "prev": "<sha256 of record 6>", "round": 2}

``hash`` is the SHA-256 of the record's canonical JSON without ``hash`` (so it covers ``prev``: changing,
removing, inserting or swapping any line breaks the chain at that line). The kinds, in the order a round
writes them:

* ``genesis`` (record 0, round 0): the registered parties and their Ed25519 public keys (``clients``,
  ``validators``, ``aggregator``), the validation rule and quorum, the hash of the initial model.
* ``update`` (one per client and round): ``client_id``, ``update_hash`` (SHA-256 of the serialized
  parameters the client sent, :func:`params_sha256`), ``base_hash`` (the global model it started from),
  ``num_samples``, the client's reported ``metrics`` and the client's ``signature`` over all of these.
* ``vote`` (one per validator and update): ``validator_id``, ``client_id``, ``update_hash``, ``approve``,
  the measured ``checks`` and the validator's ``signature``.
* ``aggregate`` (one per round, closes it): ``accepted`` (the client ids aggregated), ``rejected``,
  ``failures`` (clients that sent nothing), ``rule``, ``model_hash`` of the new global model, signed by
  the aggregator. :func:`verify_ledger` re-derives ``accepted`` from the votes and the quorum.
* ``close`` (last record): number of rounds and the final model hash, signed by the aggregator, so a
  ledger cut short (its last records missing) is detected too.

A signature covers :func:`canonical_json` of the body without ``signature`` plus the record's kind and
round (``{"body": ..., "kind": ..., "round": ...}``), so a signed vote cannot be replayed as another kind
or into another round. Every line must be exactly the canonical JSON of its record (no duplicate keys, no
NaN, no other spacing or key order), so that what is hashed and signed is what every reader reads.

**Trust.** A ledger proves nothing by itself: whoever writes a ledger can make fresh keys, register them
in its own genesis and sign anything. :func:`verify_ledger` therefore takes the parties' public keys from
outside the ledger (``trusted``: the registry of a public-keys file, :func:`read_public_keys`, or its
:func:`key_fingerprint`) and refuses a ledger whose genesis registers other keys. Private keys never sit
beside a ledger (see :func:`cxrlib.federated.flower_app.run_federation`).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ZERO_HASH = "0" * 64
KINDS = ("genesis", "update", "vote", "aggregate", "close")
FORMAT = "cxrlib-fl-ledger/1"
PARTIES = ("aggregator", "clients", "validators")  # the public-key registry: genesis and public-keys file


# ----------------------------------------------------------------------------------------- hashing


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, no NaN): the bytes that are hashed and signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def serialize_params(params: list[np.ndarray]) -> bytes:
    """Parameters as bytes: per array a header ``<dtype>|<shape>\\n`` and its little-endian values."""
    chunks = []
    for array in params:
        array = np.ascontiguousarray(array)
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        chunks.append(f"{little.dtype.str}|{','.join(map(str, array.shape))}\n".encode("ascii"))
        chunks.append(little.tobytes())
    return b"".join(chunks)


def params_sha256(params: list[np.ndarray]) -> str:
    """SHA-256 of :func:`serialize_params`: the ``update_hash`` / ``model_hash`` of the ledger."""
    return sha256_hex(serialize_params(params))


def record_hash(record: dict) -> str:
    return sha256_hex(canonical_json({k: v for k, v in record.items() if k != "hash"}))


# ------------------------------------------------------------------------------------------- keys


def new_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def private_hex(key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption()).hex()


def write_key(key: Ed25519PrivateKey, path: str | os.PathLike) -> Path:
    """The 32-byte private key as hex in a file readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(private_hex(key))
    return path


class KeyFileError(ValueError):
    """A key file (a party's private key, or a public-keys file) is missing or not what it should be."""


def read_key(path: str | os.PathLike) -> Ed25519PrivateKey:
    """A party's private key (32 bytes as hex, written by :func:`write_key`)."""
    path = Path(path)
    try:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text(encoding="ascii").strip()))
    except FileNotFoundError:
        raise KeyFileError(f"no private key at {path}: {path.stem}'s key is made by the launcher "
                           "(cxrlib.federated.flower_app.run_federation) for each federation") from None
    except (OSError, ValueError) as error:
        raise KeyFileError(f"{path} is not a private key file (32 bytes as hex): {error}") from None


def key_registry(genesis: dict) -> dict:
    """The public-key registry a genesis body holds: ``{"aggregator": hex, "clients": {id: hex},
    "validators": {id: hex}}``."""
    return {party: genesis.get(party) for party in PARTIES}


def key_fingerprint(registry: dict) -> str:
    """SHA-256 of the registry's canonical JSON: one string that stands for every party's public key
    (``verify --fingerprint``)."""
    return sha256_hex(canonical_json(key_registry(registry)))


def _is_public_key(value: Any) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
        return True
    except (ValueError, TypeError):
        return False


def read_public_keys(path: str | os.PathLike) -> dict:
    """The trusted public-key registry in a public-keys file (``public_keys.json``: ``aggregator``, ``clients``
    and ``validators``, each key 32 bytes as hex); :class:`KeyFileError` when it is missing or malformed."""
    path = Path(path)
    try:
        registry = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyFileError(f"no public-keys file at {path}") from None
    except (OSError, ValueError, RecursionError) as error:
        raise KeyFileError(f"cannot read the public-keys file {path}: {type(error).__name__}: {error}") from None
    parties = registry if isinstance(registry, dict) else {}
    keys = [parties.get("aggregator")] + [v for group in ("clients", "validators")
                                          for v in (parties.get(group) or {}).values()]
    if (not isinstance(registry, dict) or set(registry) != set(PARTIES)
            or not all(isinstance(registry[g], dict) and registry[g] for g in ("clients", "validators"))
            or not all(_is_public_key(k) for k in keys)):
        raise KeyFileError(f"{path} is not a public-keys file: it must hold exactly {', '.join(PARTIES)} (the "
                           "aggregator's Ed25519 public key, and one per client and validator id, 32 bytes as hex)")
    return registry


def generate_keys(party_ids: list[str], folder: str | os.PathLike) -> dict[str, str]:
    """A fresh key per party written to ``folder/<id>.key``; returns id -> public key (hex)."""
    publics = {}
    for party in party_ids:
        key = new_key()
        write_key(key, Path(folder) / f"{party}.key")
        publics[party] = public_hex(key)
    return publics


def signed_payload(kind: str, round_: int, body: dict) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    return canonical_json({"body": unsigned, "kind": kind, "round": int(round_)}).encode("utf-8")


def sign_body(key: Ed25519PrivateKey, kind: str, round_: int, body: dict) -> dict:
    """``body`` with ``signature`` (hex) added over :func:`signed_payload`."""
    return {**body, "signature": key.sign(signed_payload(kind, round_, body)).hex()}


def signature_ok(public: str, kind: str, round_: int, body: dict) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
        key.verify(bytes.fromhex(str(body.get("signature", ""))), signed_payload(kind, round_, body))
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


# ----------------------------------------------------------------------------------------- writer


class LedgerWriter:
    """Appends records to a JSON-lines file (opened in append mode; a record is one ``write`` + flush)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.index, self.last_hash = 0, ZERO_HASH
        if self.path.exists() and self.path.stat().st_size:
            lines = self.path.read_text(encoding="utf-8").splitlines()
            last = json.loads(lines[-1])
            self.index, self.last_hash = len(lines), last["hash"]
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, kind: str, round_: int, body: dict) -> dict:
        if kind not in KINDS:
            raise ValueError(f"unknown record kind {kind!r}; known: {KINDS}")
        record = {"body": body, "index": self.index, "kind": kind, "prev": self.last_hash, "round": int(round_)}
        record["hash"] = record_hash(record)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(canonical_json(record) + "\n")
            handle.flush()
        self.index += 1
        self.last_hash = record["hash"]
        return record


def genesis_body(clients: dict[str, str], validators: dict[str, str], aggregator: str, *, rule: dict,
                 initial_model_hash: str, federation: str = "") -> dict:
    """The body of record 0: every party's public key (hex), the validation rule and the initial model."""
    return {"format": FORMAT, "federation": federation, "clients": dict(sorted(clients.items())),
            "validators": dict(sorted(validators.items())), "aggregator": aggregator, "rule": rule,
            "initial_model_hash": initial_model_hash}


def approved_clients(votes: list[dict], quorum: int) -> list[str]:
    """Client ids whose update has at least ``quorum`` approving votes (vote bodies)."""
    counts: dict[str, int] = {}
    for vote in votes:
        counts.setdefault(vote["client_id"], 0)
        counts[vote["client_id"]] += bool(vote.get("approve"))
    return sorted(c for c, n in counts.items() if n >= quorum)


# --------------------------------------------------------------------------------------- verifier


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify_ledger`: ``ok``, records read, closed rounds, and the first bad record (its
    0-based ``index``, i.e. line ``index + 1``) with the reason; ``readable`` is False when the file could
    not be read at all (``verify`` exits 2 then)."""

    ok: bool
    n_records: int
    rounds: int
    bad_index: int | None = None
    reason: str = ""
    readable: bool = True

    def __str__(self) -> str:
        if self.ok:
            return (f"ledger OK: {self.n_records} records, {self.rounds} rounds, trusted keys, chain, hashes, "
                    "signatures and quorum verified")
        if not self.readable:
            return self.reason
        return f"BAD record {self.bad_index} (line {self.bad_index + 1}): {self.reason}"


class _Bad(Exception):
    pass


def _need(condition: bool, reason: str) -> None:
    if not condition:
        raise _Bad(reason)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    found = dict(pairs)
    if len(found) < len(pairs):
        names = [k for k, _ in pairs]
        twice = next(k for k in names if names.count(k) > 1)
        raise _Bad(f"duplicate key {twice!r} in one JSON object (readers may take either value)")
    return found


def _no_constant(name: str) -> Any:
    raise _Bad(f"{name} is not a JSON number (the ledger's JSON has no NaN or Infinity)")


def _parse(line: str) -> dict:
    """A ledger line as a record: strict JSON (no duplicate keys, no NaN) and exactly its canonical form."""
    try:
        record = json.loads(line, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except ValueError:
        raise _Bad("not valid JSON") from None
    _need(isinstance(record, dict) and {"body", "hash", "index", "kind", "prev", "round"} <= set(record),
          "not a ledger record (missing fields)")
    _need(line == canonical_json(record), "not in canonical form (sorted keys, no spaces, ASCII), the only form "
                                          "the writer writes and the hash covers")
    return record


def _check_trusted(genesis: dict, trusted: dict | str) -> None:
    """Refuse a genesis whose keys are not the ``trusted`` ones (a registry or its fingerprint)."""
    registry = key_registry(genesis)
    if isinstance(trusted, str):
        fingerprint = key_fingerprint(registry)
        _need(fingerprint == trusted.strip().lower(),
              f"the genesis registers keys with fingerprint {fingerprint}, not the trusted {trusted.strip().lower()} "
              "(a forged ledger, or the ledger of another federation)")
        return
    expected = key_registry(trusted)
    differ = [] if registry["aggregator"] == expected["aggregator"] else ["aggregator"]
    for group in ("clients", "validators"):
        have, want = registry[group] or {}, expected[group] or {}
        differ += [party for party in sorted(set(have) | set(want)) if have.get(party) != want.get(party)]
    _need(not differ, f"the genesis registers keys that are not the trusted ones for {', '.join(differ[:6])}"
                      f"{f' and {len(differ) - 6} more' if len(differ) > 6 else ''} (a forged ledger, or the ledger of another federation)")


def verify_ledger(path: str | os.PathLike, *, trusted: dict | str, require_close: bool = True) -> VerifyReport:
    """Check the whole ledger against the ``trusted`` public keys and stop at the first bad record.

    ``trusted``: the parties' public keys from outside the ledger, as a registry (:func:`read_public_keys`)
    or its :func:`key_fingerprint`; a genesis that registers any other key is refused (anyone can write a
    self-consistent ledger with keys of their own).

    Checks, record by record: strict, canonical JSON (:func:`canonical_json`: no duplicate keys, no NaN);
    ``index`` equals the line number - 1; ``prev`` equals the previous record's ``hash`` (zeros for record 0);
    ``hash`` recomputes; record 0 and only record 0 is the genesis, and its keys are the trusted ones; rounds
    only move forward (updates and votes belong to the open round, which an ``aggregate`` closes); every
    signature verifies against the public key registered in the genesis; an update's ``base_hash`` is the
    current global model; one update per client and round; a vote refers to an update of its round with
    the same hash, once per validator; an ``aggregate``'s ``accepted`` equals the clients with at least the
    genesis quorum of approvals, and its ``failures``/``rejected`` do not overlap them; the ``close``
    record is last and matches. ``require_close=False`` accepts a ledger still being written.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        return VerifyReport(False, 0, 0, None, f"cannot read {path}: {error}", readable=False)
    prev_hash, genesis = ZERO_HASH, None
    round_open, model_hash, closed_rounds, closed = 1, None, 0, False
    updates: dict[str, dict] = {}
    votes: list[dict] = []
    voted: set[tuple[str, str]] = set()
    index = 0
    try:
        for index, line in enumerate(lines):
            record = _parse(line)
            _need(not closed, "record after the close record")
            _need(record["index"] == index, f"index {record['index']} at position {index} (a record is missing, "
                                            "inserted or out of order)")
            _need(record["prev"] == prev_hash, "prev does not match the hash of the record before it "
                                               "(chain broken: a record is missing, inserted or reordered)")
            _need(record["hash"] == record_hash(record), "hash does not match the record's content (tampered)")
            kind, round_, body = record["kind"], record["round"], record["body"]
            _need(isinstance(body, dict) and isinstance(round_, int), "malformed body or round")
            if index == 0:
                _need(kind == "genesis" and round_ == 0, "record 0 is not a genesis record")
                _need(body.get("format") == FORMAT, f"unknown ledger format {body.get('format')!r}")
                _check_trusted(body, trusted)
                genesis, model_hash = body, body["initial_model_hash"]
            else:
                _need(kind in KINDS and kind != "genesis", f"unexpected record kind {kind!r}")
                _need(round_ == round_open, f"round {round_} where round {round_open} is open (round order broken)")
            if kind == "update":
                key = genesis["clients"].get(body.get("client_id"))
                _need(key is not None, f"unregistered client {body.get('client_id')!r}")
                _need(signature_ok(key, kind, round_, body), f"client {body['client_id']}'s signature does not verify")
                _need(body.get("base_hash") == model_hash, "update not based on the current global model")
                _need(body["client_id"] not in updates, f"second update of {body['client_id']} in round {round_}")
                _need(not votes, "update after this round's votes began")
                updates[body["client_id"]] = body
            elif kind == "vote":
                key = genesis["validators"].get(body.get("validator_id"))
                _need(key is not None, f"unregistered validator {body.get('validator_id')!r}")
                _need(signature_ok(key, kind, round_, body), f"validator {body['validator_id']}'s signature does not verify")
                update = updates.get(body.get("client_id"))
                _need(update is not None and update["update_hash"] == body.get("update_hash"),
                      "vote on an update that is not in this round")
                pair = (body["validator_id"], body["client_id"])
                _need(pair not in voted, f"second vote of {pair[0]} on {pair[1]}")
                voted.add(pair)
                votes.append(body)
            elif kind in ("aggregate", "close"):
                _need(signature_ok(genesis["aggregator"], kind, round_, body), "aggregator's signature does not verify")
            if kind == "aggregate":
                quorum = int(genesis["rule"]["quorum"])
                expected = approved_clients(votes, quorum) if genesis["rule"].get("validate", True) else sorted(updates)
                _need(sorted(body.get("accepted", [])) == expected,
                      f"accepted {sorted(body.get('accepted', []))} but the votes and quorum {quorum} give {expected}")
                _need(not set(body.get("accepted", [])) & set(body.get("failures", [])), "a failed client was accepted")
                model_hash = body["model_hash"]
                closed_rounds, round_open = closed_rounds + 1, round_open + 1
                updates, votes, voted = {}, [], set()
            elif kind == "close":
                _need(body.get("rounds") == closed_rounds, f"close says {body.get('rounds')} rounds, the ledger has {closed_rounds}")
                _need(body.get("model_hash") == model_hash, "close's model hash is not the last aggregate's")
                _need(not updates, "close record inside an unfinished round")
                closed = True
            prev_hash = record["hash"]
    except _Bad as bad:
        return VerifyReport(False, len(lines), closed_rounds, index, str(bad))
    except RecursionError:
        return VerifyReport(False, len(lines), closed_rounds, index, "nested too deeply to be a ledger record")
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        return VerifyReport(False, len(lines), closed_rounds, index, f"malformed record ({error!r})")
    if not lines:
        return VerifyReport(False, 0, 0, 0, "empty ledger (no genesis record)")
    if require_close and not closed:
        return VerifyReport(False, len(lines), closed_rounds, len(lines),
                            "the ledger ends without a close record (records missing at the end)")
    return VerifyReport(True, len(lines), closed_rounds)


def read_records(path: str | os.PathLike) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def storage_by_kind(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """Records and bytes (with newlines) per record kind."""
    out: dict[str, dict[str, int]] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        kind = json.loads(line)["kind"]
        entry = out.setdefault(kind, {"records": 0, "bytes": 0})
        entry["records"] += 1
        entry["bytes"] += len(line.encode("utf-8")) + 1
    return out
