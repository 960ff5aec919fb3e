"""Notebook 05's engine: Grad-CAM (known answers, batching, the ViT reshape of every registry row), the
model-randomisation check, localisation scores, the NIH boxes, the published Fig. 3 counts, bad inputs."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from cxrlib.explain import gradcam, sanity
from cxrlib.explain.boxes import BOX_FINDINGS, boxes_for_classes, class_for_finding, read_nih_boxes
from cxrlib.explain.runs import RunFolderError, read_run, resolve_class
from cxrlib.images.tasks import get_task
from cxrlib.models import build_classifier, get_spec
from cxrlib.models.registry import REGISTRY
from cxrlib.stats import localisation as L

REPO = Path(__file__).resolve().parents[1]
VIT_ROWS = [key for key, spec in REGISTRY.items() if spec.family == "vit"]
CNN_ROWS = [key for key, spec in REGISTRY.items() if spec.family != "vit"]


# ------------------------------------------------------------------------------ Grad-CAM, known answer


class GapLinear(nn.Module):
    """features (identity on the input) -> global average pool -> linear: Grad-CAM's answer is known."""

    def __init__(self, weights):
        super().__init__()
        self.features = nn.Identity()
        self.fc = nn.Linear(len(weights[0]), len(weights), bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(weights, dtype=torch.float32))

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def hot_images(spots, size=16):
    x = torch.zeros(len(spots), 2, size, size)
    for i, (r, c) in enumerate(spots):
        x[i, 0, r:r + 3, c:c + 3] = 1.0
        x[i, 1] = 0.5  # a constant channel the class ignores
    return x


def test_gradcam_points_at_the_hot_region_of_a_linear_model():
    model = GapLinear([[-1.0, 0.0], [1.0, 0.0]])  # class 1 = "channel 0 is bright"; class 0 the opposite
    x = hot_images([(2, 3), (10, 11)])
    maps = gradcam.gradcam(model, x, 1, layer=model.features)
    assert maps.shape == (2, 16, 16)
    for heat, (r, c) in zip(maps, [(2, 3), (10, 11)]):
        expected = np.zeros((16, 16))
        expected[r:r + 3, c:c + 3] = 1.0
        assert np.allclose(heat / heat.max(), expected, atol=1e-6)  # alpha_0 = 1/256 > 0, alpha_1 = 0
    # the class whose weight is negative: ReLU leaves nothing
    assert np.allclose(gradcam.gradcam(model, x, 0, layer=model.features), 0)


def test_gradcam_of_a_batch_equals_one_image_at_a_time():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    x = torch.randn(5, 3, 20, 20)
    targets = [0, 1, 2, 1, 0]
    batch = gradcam.gradcam(model, x, targets, layer=model[3])
    single = np.concatenate([gradcam.gradcam(model, x[i:i + 1], targets[i], layer=model[3]) for i in range(5)])
    assert np.allclose(batch, single, atol=1e-5)
    assert batch.shape == (5, 20, 20) and (batch >= 0).all()


def test_explain_batches_uses_one_pass_per_batch(monkeypatch):
    model = GapLinear([[1.0, 0.0], [0.0, 1.0]])
    calls = []
    original = model.forward
    monkeypatch.setattr(model, "forward", lambda x: calls.append(len(x)) or original(x))
    out = gradcam.explain_batches(model, hot_images([(1, 1)] * 7), 1, method="input gradient", batch_size=3)
    assert out.shape == (7, 16, 16) and calls == [3, 3, 1]


# ------------------------------------------------------------------------------ ViT reshape, every row


def test_tokens_to_grid_drops_the_prefix_and_keeps_row_major_order():
    rows, cols, prefix = 3, 4, 5
    tokens = torch.zeros(1, prefix + rows * cols, 2)
    tokens[0, :prefix] = -1.0  # class and register tokens
    tokens[0, prefix:, 0] = torch.arange(rows * cols, dtype=torch.float32)
    grid = gradcam.tokens_to_grid(tokens, prefix, (rows, cols))
    assert grid.shape == (1, 2, rows, cols)
    assert torch.equal(grid[0, 0], torch.arange(rows * cols, dtype=torch.float32).reshape(rows, cols))
    # dropping one token only (grad-cam 1.5.7's default) fits a 4 x 4 grid here, silently mixing the
    # register tokens into the map; with the model's own grid the count must match exactly
    with pytest.raises(gradcam.GradCamLayerError, match="grid is 3 x 3"):
        gradcam.tokens_to_grid(tokens, 1, (3, 3))


