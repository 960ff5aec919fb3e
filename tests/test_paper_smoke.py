"""The paper profile, proven: every file of ``params/paper/`` and ``params/sweeps/`` runs end to end at
smoke size (``cxrlib book --profile paper --smoke``, :mod:`cxrlib.book.paper_smoke`), with stand-in data
and random weight files in the published formats where this machine lacks them; and outside smoke mode
a missing weight file or data set still stops a paper file with the clear error.

The smoke runs once per session in a temporary folder (one staged tree, one data root, one weights
folder, one shared kernel); the tests below read its report and run folders.
"""
import json
from pathlib import Path

import pytest
import yaml

from cxrlib.book import build, paper_smoke
from cxrlib.book.artifacts import SMOKE_CAPTION
from cxrlib.core.staging import MARKER
from cxrlib.data.root import SOURCES, DataNotFoundError
from cxrlib.images.tasks import TASKS
from cxrlib.models.registry import REGISTRY

REPO = Path(__file__).resolve().parents[1]
PAPER_RUNS = build.discover_runs("paper", REPO)
SWEEP_FILES = paper_smoke.sweep_files(REPO)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    import shutil

    work = tmp_path_factory.mktemp("paper-smoke")
    yield paper_smoke.run_all(REPO, work)
    shutil.rmtree(work, ignore_errors=True)  # several GB: fake weight files, the ViT-B runs' best checkpoints


@pytest.mark.slow
def test_every_paper_file_ran_end_to_end_and_says_smoke(smoke):
    assert smoke["runs"]["failed"] == {} and smoke["runs"]["skipped"] == {}, smoke["runs"]
    assert sorted(smoke["runs"]["done"]) == sorted(r.name for r in PAPER_RUNS)
    for run in PAPER_RUNS:
        out = Path(smoke["runs"]["out"][run.name])
        assert (out / MARKER).exists(), f"{run.name}: no {MARKER}"
        record = json.loads((out / "provenance.json").read_text())
        assert record["params"]["profile"] == "paper-smoke"
        assert record["artifacts"], f"{run.name} wrote no artifacts"
        for artifact in record["artifacts"]:
            assert artifact["caption"].startswith(SMOKE_CAPTION), f"{run.name}/{artifact['id']}"
            assert "profile: paper-smoke" in artifact["caption"]


@pytest.mark.slow
def test_every_sweep_file_ran_and_laid_out_its_table(smoke):
    assert sorted(smoke["sweeps"]) == sorted(p.stem for p in SWEEP_FILES)
    for name, result in smoke["sweeps"].items():
        assert result["counts"].get("FAIL", 0) == 0, (name, result.get("errors"))
        assert result["counts"]["COMPLETE"] == result["points"] >= 1, (name, result)
        assert Path(result["table"]).exists() and result["rows"] >= 1, (name, result)
        trials = [f for f in Path(result["out"]).iterdir() if f.is_dir() and not f.name.startswith("_")]
        assert len(trials) == result["points"], (name, trials)
        for folder in trials:
            if (folder / "provenance.json").exists():  # a notebook trial: a finished, captioned run folder
                assert (folder / MARKER).exists(), folder
                assert json.loads((folder / "provenance.json").read_text())["params"]["profile"] == "paper-smoke"
            else:  # an entry trial (cxrlib.training.finetune.fit)
                assert (folder / "metrics.json").exists(), folder


def _loaded_weights(smoke):
    """(run folder, weights.json) of every run and sweep trial that loaded a weights file."""
    folders = [Path(p) for p in smoke["runs"]["out"].values()]
    for result in smoke["sweeps"].values():
        folders += [f for f in Path(result["out"]).iterdir() if f.is_dir()]
    for folder in folders:
        if (folder / "weights.json").exists():
            info = json.loads((folder / "weights.json").read_text())
            if not info["random"]:
                yield folder, info


