"""Building a backbone and deciding, visibly, which weights it starts from.

``weights`` takes one of:

* ``"none"``: random initialisation, on purpose;
* a tag of the backbone's row (``"dinov2"``, ``"imagenet"``, ``"swav"``, ...): those weights or a
  :class:`WeightsNotFoundError` that names the file, its address and where to put it (paper parameter
  files use this form: they always name their weights);
* a path: an original-format file (read through the row's converter, or timm's own checkpoint
  filter) or a checkpoint written by our SSL pre-training (:func:`save_ssl_checkpoint`);
* ``"auto"`` (the notebooks' default): the first start of :data:`AUTO_STARTS` that can be had: the row's
  published default weights; else **the book's own SSL checkpoint** for that backbone (``ssl_dir``: a
  ``02_pretrain`` run folder, whose last checkpoint of its largest pool is used only when its
  ``backbone_key`` is the requested backbone; source ``"ssl"``, origin ``"ssl_dir"``); else random
  initialisation with a :class:`RandomInitWarning` and a :class:`WeightsInfo` that says so, names what was
  searched (the SSL folder included) and gives the one command that fetches the published weights.

Where a tag is looked for, in order: the weights folder (``weights_dir`` argument, else the
``CXRLIB_WEIGHTS`` environment variable, else ``~/.cache/cxrlib/weights``) as
``<folder>/<backbone key>/<file>``; the Hugging Face cache (timm-hosted weights); the torch.hub cache
(files torch.hub or an older timm downloaded); the network. The network is tried only when neither
``HF_HUB_OFFLINE`` nor ``CXRLIB_OFFLINE`` is set and the host answers within
``NETWORK_PROBE_TIMEOUT_S`` seconds, so an offline machine decides in seconds and never hangs.

Every load is strict: a file that leaves a backbone parameter unset, or brings one the backbone does
not have, raises :class:`WeightsFormatError` (the original pre-training heads are removed first).
Files are therefore not passed to timm as ``pretrained_cfg_overlay=dict(file=...)``: timm's loader
turns non-strict whenever the class count differs from the checkpoint's, so a wrong file would load
silently. Instead timm's own checkpoint filter for the architecture is applied (it renames original
DINOv2/ConvNeXt formats and resamples ``pos_embed``, e.g. 518 -> 224 px) and the result is loaded
strictly.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from cxrlib.core.config import lookup
from cxrlib.core.io import file_sha256

from .converters import CONVERTERS, WeightsFormatError, unwrap_state_dict
from .registry import HF_WEIGHT_FILES, BackboneSpec, WeightSource, get_spec

__all__ = [
    "NETWORK_PROBE_TIMEOUT_S",
    "RandomInitWarning",
    "SMOKE_SIDECAR",
    "SMOKE_WEIGHTS",
    "WeightsFormatError",
    "WeightsInfo",
    "WeightsNotFoundError",
    "create_backbone",
    "fetch_weights",
    "load_weights",
    "network_available",
    "new_backbone",
    "read_checkpoint",
    "save_ssl_checkpoint",
    "resolve_weights_dir",
    "AUTO_STARTS",
    "own_ssl_checkpoint",
    "ssl_description",
]

log = logging.getLogger(__name__)

WEIGHTS_ENV = "CXRLIB_WEIGHTS"
DEFAULT_WEIGHTS_DIR = Path("~/.cache/cxrlib/weights")
OFFLINE_ENVS = ("HF_HUB_OFFLINE", "CXRLIB_OFFLINE")
NETWORK_PROBE_TIMEOUT_S = 3.0
SSL_FORMAT = "cxrlib.ssl_backbone"
SSL_FORMAT_VERSION = 1
FETCH_COMMAND = "python -m cxrlib.models fetch"
SMOKE_WEIGHTS = "SMOKE: random weights written by the smoke harness, not the published weights"
"""What a caption says for a fake weights file (see :mod:`cxrlib.models.fixtures`)."""
SMOKE_SIDECAR = ".smoke.json"
"""Suffix of the sidecar that marks a fake weights file (``<file>.smoke.json``, holding its SHA-256)."""


class WeightsNotFoundError(FileNotFoundError):
    """Requested weights are not on this machine and could not be fetched."""


class RandomInitWarning(UserWarning):
    """``weights="auto"`` found no pretrained weights and the backbone starts from random values."""


@dataclass(frozen=True)
class WeightsInfo:
    """What a backbone was initialised with, for captions and provenance."""

    backbone_key: str
    timm_name: str
    requested: str
    random: bool
    source: str  # a weight tag, "file", "ssl", "none" (requested) or "random" (auto fallback)
    origin: str  # weights_dir | hf_cache | torch_hub_cache | download | file | ssl_dir (auto: the book's SSL) | none
    description: str
    file: str | None = None
    sha256: str | None = None
    converter: str | None = None
    hint: str | None = None  # the one command that gets the real weights
    download_url: str | None = None
    expected_file: str | None = None
    reason: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def caption(self) -> str:
        """One sentence for a figure or table caption."""
        if not self.random:
            digest = f", sha256 {self.sha256[:12]}" if self.sha256 else ""
            return f"Backbone {self.backbone_key} ({self.timm_name}), weights: {self.description}{digest}."
        if self.source == "none":
            return f"Backbone {self.backbone_key} ({self.timm_name}) from random initialisation (weights='none')."
        return (
            f"Backbone {self.backbone_key} ({self.timm_name}) from RANDOM INITIALISATION: pretrained weights "
            f"were not available, so these results do not reproduce the documents. Get them with: {self.hint}"
        )

    def provenance(self) -> dict[str, Any]:
        """All fields as plain values (for params/provenance files)."""
        return asdict(self)


# ----------------------------------------------------------------------------------------------
# locations


def resolve_weights_dir(path: str | os.PathLike | None = None) -> Path:
    """The weights folder: ``path``, else ``$CXRLIB_WEIGHTS``, else ``~/.cache/cxrlib/weights``."""
    chosen = path if path is not None else os.environ.get(WEIGHTS_ENV) or DEFAULT_WEIGHTS_DIR
    return Path(chosen).expanduser()


def offline_reason() -> str | None:
    """Which environment variable forbids network access, if any."""
    for name in OFFLINE_ENVS:
        value = os.environ.get(name, "")
        if value.strip().lower() in {"1", "true", "yes", "on"}:
            return f"{name}={value}"
    return None


def network_available(host: str, port: int = 443, timeout: float = NETWORK_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (name lookup included).

    The probe runs in a daemon thread because a name lookup can block far longer than any socket
    timeout on a machine without network.
    """
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=probe, daemon=True, name=f"cxrlib-probe-{host}")
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