@pytest.mark.parametrize("key", VIT_ROWS)
def test_vit_reshape_follows_the_models_own_prefix_and_grid(key):
    spec = get_spec(key)
    patch = int(spec.timm_name.split("patch")[1][:2])
    size = 2 * patch if "vitb" not in key else patch  # tiny: a 2 x 2 grid (ViT-B: 1 x 1, fast to build)
    size = 3 * patch if key == "dinov2_vits14" else size  # DINOv2: a 3 x 3 grid, not grad-cam's 14 x 14
    model = build_classifier(key, 2, weights="none", img_size=size).eval()
    prefix, grid = gradcam.prefix_and_grid(model.backbone)
    assert prefix == model.backbone.num_prefix_tokens
    assert grid == (size // patch, size // patch)
    captured = {}
    layer = gradcam.target_layer(model)
    handle = layer.register_forward_hook(lambda m, i, o: captured.__setitem__("tokens", o.shape))
    maps = gradcam.gradcam(model, torch.randn(2, 3, size, size), 1, upsample=False)
    handle.remove()
    assert captured["tokens"][1] == prefix + grid[0] * grid[1]
    assert maps.shape == (2, *grid)
    assert gradcam.gradcam(model, torch.randn(2, 3, size, size), 0).shape == (2, size, size)


def test_vit_reshape_with_register_tokens():
    """DINOv2 with registers has 5 prefix tokens: a fixed 'drop one token' reshape would be wrong."""
    import timm

    vit = timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, num_classes=2, img_size=28).eval()
    prefix, grid = gradcam.prefix_and_grid(vit)
    assert (prefix, grid) == (5, (2, 2))
    maps = gradcam.gradcam(vit, torch.randn(1, 3, 28, 28), 1, layer=vit.blocks[-1].norm1,
                           reshape=gradcam.reshape_for(vit), upsample=False)
    assert maps.shape == (1, 2, 2)


@pytest.mark.parametrize("key", ["convnextv2_atto", "resnet18", "chexnet_densenet121"])
def test_cnn_rows_give_a_grid(key):
    model = build_classifier(key, 3, weights="none").eval()
    maps = gradcam.gradcam(model, torch.randn(2, 3, 64, 64), [0, 2], upsample=False)
    assert maps.shape == (2, 2, 2)  # stride 32


def test_layer_rule_picks_the_deepest_layer_with_a_fine_enough_grid():
    model = build_classifier("resnet18", 2, weights="none").eval()
    assert gradcam.layer_candidates(model) == ["backbone.layer4", "backbone.layer3", "backbone.layer2", "backbone.layer1"]
    at64 = gradcam.choose_layer(model, 64)
    assert (at64.path, at64.grid, at64.meets_min) == ("backbone.layer2", (8, 8), True)
    assert [g for _, g in at64.candidates] == [(2, 2), (4, 4), (8, 8), (16, 16)]
    assert gradcam.choose_layer(model, 128).path == "backbone.layer3"
    assert gradcam.choose_layer(model, 64, min_grid=2).path == "backbone.layer4"
    tiny = gradcam.choose_layer(model, 28)  # no layer reaches 8 x 8: the largest grid, and the text says so
    assert (tiny.path, tiny.grid, tiny.meets_min) == ("backbone.layer1", (7, 7), False)
    assert "no layer reaches 8 x 8" in tiny.text()
    maps = gradcam.gradcam(model, torch.randn(2, 3, 64, 64), 1, layer=at64.path, upsample=False)
    assert maps.shape == (2, 8, 8)
    assert gradcam.explain_batches(model, torch.randn(3, 3, 64, 64), 1, layer=at64.path).shape == (3, 64, 64)


