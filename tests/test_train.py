"""Fine-tuning on tiny real data: the run folder, freezing, resume (also after a hard kill), DDP."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from sklearn.metrics import roc_auc_score

from cxrlib.images.tasks import get_task
from cxrlib.images.preprocess import preprocess_config
from cxrlib.images.dataset import CxrDataset
from cxrlib.models import REGISTRY, build_classifier, new_backbone, save_ssl_checkpoint
from cxrlib.images.preprocess import PreprocessCache
from cxrlib.training.finetune import TrainConfig, build_model, fit, load_run_model, load_tables, predict_probabilities
from cxrlib.training.run_folder import read_history

TINY = dict(
    backbone="convnextv2_atto", weights="none", image_size=32, batch_size=16, unfrozen_blocks=1,
    subset={"train": 48, "val": 24, "test": 24}, lr=1e-3, progress="none",
)


def tiny(tmp_path, data_root, name="run", **overrides):
    values = {**TINY, "out_dir": str(tmp_path / name), "data_root": str(data_root),
              "cache_dir": str(tmp_path.parent / "cache"), **overrides}
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, data_root):
    tmp = tmp_path_factory.mktemp("train")
    config = tiny(tmp, data_root, epochs=1)
    return fit(config), config


def test_run_folder(first_run):
    result, config = first_run
    out = result.out_dir
    for name in ("params.yaml", "weights.json", "metrics.csv", "metrics.json", "predictions_val.csv",
                 "predictions_test.csv", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (out / name).is_file(), name
    assert TrainConfig.from_dict(yaml.safe_load((out / "params.yaml").read_text())) == config
    for name in ("best", "last"):  # plain values only, and the model they hold is named
        assert torch.load(out / "checkpoints" / f"{name}.ckpt", weights_only=True)["cxrlib_backbone"] == "convnextv2_atto"
    history = read_history(out)
    assert history["epoch"].tolist() == [1] and np.isfinite(history[["train_loss", "val_loss"]].to_numpy()).all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "kermany_pneumonia" and metrics["best_epoch"] == 1
    assert metrics["n_images"] == {"train": 48, "train_before_resampling": 48, "val": 24, "test": 24, "train_per_epoch": 48}
    assert metrics["weights"]["source"] == "none" and "random initialisation" in metrics["weights_caption"]
    # the reported test AUROC is the AUROC of the saved test predictions (scikit-learn as the reference)
    test = pd.read_csv(out / "predictions_test.csv")
    assert metrics["test"]["auroc"] == pytest.approx(roc_auc_score(test["label"], test["prob_pneumonia"]), abs=1e-6)
    assert metrics["loss"]["weights"] == pytest.approx([1.0, 1.0])  # 24 + 24 images: balanced


def test_predictions_format(first_run):
    result, _ = first_run
    test = pd.read_csv(result.out_dir / "predictions_test.csv")
    assert list(test.columns) == ["image_id", "patient_id", "label", "label_name", "normal", "pneumonia",
                                  "prob_normal", "prob_pneumonia"]
    assert len(test) == 24 and test["image_id"].is_unique
    assert np.allclose(test[["prob_normal", "prob_pneumonia"]].sum(axis=1), 1.0, atol=1e-5)
    assert (test["pneumonia"] == test["label"]).all()
    from cxrlib.stats import evaluate  # 04_evaluate reads the file as it is
    assert evaluate.read_predictions(result.out_dir / "predictions_test.csv").attrs["labels"] == ["normal", "pneumonia"]
    # the saved best model gives the saved probabilities
    split = load_tables(result.config, result.task)["test"]
    assert split["image_id"].tolist() == test["image_id"].tolist()
    cache = PreprocessCache(result.config.cache_dir, preprocess_config("classroom", 32))
    dataset = CxrDataset(split, result.task, cache)
    _, probs = predict_probabilities(load_run_model(result.out_dir), dataset, 8, torch.device("cpu"))
    assert np.allclose(probs[:, 1], test["prob_pneumonia"], atol=1e-5)


def test_only_the_unfrozen_block_and_head_trained(first_run):
    result, config = first_run
    trained = load_run_model(result.out_dir).state_dict()
    initial = build_classifier("convnextv2_atto", 2, weights="none", seed=config.seed).state_dict()
    assert result.freeze.unfrozen_blocks == 1 and result.freeze.n_trainable < result.freeze.n_total
    frozen = ("backbone.stem.0.weight", "backbone.stages.0.blocks.0.conv_dw.weight", "backbone.stages.3.blocks.0.conv_dw.weight")
    for name in frozen:
        assert torch.equal(trained[name], initial[name]), name
    for name in ("backbone.stages.3.blocks.1.conv_dw.weight", "head.1.weight"):
        assert not torch.equal(trained[name], initial[name]), name


def test_resume_continues_at_the_next_epoch(first_run, tmp_path):
    import shutil

    result, config = first_run
    copy = tmp_path / "resumed"
    shutil.copytree(result.out_dir, copy)
    more = TrainConfig.from_dict({**config.to_dict(), "out_dir": str(copy), "epochs": 2})
    resumed = fit(more)
    assert resumed.resumed and resumed.start_epoch == 2
    assert read_history(copy)["epoch"].tolist() == [1, 2]
    assert read_history(copy).iloc[0].equals(read_history(result.out_dir).iloc[0])
    again = fit(more)  # finished: nothing trained, same predictions
    assert again.start_epoch == 3 and read_history(copy)["epoch"].tolist() == [1, 2]
    pd.testing.assert_frame_equal(again.predictions["test"], resumed.predictions["test"])


def test_a_run_that_is_not_resumable_writes_no_last_checkpoint_and_trains_again(first_run, tmp_path):
    """``resumable=False`` (notebook 12): the best checkpoint and the predictions as always, no resume state; a
    re-run in the same folder trains again from the start (even over a resumable run's last.ckpt) and draws the same."""
    import shutil

    result, config = first_run
    copy = tmp_path / "not_resumable"
    shutil.copytree(result.out_dir, copy)  # holds a last.ckpt: not resumed from, removed
    values = {**config.to_dict(), "out_dir": str(copy), "resumable": False}
    once = fit(TrainConfig.from_dict(values))
    assert not once.resumed and once.start_epoch == 1 and once.epochs_completed == 1
    assert sorted(p.name for p in (copy / "checkpoints").iterdir()) == ["best.ckpt"]  # nor Lightning's own
    again = fit(TrainConfig.from_dict(values))
    assert not again.resumed and again.start_epoch == 1
    pd.testing.assert_frame_equal(again.predictions["test"], once.predictions["test"])
    pd.testing.assert_frame_equal(once.predictions["test"], result.predictions["test"])


def test_resume_refuses_other_parameters(first_run, tmp_path):
    import shutil

    result, config = first_run
    copy = tmp_path / "other"
    shutil.copytree(result.out_dir, copy)
    with pytest.raises(ValueError, match="lr: saved 0.001, now 0.01"):
        fit(TrainConfig.from_dict({**config.to_dict(), "out_dir": str(copy), "lr": 1e-2}))


KILLER = textwrap.dedent(
    """
    import os, sys
    import lightning.pytorch as pl
    import yaml
    from cxrlib.training.finetune import TrainConfig, fit

    class HardKill(pl.Callback):  # dies without any clean-up in the middle of epoch 2
        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.current_epoch == 1 and batch_idx == 1:
                os._exit(9)

    fit(TrainConfig.from_dict(yaml.safe_load(open(sys.argv[1]))), callbacks=[HardKill()])
    """
)


def _tensors(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_killed_run_resumes_exactly(tmp_path, data_root):
    """SIGKILL-like death in the middle of epoch 2, then a resume: the same history, predictions and best
    checkpoint as a run that never stopped (the random generators travel in the checkpoint)."""
    config = tiny(tmp_path, data_root, "killed", epochs=3, dropout=0.2)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(config.to_dict()))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    killed = subprocess.run([sys.executable, "-c", KILLER, str(params)], env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == 9, killed.stderr[-2000:]
    assert read_history(config.out_dir)["epoch"].tolist() == [1]  # epoch 1 finished and saved, epoch 2 lost mid-way
    result = fit(config)
    assert result.resumed and result.start_epoch == 2
    assert read_history(config.out_dir)["epoch"].tolist() == [1, 2, 3]

    straight = fit(tiny(tmp_path, data_root, "straight", epochs=3, dropout=0.2))
    columns = ["epoch", "train_loss", "val_loss", "val_auroc", "lr"]  # all but the seconds
    pd.testing.assert_frame_equal(read_history(config.out_dir)[columns], read_history(straight.out_dir)[columns])
    for name in ("predictions_val.csv", "predictions_test.csv"):
        assert (result.out_dir / name).read_bytes() == (straight.out_dir / name).read_bytes(), name
    resumed_best, straight_best = _tensors(result.best_checkpoint), _tensors(straight.best_checkpoint)
    assert resumed_best.keys() == straight_best.keys()
    for key in resumed_best:
        assert torch.equal(resumed_best[key], straight_best[key]), key
    assert result.metrics["test"] == straight.metrics["test"]


def test_a_damaged_checkpoint_names_the_file_and_the_fix(first_run, tmp_path):
    import shutil

    from cxrlib.training.finetune import CheckpointError

    result, config = first_run
    copy = tmp_path / "damaged"
    shutil.copytree(result.out_dir, copy)
    last = copy / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a copy cut short
    with pytest.raises(CheckpointError) as error:
        fit(TrainConfig.from_dict({**config.to_dict(), "out_dir": str(copy)}))
    assert str(last) in str(error.value) and "delete it" in str(error.value)


def test_zero_epochs_is_refused(tmp_path):
    with pytest.raises(ValueError, match="epochs = 0: must be >= 1"):
        TrainConfig(out_dir=str(tmp_path), epochs=0)
    with pytest.raises(ValueError, match="epochs = 2.5: must be an integer"):
        TrainConfig(out_dir=str(tmp_path), epochs=2.5)


def _trainer_configs(tmp_path):
    from cxrlib.training.dual_stream import StepConfig
    from cxrlib.training.semssxl import SemiConfig
    from cxrlib.training.ssl import PretrainConfig

    return {
        "TrainConfig": lambda **kw: TrainConfig(out_dir=str(tmp_path), **kw),
        "PretrainConfig": lambda **kw: PretrainConfig(out_dir=str(tmp_path), **kw),
        "SemiConfig": lambda **kw: SemiConfig(**kw),
        "StepConfig": lambda **kw: StepConfig(epochs=1, lr=1e-3, **kw),
    }


@pytest.mark.parametrize("trainer", ["TrainConfig", "PretrainConfig", "SemiConfig", "StepConfig"])
def test_every_trainer_names_checks_and_resolves_device_and_precision_one_way(trainer, tmp_path):
    from cxrlib.training.common import PRECISIONS, Hardware, resolve_device

    make = _trainer_configs(tmp_path)[trainer]
    config = make()
    assert (config.device, config.precision) == ("auto", "32")
    assert Hardware.of(config).torch_device == resolve_device("auto")
    for precision in PRECISIONS:
        assert make(device="cpu", precision=precision).precision == precision
    with pytest.raises(ValueError, match="unknown precision '32-true'"):
        make(precision="32-true")
    with pytest.raises(ValueError, match="device must be 'auto' or a torch device"):
        make(device="gpu0")


def test_lightning_gets_the_same_device_and_precision():
    from cxrlib.training.common import Hardware

    assert Hardware("cpu", "32").lightning(2) == {"accelerator": "cpu", "devices": 2, "precision": "32-true"}
    assert Hardware("cuda:1", "bf16").lightning() == {"accelerator": "cuda", "devices": [1], "precision": "bf16-mixed"}


def test_train_step_forwards_under_the_runs_precision_and_steps_on_this_loss_only():
    from cxrlib.training.common import Hardware, train_step

    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 1)
    x = torch.randn(4, 3)
    for precision, dtype in (("32", torch.float32), ("bf16", torch.bfloat16)):
        optimizer = torch.optim.SGD(layer.parameters(), lr=0.0)
        out = train_step(optimizer, lambda: layer(x).sum(), Hardware("cpu", precision))
        assert out.dtype == dtype
    before = layer.weight.detach().clone()
    layer.weight.grad = torch.full_like(layer.weight, 100.0)  # a stale gradient must not count
    parts = train_step(torch.optim.SGD(layer.parameters(), lr=1.0), lambda: {"total": layer(x).sum(), "n": 4},
                       Hardware("cpu"), loss=lambda parts: parts["total"])
    assert parts["n"] == 4
    torch.testing.assert_close(layer.weight.detach(), before - x.sum(dim=0, keepdim=True))


def test_a_refused_rerun_in_a_notebook_run_leaves_the_finished_folder_byte_equal(tmp_path, data_root):
    """Issue: re-running 03 into a finished out_dir with other parameters is refused by fit, after the
    notebook has written artifacts: the finished folder must stay as it was."""
    from cxrlib.book.artifacts import RunArtifacts, is_complete

    out = tmp_path / "03_finetune"
    config = tiny(tmp_path, data_root, "03_finetune", epochs=1)
    run = RunArtifacts(out, "03_finetune", config.to_dict())
    run.table(pd.DataFrame({"a": [1]}), "ft_data", "Data")
    fit(config)
    run.finish()
    assert is_complete(out) and (out / "checkpoints" / "last.ckpt").is_file() and (out / "ft_data.csv").is_file()
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    other = TrainConfig.from_dict({**config.to_dict(), "unfrozen_blocks": 2})
    rerun = RunArtifacts(out, "03_finetune", other.to_dict())
    rerun.table(pd.DataFrame({"a": [2]}), "ft_data", "Data")  # the notebook writes before fit refuses
    with pytest.raises(ValueError, match="unfrozen_blocks: saved 1, now 2"):
        fit(other)
    rerun.abort()  # what the end of the kernel does
    after = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before and is_complete(out, verify="sha256")

    again = RunArtifacts(out, "03_finetune", config.to_dict())  # the same parameters: reused, not retrained
    result = fit(config)
    assert result.resumed and result.start_epoch == 2 and result.out_dir != out
    again.finish()
    assert is_complete(out) and not (out / "ft_data.csv").exists()  # artifacts are the new run's only


@pytest.mark.filterwarnings("ignore:no positive training example")
def test_multilabel_and_resampled_single_label_on_the_nih_sample(tmp_path, data_root):
    options = {"nih_images": "images-256"}
    multi = fit(tiny(tmp_path, data_root, "multi", task="nih14_multilabel", task_options=options, epochs=1,
                     preprocess="d001", augment="d001", head="linear", optimizer="adamw",
                     subset={"train": 64, "val": 32, "test": 32}))
    columns = pd.read_csv(multi.out_dir / "predictions_test.csv").columns
    assert [c for c in columns if c.startswith("prob_")] == [f"prob_{name}" for name in multi.task.classes]
    assert len(multi.metrics["test"]["auroc"]) == 14 and "macro_auroc" in multi.metrics["test"]
    single = fit(tiny(tmp_path, data_root, "single", task="nih15_single_label", task_options=options, epochs=1,
                      preprocess="d000", augment="d000", resample="d000", optimizer="adam", weight_decay=1e-4,
                      dropout=0.2, subset=None, train_images_per_epoch=64))  # resampled whole sample, 64 images an epoch
    n = single.metrics["n_images"]
    assert n["train"] > n["train_before_resampling"]  # rare classes (W >= 2) six-fold
    assert "precision_No Finding" in single.metrics["test"]


def test_weights_from_a_file(tmp_path, data_root):
    source = new_backbone("convnextv2_atto", seed=5)
    path = save_ssl_checkpoint(tmp_path / "ssl.pt", source, "convnextv2_atto", meta={"method": "test"})
    result = fit(tiny(tmp_path, data_root, "file", weights=str(path), epochs=1))
    record = json.loads((result.out_dir / "weights.json").read_text())
    assert record["source"] == "ssl" and record["file"] == str(path) and len(record["sha256"]) == 64
    trained = load_run_model(result.out_dir).backbone.state_dict()
    assert torch.equal(trained["stem.0.weight"], source.state_dict()["stem.0.weight"])  # frozen stem = the file's


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_every_registry_row_trains_a_step(key, tmp_path):
    config = TrainConfig(out_dir=str(tmp_path), backbone=key, weights="none", image_size=112, unfrozen_blocks=1)
    model, info, report = build_model(config, get_task(config.task))
    assert info.random and report.n_trainable < report.n_total
    model.train()
    loss = model(torch.randn(2, 3, 112, 112)).logsumexp(dim=1).mean()
    loss.backward()
    grads = [p.grad is not None for p in model.parameters() if p.requires_grad]
    assert grads and all(grads)


def test_vit_size_must_fit_the_patches(tmp_path):
    with pytest.raises(ValueError, match="image_size % backbone.patch_size == 0 does not hold: image_size = 64"):
        TrainConfig(out_dir=str(tmp_path), backbone="dinov2_vits14", weights="none", image_size=64)


@pytest.mark.slow
def test_ddp_on_cpu_with_two_processes(tmp_path, data_root):
    config = tiny(tmp_path, data_root, "ddp", epochs=1, device="cpu", devices=2, strategy="ddp",
                  subset={"train": 32, "val": 16, "test": 16}, batch_size=8)
    params = tmp_path / "ddp.yaml"
    params.write_text(yaml.safe_dump(config.to_dict()))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "cxrlib.training.finetune", str(params)], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert read_history(config.out_dir)["epoch"].tolist() == [1]
    assert len(pd.read_csv(tmp_path / "ddp" / "predictions_test.csv")) == 16
