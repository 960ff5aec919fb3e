"""Checkpoints are data, not code (issue 26): every reader of a run folder's checkpoints loads them with
``torch.load(weights_only=True)`` (notebook 05 through ``finetune_dir``, the resume of notebook 03, and
Lightning's own resume), a file that would run code is refused with an error naming it, and a checkpoint
of another backbone is named as such."""
import os

import pandas as pd
import pytest
import torch
import yaml

from cxrlib.explain.runs import read_run
from cxrlib.models import build_classifier
from cxrlib.training import finetune
from cxrlib.training.finetune import CheckpointError, TrainConfig, fit

TINY = dict(backbone="convnextv2_atto", weights="none", image_size=32, batch_size=16, unfrozen_blocks=1,
            subset={"train": 48, "val": 24, "test": 24}, lr=1e-3, progress="none", epochs=1)


class RunsCode:
    """Unpickling this object runs a shell command: what a hostile checkpoint carries."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _hostile(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": RunsCode(marker)}, path)
    return path


def _config(folder, data_root=None, **overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "out_dir": str(folder), "data_root": None if data_root is None else str(data_root),
                          "cache_dir": str(folder.parent / "cache"), **overrides})


def _run_folder(folder, config: TrainConfig):
    """What notebook 05 reads of a fine-tuning run: params.yaml and the prediction files (a checkpoint is added
    by each test)."""
    folder.mkdir(parents=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(config.to_dict()))
    for split in ("val", "test"):
        pd.DataFrame({"image_id": ["a"], "patient_id": ["p"], "pneumonia": [1], "prob_pneumonia": [0.5]}).to_csv(
            folder / f"predictions_{split}.csv", index=False)
    return folder


def test_notebook_05_refuses_a_checkpoint_that_would_run_code(tmp_path):
    marker = tmp_path / "code-ran"
    folder = _run_folder(tmp_path / "03_finetune", _config(tmp_path / "03_finetune"))
    checkpoint = _hostile(folder / "checkpoints" / "best.ckpt", marker)
    run = read_run(folder)  # notebook 05: runs = [read_run(finetune_dir)]; run.load_model()
    with pytest.raises(CheckpointError) as error:
        run.load_model()
    assert not marker.exists(), "loading the checkpoint ran its command"
    assert f"refused to load the checkpoint {checkpoint}" in str(error.value)
    assert "posix.system" in str(error.value)  # what it wanted to call


def test_resume_refuses_a_last_checkpoint_that_would_run_code(tmp_path, data_root):
    marker = tmp_path / "code-ran"
    config = _config(tmp_path / "run", data_root)
    folder = _run_folder(tmp_path / "run", config)
    last = _hostile(folder / "checkpoints" / "last.ckpt", marker)
    with pytest.raises(CheckpointError, match=f"refused to load the checkpoint {last}"):
        fit(config)
    assert not marker.exists(), "resuming ran the checkpoint's command"


def test_lightnings_own_resume_loads_weights_only(tmp_path, data_root, monkeypatch):
    """Lightning reads last.ckpt again inside trainer.fit: with our own check out of the way and torch's
    default turned to unsafe loading, the file is still refused."""
    marker = tmp_path / "code-ran"
    config = _config(tmp_path / "run", data_root)
    folder = _run_folder(tmp_path / "run", config)
    last = _hostile(folder / "checkpoints" / "last.ckpt", marker)
    monkeypatch.setattr(finetune, "_finished_state", lambda path: (0, False))
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch.load(weights_only=None) -> unsafe
    with pytest.raises(CheckpointError, match=f"refused to load the checkpoint {last}"):
        fit(config)
    assert not marker.exists(), "Lightning's resume ran the checkpoint's command"


@pytest.mark.parametrize("recorded", [True, False], ids=["backbone recorded", "older checkpoint"])
def test_a_checkpoint_of_another_backbone_names_both_backbones(tmp_path, recorded):
    folder = _run_folder(tmp_path / "03_finetune", _config(tmp_path / "03_finetune"))
    other = build_classifier("resnet18", 1, weights="none")
    saved = {"state_dict": {f"model.{k}": v for k, v in other.state_dict().items()}}
    if recorded:
        saved["cxrlib_backbone"] = "resnet18"  # finetune.BACKBONE_KEY: what our checkpoints record
    (folder / "checkpoints").mkdir()
    torch.save(saved, folder / "checkpoints" / "best.ckpt")
    with pytest.raises(CheckpointError) as error:
        read_run(folder).load_model()
    message = str(error.value)
    assert "a resnet18 model" in message and "says backbone convnextv2_atto" in message
    assert str(folder / "checkpoints" / "best.ckpt") in message