def test_layer_rule_keeps_a_vits_registry_layer():
    vit = build_classifier("dino_vits16", 2, weights="none", img_size=64).eval()
    choice = gradcam.choose_layer(vit, 64)  # every block has the 4 x 4 patch grid: the registry's layer
    assert (choice.path, choice.grid, choice.meets_min) == ("backbone.blocks.-1.norm1", (4, 4), False)


def test_a_missing_gradcam_layer_is_one_clear_error():
    model = build_classifier("resnet18", 2, weights="none")
    model.spec = replace(model.spec, gradcam_layer="layer9")
    with pytest.raises(gradcam.GradCamLayerError, match=r"resnet18.*'layer9'.*gradcam_layer"):
        gradcam.gradcam(model, torch.randn(1, 3, 64, 64), 1)


# ------------------------------------------------------------------------------ sanity check


def small_cnn(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 2)).eval()


def test_randomisation_verdict_flags_maps_that_follow_the_image_and_passes_maps_that_change():
    trained, fresh = small_cnn(0), small_cnn(1)
    x = torch.randn(6, 3, 12, 12, generator=torch.Generator().manual_seed(2))
    levels = [sanity.Level("head", ("6",)), sanity.Level("conv 2", ("2",)), sanity.Level("conv 1", ("0",))]
    noise = torch.Generator().manual_seed(5)

    def explain(model, method):
        if method == "image":  # ignores the model: the maps never change
            return x.abs().sum(dim=1).numpy()
        if method == "image, partly":  # half image, half noise: rho ~ 0.4 with its own map, like the input gradient
            return (x.abs().sum(dim=1) + 4.0 * torch.rand(6, 12, 12, generator=noise)).numpy()
        if method == "unrelated":  # a new random map at every call: changes completely
            return torch.rand(6, 12, 12, generator=noise).numpy()
        return gradcam.gradcam(model, x, 1, layer=model[3])

    methods = ("Grad-CAM", "image", "image, partly", "unrelated")
    before = [p.clone() for p in trained.parameters()]
    table, maps = sanity.cascading_randomisation(trained, fresh, x, 1, levels, methods=methods, explain=explain)
    assert all(torch.equal(a, b) for a, b in zip(before, trained.parameters())), "the trained model is not changed"
    assert len(maps["Grad-CAM"]) == 1 + len(levels)
    summary = sanity.sanity_summary(table, maps, alpha=0.05)
    last = summary[summary["depth"] == len(levels)].set_index("method")
    assert last.loc["image", "mean"] == pytest.approx(1.0)
    assert last.loc["image", "verdict"].startswith("FLAGGED")
    partly = last.loc["image, partly"]
    assert partly["mean"] < 0.6 and partly["verdict"].startswith("FLAGGED")  # no fixed threshold: a lower rho is flagged
    assert last.loc["unrelated", "verdict"].startswith("passes")
    assert last.loc["unrelated", "p_value"] > 0.05
    assert abs(last.loc["unrelated", "unrelated"]) < 0.2
    # two images: no p-value can reach 0.05, so the verdict says it cannot tell
    few = sanity.sanity_summary(table[table["image"] < 2], {m: [a[:2] for a in v] for m, v in maps.items()}, alpha=0.05)
    assert few.loc[few["depth"] == len(levels), "verdict"].str.startswith("cannot tell").all()
    assert (few.loc[few["depth"] < len(levels), "verdict"] == "").all()  # the verdict is on the last level only


def test_spearman_rows():
    a = np.arange(16.0).reshape(1, 4, 4)
    assert sanity.spearman_rows(a, a ** 3)[0] == pytest.approx(1.0)
    assert sanity.spearman_rows(a, -a)[0] == pytest.approx(-1.0)
    assert np.isnan(sanity.spearman_rows(a, np.zeros_like(a))[0])
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    ref, other = rng.random((3, 5, 5)), rng.random((3, 5, 5))
    matrix = sanity.spearman_matrix(ref, other)
    assert matrix[0, 2] == pytest.approx(spearmanr(ref[0].ravel(), other[2].ravel())[0])
    assert np.allclose(np.diag(matrix), sanity.spearman_rows(ref, other))