def _expected_path(spec: BackboneSpec, src: WeightSource, folder: Path) -> Path:
    return folder / spec.key / src.filename(spec.timm_name)


def _hf_cached(repo_id: str, filename: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - timm depends on huggingface_hub
        return None
    found = try_to_load_from_cache(repo_id, filename)
    return found if isinstance(found, str) else None


def _torch_hub_names(spec: BackboneSpec, src: WeightSource) -> list[str]:
    """File names under which torch.hub (or an older timm via its URL) caches this source."""
    names = [src.torch_hub_filename] if src.torch_hub_filename else []
    if src.timm_tag is not None:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(f"{spec.timm_name}.{src.timm_tag}")
        url = getattr(cfg, "url", None) if cfg is not None else None
        if url:
            names.append(url.rstrip("/").rsplit("/", 1)[-1])
    return names


def _cached_candidates(spec: BackboneSpec, src: WeightSource, folder: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """Existing files for ``src`` (path, origin) in search order, and what was searched."""
    found: list[tuple[Path, str]] = []
    searched: list[str] = []
    local = _expected_path(spec, src, folder)
    searched.append(f"weights folder: {local}")
    if local.is_file():
        found.append((local, "weights_dir"))
    hub_id = src.hub_id(spec.timm_name)
    if hub_id is not None:
        searched.append(f"Hugging Face cache: {hub_id}")
        for name in HF_WEIGHT_FILES:
            hit = _hf_cached(hub_id, name)
            if hit:
                found.append((Path(hit), "hf_cache"))
    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    for name in _torch_hub_names(spec, src):
        searched.append(f"torch hub cache: {hub_dir / name}")
        if (hub_dir / name).is_file():
            found.append((hub_dir / name, "torch_hub_cache"))
    return found, searched


def fetch_hint(spec: BackboneSpec, src: WeightSource, folder: Path) -> str:
    """The one command that downloads ``src`` into the weights folder."""
    command = f"{FETCH_COMMAND} {spec.key}"
    if src.tag != spec.default_weights:
        command += f" --tag {src.tag}"
    if folder != resolve_weights_dir(None):
        command += f" --weights-dir {folder}"
    return command


def _manual_instructions(spec: BackboneSpec, src: WeightSource, folder: Path) -> str:
    dest = _expected_path(spec, src, folder)
    lines = [
        f"Get them with one line (needs internet): {fetch_hint(spec, src, folder)}",
        f"or download {src.download_url(spec.timm_name)}",
        f"  and save it as {dest}",
        f"  (e.g. mkdir -p {dest.parent} && curl -L -o {dest} {src.download_url(spec.timm_name)}).",
    ]
    if src.timm_tag is not None:
        lines.append(
            f"With internet, timm.create_model('{spec.timm_name}.{src.timm_tag}', pretrained=True) also fills "
            "the Hugging Face cache, which is searched too."
        )
    lines.append(f"Another folder: pass weights_dir=... or set {WEIGHTS_ENV}.")
    return "\n".join(lines)


def fetch_weights(
    key: str | BackboneSpec,
    tag: str | None = None,
    weights_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Download the weights ``tag`` (default: the row's default) of ``key`` into the weights folder."""
    spec = get_spec(key)
    src = spec.source(tag or spec.default_weights)
    dest = _expected_path(spec, src, resolve_weights_dir(weights_dir))
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(src.download_url(spec.timm_name), str(dest), progress=progress)
    return dest


def _locate(
    spec: BackboneSpec, src: WeightSource, folder: Path, allow_download: bool
) -> tuple[tuple[Path, str] | None, list[str]]:
    found, searched = _cached_candidates(spec, src, folder)
    if found:
        return found[0], searched
    url = src.download_url(spec.timm_name)
    host = urlparse(url).hostname or ""
    blocked = offline_reason()
    if not allow_download:
        searched.append("download: not allowed (allow_download=False)")
    elif blocked:
        searched.append(f"download: not attempted ({blocked})")
    elif not network_available(host):
        searched.append(f"download: {host} did not answer within {NETWORK_PROBE_TIMEOUT_S:g} s")
    else:
        try:
            return (fetch_weights(spec, src.tag, folder), "download"), searched
        except Exception as exc:  # network errors come in many types; report, do not hide
            searched.append(f"download of {url} failed: {type(exc).__name__}: {exc}")
    return None, searched


# ----------------------------------------------------------------------------------------------
# reading and loading


def _is_safetensors(path: Path) -> bool:
    if path.suffix == ".safetensors":
        return True
    with open(path, "rb") as handle:
        head = handle.read(9)
    # safetensors: 8-byte little-endian header length, then a JSON header.
    return len(head) == 9 and head[8:9] == b"{"


def read_checkpoint(path: str | os.PathLike) -> Mapping[str, Any]:
    """What a weights file holds: safetensors, or ``torch.load(weights_only=True)`` (no arbitrary pickles)."""
    path = Path(path)
    if _is_safetensors(path):
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsFormatError(
            f"{path} could not be read as a safetensors or PyTorch weights file "
            f"({type(exc).__name__}: {first_line}). Only tensors and plain values are accepted "
            "(torch.load(weights_only=True)); re-save the state dict in a trusted environment if it holds "
            "other pickled objects."
        ) from exc


def is_ssl_checkpoint(obj: Any) -> bool:
    """Whether ``obj`` is a checkpoint from our SSL pre-training (see :func:`save_ssl_checkpoint`)."""
    return isinstance(obj, Mapping) and "backbone_key" in obj and isinstance(obj.get("state_dict"), Mapping)


def save_ssl_checkpoint(
    path: str | os.PathLike, backbone: nn.Module, backbone_key: str, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write a backbone trained by our SSL pre-training in the format ``load_weights`` reads.

    The file is ``{"format": "cxrlib.ssl_backbone", "format_version": 1, "backbone_key", "timm_name",
    "state_dict" (the timm backbone, no head), "meta"}``; ``meta`` holds plain values only (method,
    epochs, data, seed, ...), so the file loads with ``torch.load(weights_only=True)``.
    """
    spec = get_spec(backbone_key)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": SSL_FORMAT,
        "format_version": SSL_FORMAT_VERSION,
        "backbone_key": spec.key,
        "timm_name": spec.timm_name,
        "state_dict": {k: v.detach().cpu() for k, v in backbone.state_dict().items()},
        "meta": dict(meta or {}),
    }
    torch.save(payload, path)
    return path


def _timm_filter(model: nn.Module):
    """timm's checkpoint filter for the model's family (renames original formats, resamples pos_embed)."""
    return getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)


def _classifier_names(model: nn.Module) -> tuple[str, ...]:
    names = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    return (names,) if isinstance(names, str) else tuple(names)


def load_state_dict_strict(
    model: nn.Module, state_dict: Mapping[str, Any], spec: BackboneSpec, what: str, converter: str | None = None
) -> None:
    """Convert, filter and load ``state_dict`` into the timm backbone; every backbone tensor must be set."""
    state = lookup(CONVERTERS, converter, what="converter")(state_dict) if converter else unwrap_state_dict(state_dict)
    timm_filter = _timm_filter(model)
    if timm_filter is not None:
        state = timm_filter(state, model)
    own = model.state_dict()
    for name in _classifier_names(model):
        for suffix in (".weight", ".bias"):
            if name + suffix not in own:
                state.pop(name + suffix, None)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise WeightsFormatError(f"{what} does not fit backbone {spec.key} ({spec.timm_name}): {exc}") from exc
    # BatchNorm step counters are absent from pre-2018 files and carry no learned value.
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        raise WeightsFormatError(
            f"{what} does not fit backbone {spec.key} ({spec.timm_name}): "
            f"{len(missing)} backbone tensors missing (e.g. {missing[:4]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:4]})"
        )


def _smoke_fake(path: Path, sha256: str) -> bool:
    """Whether ``path`` is a fake file of the smoke harness (a sidecar with the file's SHA-256 beside it)."""
    sidecar = Path(path).with_name(Path(path).name + SMOKE_SIDECAR)
    if not sidecar.is_file():
        return False
    try:
        return json.loads(sidecar.read_text()).get("sha256") == sha256
    except ValueError:
        return False


def _loaded_info(spec, requested, source, origin, description, path, converter, meta=None) -> WeightsInfo:
    sha256 = file_sha256(path)
    meta = dict(meta or {})
    if _smoke_fake(path, sha256):
        description = f"{SMOKE_WEIGHTS} (in the place of {description})"
        meta["smoke"] = True
    return WeightsInfo(
        backbone_key=spec.key,
        timm_name=spec.timm_name,
        requested=requested,
        random=False,
        source=source,
        origin=origin,
        description=description,
        file=str(path),
        sha256=sha256,
        converter=converter,
        meta=meta,
    )


def _load_source(model, spec, src, path, origin, requested) -> WeightsInfo:
    load_state_dict_strict(model, read_checkpoint(path), spec, str(path), src.converter)
    description = f"{src.tag}: {src.description} ({src.citation})"
    log.info("%s: loaded %s weights from %s (%s)", spec.key, src.tag, path, origin)
    return _loaded_info(spec, requested, src.tag, origin, description, path, src.converter)


def _load_file(model, spec, path: Path, requested: str) -> WeightsInfo:
    checkpoint = read_checkpoint(path)
    if is_ssl_checkpoint(checkpoint):
        if checkpoint.get("timm_name", spec.timm_name) != spec.timm_name:
            raise WeightsFormatError(
                f"{path} holds a {checkpoint.get('timm_name')} backbone ({checkpoint['backbone_key']}), "
                f"not {spec.timm_name} ({spec.key})"
            )
        return _load_ssl(model, spec, checkpoint, path, requested, "file")
    converter = spec.source(spec.default_weights).converter
    load_state_dict_strict(model, checkpoint, spec, str(path), converter)
    description = f"file {path.name}" + (f" (read as {converter} checkpoint)" if converter else "")
    return _loaded_info(spec, requested, "file", "file", description, path, converter)


def ssl_description(meta: Mapping[str, Any], backbone_key: str, path: Path) -> str:
    """What a caption says of a checkpoint of our SSL pre-training: method, pool (unlabeled; never test
    images), image size and epoch, from the checkpoint's own ``meta``."""
    pool = meta.get("pool") or {}
    sources = ", ".join(pool.get("sources") or ())
    facts = [f"{pool['images']:,} unlabeled images" + (f" of {sources}" if sources else "")] if pool.get("images") else []
    facts += [f"{meta['image_size']} px"] if meta.get("image_size") else []
    facts += [f"epoch {meta['epoch']}"] if meta.get("epoch") is not None else []
    detail = "; ".join(facts + [path.name])
    return (f"ssl: the book's own {meta.get('method', 'self-supervised')} pre-training of {backbone_key} "
            f"(notebook 02; {detail}), not published weights")


def _load_ssl(model, spec, checkpoint: Mapping[str, Any], path: Path, requested: str, origin: str) -> WeightsInfo:
    load_state_dict_strict(model, checkpoint["state_dict"], spec, str(path))
    meta = dict(checkpoint.get("meta") or {})
    description = ssl_description(meta, checkpoint["backbone_key"], path)
    log.info("%s: loaded the book's SSL checkpoint %s (%s)", spec.key, path, origin)
    return _loaded_info(spec, requested, "ssl", origin, description, path, None, meta)


def own_ssl_checkpoint(ssl_dir: str | os.PathLike | None, key: str | BackboneSpec) -> tuple[Path | None, str]:
    """The book's own SSL checkpoint for backbone ``key`` in the ``02_pretrain`` run folder ``ssl_dir``
    (:func:`last_ssl_checkpoint`: the last epoch of its largest pool), or ``None``; and a line saying
    what was found (for the :class:`WeightsInfo` and the warning). A checkpoint of another backbone is
    never used."""
    spec = get_spec(key)
    what = "the book's SSL checkpoint"
    if ssl_dir is None:
        return None, f"{what}: none asked for (ssl_dir=None)"
    folder = Path(ssl_dir).expanduser()
    if not folder.is_dir():
        return None, f"{what}: {folder} does not exist (notebooks/02_pretrain writes it)"
    try:
        path = last_ssl_checkpoint(folder)
    except WeightsNotFoundError:
        return None, f"{what}: {folder} holds no checkpoint"
    checkpoint = read_checkpoint(path)
    found = checkpoint.get("backbone_key") if is_ssl_checkpoint(checkpoint) else None
    if found != spec.key:
        return None, f"{what}: {path} holds a {found or 'non-SSL'} backbone, not {spec.key}"
    return path, f"{what}: {path}"


def _auto_published(model, spec, *, folder, requested, allow_download, ssl_dir):
    src = spec.source(spec.default_weights)
    located, searched = _locate(spec, src, folder, allow_download)
    if located is None:
        return None, searched
    return _load_source(model, spec, src, located[0], located[1], requested), searched


def _auto_own_ssl(model, spec, *, folder, requested, allow_download, ssl_dir):
    path, found = own_ssl_checkpoint(ssl_dir, spec)
    if path is None:
        return None, [found]
    return _load_ssl(model, spec, read_checkpoint(path), path, requested, "ssl_dir"), [found]


AUTO_STARTS = (("published", _auto_published), ("ssl", _auto_own_ssl))
"""What ``weights="auto"`` tries, in order (name, resolver): the backbone's published default weights, then
the book's own SSL checkpoint for that backbone (``ssl_dir``); when none can be had, random initialisation
with a :class:`RandomInitWarning` naming everything searched."""


def _looks_like_path(weights: str) -> bool:
    return any(sep in weights for sep in ("/", "\\", os.sep)) or Path(weights).suffix != "" or weights.startswith("~")


def load_weights(
    model: nn.Module,
    key: str | BackboneSpec,
    weights: str | os.PathLike = "none",
    *,
    weights_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
    ssl_dir: str | os.PathLike | None = None,
) -> WeightsInfo:
    """Initialise the timm backbone ``model`` of row ``key`` from ``weights`` (see the module docstring);
    ``ssl_dir``: the ``02_pretrain`` run folder whose checkpoint ``"auto"`` uses when no published weights
    can be had (:data:`AUTO_STARTS`)."""
    spec = get_spec(key)
    folder = resolve_weights_dir(weights_dir)
    requested = os.fspath(weights)
    if isinstance(weights, str) and weights == "none":
        return WeightsInfo(
            spec.key, spec.timm_name, requested, random=True, source="none", origin="none",
            description="random initialisation (requested)",
        )
    if isinstance(weights, str) and weights == "auto":
        searched: list[str] = []
        default = spec.source(spec.default_weights)
        for _name, resolve in AUTO_STARTS:
            info, tried = resolve(model, spec, folder=folder, requested=requested, allow_download=allow_download,
                                  ssl_dir=ssl_dir)
            if info is not None:  # a later start says why the earlier ones were not used, and how to get them
                return replace(info, reason="; ".join(searched), hint=fetch_hint(spec, default, folder)) if searched else info
            searched += tried
        return _random_fallback(spec, default, folder, requested, searched)
    if isinstance(weights, str) and weights in spec.source_tags:
        src = spec.source(weights)
        located, searched = _locate(spec, src, folder, allow_download)
        if located is not None:
            return _load_source(model, spec, src, located[0], located[1], requested)
        raise WeightsNotFoundError(
            f"Weights '{weights}' for backbone {spec.key} ({src.description}; {src.citation}) are not available.\n"
            f"Searched: {'; '.join(searched)}.\n{_manual_instructions(spec, src, folder)}"
        )
    if isinstance(weights, str) and not _looks_like_path(weights):
        raise ValueError(
            f"unknown weights {weights!r} for backbone {spec.key}: use 'none', 'auto', one of "
            f"{', '.join(repr(t) for t in spec.source_tags)}, or a path to a weights file"
        )
    path = Path(weights).expanduser()
    if path.is_dir():
        path = last_ssl_checkpoint(path)
    if not path.is_file():
        default = spec.source(spec.default_weights)
        raise WeightsNotFoundError(
            f"Weights file {path} for backbone {spec.key} does not exist.\n"
            f"For the {default.tag} weights ({default.description}): {_manual_instructions(spec, default, folder)}"
        )
    return _load_file(model, spec, path, requested)


SSL_CHECKPOINT_INDEX = "checkpoints.csv"
"""The index a ``02_pretrain`` run folder writes (run, fraction, policy, epoch, path relative to the folder)."""


def last_ssl_checkpoint(run_dir: Path) -> Path:
    """The checkpoint of the latest epoch in a pre-training run folder: of its largest pool when the folder
    is a ``02_pretrain`` run with several pools (``checkpoints.csv``, as ``{ssl_checkpoint: ...}`` of a sweep
    file resolves it), else ``<run_dir>/checkpoints/epoch_NNNN.pt``."""
    import csv

    index = run_dir / SSL_CHECKPOINT_INDEX
    if index.is_file():
        with open(index, newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("path")]
        if rows:
            best = max(rows, key=lambda r: (float(r.get("fraction") or 0), int(float(r.get("epoch") or 0))))
            return run_dir / best["path"]
    found = sorted((run_dir / "checkpoints").glob("epoch_*.pt")) or sorted(run_dir.glob("epoch_*.pt"))
    if not found:
        raise WeightsNotFoundError(
            f"{run_dir} is a folder without pre-training checkpoints (checkpoints/epoch_NNNN.pt). Pass a "
            "checkpoint file, or run the pre-training first (notebooks/02_pretrain, cxrlib.training.ssl.pretrain())."
        )
    return found[-1]


def _stacklevel_outside_package() -> int:
    """``stacklevel`` that attributes a warning to the first caller outside this package."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame, level = frame.f_back, level + 1
    return level


def _random_fallback(spec, src, folder, requested, searched) -> WeightsInfo:
    hint = fetch_hint(spec, src, folder)
    reason = "; ".join(searched)
    message = (
        f"{spec.key}: pretrained '{src.tag}' weights ({src.description}) not found "
        f"[{reason}]. STARTING FROM RANDOM INITIALISATION: results will not reproduce the documents. "
        f"Get the weights with: {hint}"
    )
    warnings.warn(message, RandomInitWarning, stacklevel=_stacklevel_outside_package())
    log.info(message)
    return WeightsInfo(
        spec.key, spec.timm_name, requested, random=True, source="random", origin="none",
        description=f"random initialisation ('{src.tag}' weights not available)",
        hint=hint,
        download_url=src.download_url(spec.timm_name),
        expected_file=str(_expected_path(spec, src, folder)),
        reason=reason,
    )


# ----------------------------------------------------------------------------------------------
# building


def new_backbone(key: str | BackboneSpec, *, seed: int = 0, **timm_kwargs: Any) -> nn.Module:
    """A randomly initialised timm backbone of row ``key`` (no classifier: ``num_classes=0``).

    ``timm_kwargs`` override the row's (e.g. ``img_size=112`` or ``dynamic_img_size=True`` for a ViT).
    The random initialisation is drawn from ``seed`` without touching the global torch generator.
    """
    import timm

    spec = get_spec(key)
    if "num_classes" in timm_kwargs:
        raise ValueError("backbones have no classifier (num_classes=0); use build_classifier for a head")
    kwargs = {**spec.create_kwargs, **timm_kwargs, "num_classes": 0}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return timm.create_model(spec.timm_name, pretrained=False, **kwargs)


def create_backbone(
    key: str | BackboneSpec,
    weights: str | os.PathLike = "none",
    *,
    weights_dir: str | os.PathLike | None = None,
    seed: int = 0,
    allow_download: bool = True,
    ssl_dir: str | os.PathLike | None = None,
    **timm_kwargs: Any,
) -> tuple[nn.Module, WeightsInfo]:
    """The timm backbone of row ``key`` and a :class:`WeightsInfo` saying exactly what it holds
    (``ssl_dir``: see :func:`load_weights`)."""
    model = new_backbone(key, seed=seed, **timm_kwargs)
    info = load_weights(model, key, weights, weights_dir=weights_dir, allow_download=allow_download, ssl_dir=ssl_dir)
    return model, info
