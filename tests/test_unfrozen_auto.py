"""unfrozen_blocks='auto' follows the start: half of a pretrained backbone, every block of a random one; a run
that freezes random blocks warns."""
import warnings

import pytest

from cxrlib.images.tasks import get_task
from cxrlib.models import create_backbone, save_ssl_checkpoint
from cxrlib.training.finetune import FrozenRandomBlocksWarning, TrainConfig, build_model, unfrozen_label


def config(tmp_path, **values):
    return TrainConfig(out_dir=str(tmp_path / "run"), backbone="resnet18", image_size=32, **values)


def test_auto_trains_every_block_of_a_random_start(tmp_path):
    cfg = config(tmp_path, weights="none", unfrozen_blocks="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FrozenRandomBlocksWarning)
        _, info, freeze = build_model(cfg, get_task(cfg.task))
    assert info.random and freeze.unfrozen_blocks == "all"
    assert unfrozen_label(cfg, freeze).startswith("all of 4 blocks ('auto': half the blocks of a pretrained start")


def test_auto_trains_half_of_the_books_ssl_start(tmp_path):
    model, _ = create_backbone("resnet18", "none", seed=5)
    save_ssl_checkpoint(tmp_path / "02" / "checkpoints" / "epoch_0001.pt", model, "resnet18", meta={"method": "SimCLR"})
    cfg = config(tmp_path, weights="auto", ssl_dir=str(tmp_path / "02"), unfrozen_blocks="auto")
    _, info, freeze = build_model(cfg, get_task(cfg.task))
    assert (info.source, info.origin) == ("ssl", "ssl_dir") and freeze.unfrozen_blocks == 2


def test_half_of_a_random_start_warns_that_random_blocks_stay_frozen(tmp_path):
    cfg = config(tmp_path, weights="none", unfrozen_blocks="half")
    with pytest.warns(FrozenRandomBlocksWarning, match="2 of its 4 blocks stay frozen"):
        build_model(cfg, get_task(cfg.task))


@pytest.mark.parametrize("notebook", ["03_finetune", "13_sweep"])
def test_the_transfer_runs_depend_on_the_pretraining_run(notebook):
    """The classroom 03 and 13 name 02's folder (ssl_dir), so re-running 02_pretrain re-runs them."""
    from cxrlib.book.build import discover_runs, upstream_runs

    (run,) = [r for r in discover_runs("classroom", only=[notebook]) if r.name == notebook]
    assert "02_pretrain" in upstream_runs(run)