def test_classifier_levels_cascade_from_the_head_to_the_stem():
    model = build_classifier("resnet18", 2, weights="none")
    levels = sanity.classifier_levels(model)
    assert [lv.label for lv in levels] == ["head", "block 4", "block 3", "block 2", "block 1", "stem"]
    fresh = build_classifier("resnet18", 2, weights="none", seed=1)
    changed = sanity.randomise(model, fresh, levels[1].paths)
    assert changed > 0
    assert torch.equal(model.state_dict()["backbone.layer4.0.bn1.running_var"],
                       fresh.state_dict()["backbone.layer4.0.bn1.running_var"])
    assert not torch.equal(model.backbone.conv1.weight, fresh.backbone.conv1.weight)


# ------------------------------------------------------------------------------ localisation


def test_box_rescaling_from_1024_px():
    assert L.rescale_box((512, 256, 128, 64), image_size=64) == (32.0, 16.0, 8.0, 4.0)
    assert L.rescale_box((0, 0, 1024, 1024), image_size=224) == (0.0, 0.0, 224.0, 224.0)
    # a 200 x 100 image padded to 200 x 200 (50 rows on top), then 100 px
    assert L.rescale_box((10, 10, 20, 20), source_size=(200, 100), image_size=100) == (5.0, 30.0, 10.0, 10.0)
    assert L.rescale_box((10, 10, 20, 20), source_size=(200, 100), image_size=100, pad_square=False) == (5.0, 10.0, 10.0, 20.0)


def test_box_mask_by_pixel_centres():
    mask = L.box_mask((2, 1, 3, 2), (6, 8))
    assert mask.sum() == 6 and mask[1:3, 2:5].all()
    tiny = L.box_mask((4.1, 4.1, 0.2, 0.2), (8, 8))  # no pixel centre inside: the centre pixel
    assert tiny.sum() == 1 and tiny[4, 4]
    with pytest.raises(ValueError, match="outside"):
        L.box_mask((20, 20, 0.1, 0.1), (8, 8))


def test_pointing_game_and_energy_on_synthetic_maps():
    box = (8, 8, 8, 8)  # a quarter of a 32 x 32 map... in area 64 / 1024
    inside, outside = np.zeros((32, 32)), np.zeros((32, 32))
    inside[10, 12] = 1.0
    outside[30, 2] = 1.0
    assert L.pointing_hit(inside, box) and not L.pointing_hit(outside, box)
    assert L.pointing_hit(outside, (4, 26, 4, 4), tolerance=0) is False
    assert L.pointing_hit(outside, (4, 26, 4, 3), tolerance=2)  # grown box reaches row 30
    assert L.energy_in_box(inside, box) == 1.0 and L.energy_in_box(outside, box) == 0.0
    assert L.energy_in_box(np.ones((32, 32)), box) == pytest.approx(64 / 1024)
    half = inside + outside
    assert L.energy_in_box(half, box) == pytest.approx(0.5)
    scores = L.localisation_scores([inside, outside, np.zeros((32, 32))], [box] * 3)
    assert scores["hit"].tolist() == [True, False, False]
    assert scores["empty_map"].tolist() == [False, False, True]
    summary = L.localisation_summary(scores, n_boot=200, seed=0).set_index("metric")
    assert summary.loc["pointing game hit rate", "estimate"] == pytest.approx(1 / 3)
    assert summary.loc["chance (box share of image)", "estimate"] == pytest.approx(64 / 1024)
    lo, hi = summary.loc["energy in box", ["ci_low", "ci_high"]]
    assert 0 <= lo <= 1 / 3 <= hi <= 1
    empty = L.localisation_summary(L.localisation_scores([], []))
    assert (empty["n"] == 0).all() and empty["estimate"].isna().all()