@pytest.mark.slow
def test_the_fake_weight_files_were_loaded_and_labelled(smoke):
    """Every tag a paper file names was read from the harness's file (its SHA-256) and labelled as random
    weights; where the stem stays frozen, the trained model's stem equals the file's tensors as the
    converter maps them."""
    import torch

    from cxrlib.models.converters import CONVERTERS, unwrap_state_dict
    from cxrlib.models.paths import parameters_under
    from cxrlib.models.weights import SMOKE_WEIGHTS, new_backbone, read_checkpoint

    named = paper_smoke.named_weights(r.params for r in PAPER_RUNS)
    seen, compared = set(), 0
    for folder, info in _loaded_weights(smoke):
        if info["source"] == "ssl":
            continue  # our own pre-training's checkpoint (itself started from a fake file)
        assert SMOKE_WEIGHTS in info["description"] and info["meta"].get("smoke"), folder
        assert info["file"] == smoke["weights"][f"{info['backbone_key']}/{info['source']}"]
        seen.add((info["backbone_key"], info["source"]))
        params = yaml.safe_load((folder / "params.yaml").read_text()) if (folder / "params.yaml").exists() else {}
        saved = [folder / "checkpoints" / f"{name}.ckpt" for name in ("best", "last")]  # the paper smoke keeps no last
        checkpoint = next((path for path in saved if path.exists()), None)
        if params.get("unfrozen_blocks") in (None, "all") or checkpoint is None:
            continue
        spec = REGISTRY[info["backbone_key"]]
        converter = spec.source(info["source"]).converter
        raw = read_checkpoint(info["file"])
        state = CONVERTERS[converter](raw) if converter else unwrap_state_dict(raw)
        trained = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
        model = new_backbone(spec.key)
        for path in spec.stem:
            for name in parameters_under(model, path):
                if name in state and state[name].shape == trained[f"model.backbone.{name}"].shape:
                    assert torch.equal(trained[f"model.backbone.{name}"], state[name]), (folder.name, name)
                    compared += 1
    assert named <= seen, f"tags named by paper files but never loaded: {sorted(named - seen)}"
    assert compared > 0


def test_outside_smoke_a_missing_weight_file_stops_every_paper_file(tmp_path, monkeypatch):
    from torch import nn

    from cxrlib.models.weights import WeightsNotFoundError, load_weights

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    for key, tag in sorted(paper_smoke.named_weights(r.params for r in PAPER_RUNS)):
        with pytest.raises(WeightsNotFoundError, match="Get them with one line") as error:
            load_weights(nn.Identity(), key, tag, weights_dir=tmp_path / "weights")  # fails before loading
        assert str(tmp_path / "weights" / key) in str(error.value)


def test_a_fake_file_is_labelled_only_while_its_sidecar_matches(tmp_path):
    from cxrlib.models.fixtures import write_fake_weights
    from cxrlib.models.weights import SMOKE_WEIGHTS, create_backbone

    path = write_fake_weights("resnet18", "imagenet", tmp_path)
    _, info = create_backbone("resnet18", "imagenet", weights_dir=tmp_path)
    assert info.description.startswith(SMOKE_WEIGHTS) and SMOKE_WEIGHTS in info.caption()
    sidecar = path.with_name(path.name + ".smoke.json")
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "sha256": "0" * 64}))
    _, info = create_backbone("resnet18", "imagenet", weights_dir=tmp_path)
    assert SMOKE_WEIGHTS not in info.description


def test_outside_smoke_missing_data_stops_every_paper_file(tmp_path):
    """Each paper file's task, loaded from an empty data root as its notebook does, names the download page."""
    tasks = {(r.params["task"], json.dumps(r.params.get("task_options") or {}, sort_keys=True))
             for r in PAPER_RUNS if "task" in r.params}
    assert tasks
    for name, options in sorted(tasks):
        with pytest.raises(DataNotFoundError, match="Expected layout") as error:
            TASKS[name].load_table(tmp_path / "empty", **json.loads(options))
        urls = {SOURCES[TASKS[name].source].url, SOURCES["nih-cxr14"].url}
        assert any(u in str(error.value) for u in urls), name


def test_paper_smoke_overrides_are_by_notebook_and_keep_what_the_paper_file_keeps():
    """A paper file of any notebook gets the classroom smoke sizes, then ``params/smoke/paper/<notebook>.yaml``
    (so files added later are covered); ``keep:`` leaves the paper file's own value."""
    for run in PAPER_RUNS:
        notebook = run.name.split("--")[0]
        merged = build.smoke_overrides(run.name, REPO, "paper")
        paper_layer = REPO / "params" / "smoke" / "paper" / f"{notebook}.yaml"
        keep = (yaml.safe_load(paper_layer.read_text()) or {}).get("keep", []) if paper_layer.exists() else []
        assert not set(keep) & set(merged)
    probe = build.smoke_overrides("06_linear_probe--d002", REPO, "paper")
    assert "tasks" not in probe and "tasks" in build.smoke_overrides("06_linear_probe--d002", REPO)