def test_nih_boxes_and_their_classes(data_root):
    boxes = read_nih_boxes()
    assert len(boxes) == 984 and boxes["finding"].nunique() == 8
    assert "Infiltration" in set(boxes["finding"]) and "Infiltrate" not in set(boxes["finding"])
    assert set(boxes["finding"]) == set(BOX_FINDINGS.values())
    assert class_for_finding("Pneumonia", ("normal", "pneumonia")) == "pneumonia"
    assert class_for_finding("Infiltrate", get_task("nih15_single_label").classes) == "Infiltration"
    assert class_for_finding("Mass", ("normal", "pneumonia")) is None
    assert set(boxes_for_classes(boxes, ("normal", "pneumonia"))["class"]) == {"pneumonia"}
    sample = data_root / "nih-cxr14" / "images-256"
    if sample.is_dir():
        present = {p.name for p in sample.glob("*.png")}
        assert len(boxes[boxes["image_id"].isin(present)]) == 12


def test_published_fig3_rows_add_up_to_table1():
    from cxrlib import published

    fig3 = published.load("d000_fig3").frame
    table1 = published.load("d000_table1").frame.set_index("class")
    assert set(fig3["model"]) == {"DINOv2 ViT-S/14", "CheXNet"}
    for _, part in fig3.groupby("model"):
        counts = part.set_index("true").drop(columns="model")
        assert list(counts.index) == list(counts.columns) == list(get_task("nih15_single_label").classes)
        assert (counts.sum(axis=1) == table1.loc[counts.index, "test"]).all()


# ------------------------------------------------------------------------------ bad input


def test_run_folder_errors(tmp_path):
    with pytest.raises(RunFolderError, match="does not exist"):
        read_run(tmp_path / "missing")
    with pytest.raises(RunFolderError, match="no params.yaml"):
        read_run(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"backbone": "resnet18", "task": "kermany_pneumonia",
                                                          "image_size": 64}))
    with pytest.raises(RunFolderError, match=r"no checkpoint checkpoints/best\.ckpt"):
        read_run(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.ckpt").write_bytes(b"")
    with pytest.raises(RunFolderError, match="predictions_val.csv"):
        read_run(tmp_path)


def test_a_class_the_task_lacks_is_one_clear_error():
    task = get_task("kermany_pneumonia")
    assert resolve_class(task, None) == 1 and resolve_class(task, "normal") == 0
    with pytest.raises(ValueError, match=r"no class 'Cardiomegaly'; its classes are: normal, pneumonia"):
        resolve_class(task, "Cardiomegaly")
    with pytest.raises(ValueError, match="name the class"):
        resolve_class(get_task("nih15_single_label"), None)


def test_classroom_params_equal_the_parameter_cell():
    import ast

    import nbformat

    nb = nbformat.read(REPO / "notebooks" / "05_explain.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell = {n.targets[0].id: ast.literal_eval(n.value) for n in ast.parse(source).body if isinstance(n, ast.Assign)}
    params = yaml.safe_load((REPO / "params" / "classroom" / "05_explain.yaml").read_text())
    assert params["finetune_dir"] == "book/_generated/03_finetune"
    assert params["pretrain_dir"] == "book/_generated/02_pretrain"
    assert {k: v for k, v in params.items() if cell.get(k) != v} == {}
    paper = yaml.safe_load((REPO / "params" / "paper" / "05_explain--d000.yaml").read_text())
    assert set(paper) <= set(cell)
    assert json.dumps(sorted(cell))  # every parameter is a literal


def test_record_checkpoints_hashes_each_checkpoint_once_for_provenance_and_cache(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from cxrlib.book.artifacts import RunArtifacts
    from cxrlib.chapters import explain as chapter
    from cxrlib.core import runs
    from cxrlib.core.io import file_sha256

    files = {name: tmp_path / f"{name}.ckpt" for name in ("a", "b")}
    for name, path in files.items():
        path.write_bytes(name.encode() * 100)
    hashed = []
    monkeypatch.setattr(runs, "file_sha256", lambda path: hashed.append(path) or file_sha256(path))
    run = RunArtifacts(tmp_path / "out", "05_explain", {})
    ids = chapter.record_checkpoints(run, [SimpleNamespace(name=n, checkpoint=p) for n, p in files.items()])
    assert ids == {name: file_sha256(path) for name, path in files.items()}
    assert run.data["checkpoint a"]["fingerprint"] == f"sha256:{ids['a']}"
    assert len(hashed) == 2



# ------------------------------------------------------------------------------ generated readings


def test_fig3_reading_is_read_from_the_published_counts():
    from cxrlib import published
    from cxrlib.chapters import explain as chapter

    reading = chapter.fig3_reading()
    table1 = published.load("d000_table1").frame.set_index("class")
    n_normal = int(table1.loc["No Finding", "test"])
    assert n_normal == 9861  # document 000, Table 1 (not "8,000-odd")
    assert f"the {n_normal:,} No Finding test images" in reading
    assert "Cardiomegaly 226 of 316 against 97" in reading and "2,647 to Infiltration" in reading


def test_chapter_text_reads_the_runs_and_keeps_no_stale_claim():
    page = (REPO / "book" / "explain.md").read_text()
    for artifact in ("ex_learned", "ex_fig3_reading", "ex_sanity_reading", "ex_localisation_reading"):
        assert f"_generated/05_explain/{artifact}.md" in page
    for stale in ("8,000-odd", "spans most of the range", "flagging threshold", "3 of them for Pneumonia"):
        assert stale not in page
    # "with 8 images all 8! = 40,320 re-pairings, an exact p-value": the classroom size and the default budget
    import inspect

    assert yaml.safe_load((REPO / "params" / "classroom" / "05_explain.yaml").read_text())["sanity_images"] == 8
    assert inspect.signature(sanity.sanity_summary).parameters["permutations"].default >= 40_320
    assert "8! = 40{,}320" in page


def _run_with(learning):
    from types import SimpleNamespace

    return SimpleNamespace(name="resnet18 (03_finetune)", learning=learning)


def test_readings_of_a_model_that_did_not_learn_are_a_pipeline_demo():
    import pandas as pd

    from cxrlib.chapters import explain as chapter
    from cxrlib.stats.learning import check_learning

    good = check_learning(estimate=0.95, ci_low=0.93, ci_high=0.97, final_loss=0.2, no_information=0.693)
    bad = check_learning(estimate=0.52, ci_low=0.45, ci_high=0.6, final_loss=0.69, no_information=0.693)
    local = pd.DataFrame({"run": ["resnet18 (03_finetune)"] * 3,
                          "metric": ["pointing game hit rate", "energy in box", "chance (box share of image)"],
                          "estimate": [0.0, 0.1, 0.13], "ci_low": [0.0, 0.0, 0.05], "ci_high": [0.708, 0.3, 0.3],
                          "n": [3, 3, 3]})
    learned = chapter.localisation_reading(local, _run_with(good), source="the run's own test images", in_domain=True)
    assert learned.startswith("resnet18 (03_finetune): the Grad-CAM maximum fell inside the radiologist's box on 0 of 3")
    assert "0.00 to 0.71" in learned and "71% of the possible range" in learned and "includes the chance level" in learned
    demo = chapter.localisation_reading(local, _run_with(bad), source="x", in_domain=False)
    assert demo.startswith("Pipeline demo") and "not a finding about the model" in demo
    assert chapter.demo_prefix(_run_with(None)).startswith("Pipeline demo")
    text = chapter.learning_text([_run_with(good), _run_with(bad), _run_with(None)])
    assert text.count(":::{warning}") == 2 and "no \"did it learn?\" check" in text
    assert all(line == ":::{warning}" for line in text.splitlines() if ":::{warning}" in line)  # fences open lines
    assert "**resnet18 (03_finetune)**: Did the fine-tuned" not in text and "Did the model learn? NO" in text
    summary = pd.DataFrame({"method": ["Grad-CAM"] * 3, "depth": [1, 2, 3], "level": ["head", "block 2", "block 1"],
                            "p_value": [0.5, 0.01, 0.6], "verdict": ["", "", "passes: ..."]})
    reading = chapter.sanity_reading(summary, _run_with(good), alpha=0.05)
    assert "**Grad-CAM**: passes: ..." in reading and "after re-initialising down to 'head', but closer again after 'block 2'" in reading
