"""Tests for cxrlib.images.preprocess on real images from the shared data folder."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cxrlib.images import preprocess as pp


def _first(folder: Path, pattern: str, count: int) -> list[Path]:
    found = sorted(folder.glob(pattern))[:count]
    assert len(found) == count, f"expected {count} files matching {pattern} in {folder}"
    return found


@pytest.fixture
def nih_paths(data_root) -> list[Path]:
    return _first(data_root / "nih-cxr14" / "images-256", "*.png", 3)


@pytest.fixture
def kermany_paths(data_root) -> list[Path]:
    return _first(data_root / "kermany-pneumonia" / "train" / "NORMAL", "*.jpeg", 2)


@pytest.fixture
def covid_paths(data_root) -> list[Path]:
    return _first(data_root / "covid-chestxray" / "images-256", "*.png", 2)


@pytest.fixture
def real_paths(nih_paths, kermany_paths, covid_paths) -> list[Path]:
    return nih_paths + kermany_paths + covid_paths


@pytest.fixture
def nih_image(nih_paths) -> np.ndarray:
    return pp.decode_image(nih_paths[0])


# ---------------------------------------------------------------------------------- isolation


def test_import_and_use_does_not_import_torch(tmp_path, nih_paths):
    code = (
        "import sys, cxrlib.images.preprocess as pp\n"
        f"cache = pp.PreprocessCache({str(tmp_path)!r}, pp.PIPELINES['d000'])\n"
        f"cache.warm([{str(nih_paths[0])!r}], progress=True)\n"
        "pp.to_model_input(cache.get(" + repr(str(nih_paths[0])) + "), cache.config)\n"
        "assert 'torch' not in sys.modules, 'cxrlib.images.preprocess imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------- decoding


def test_decode_real_images_to_grey_uint8(nih_paths, kermany_paths, covid_paths):
    for path, side in [(nih_paths[0], 256), (kermany_paths[0], 224), (covid_paths[0], 256)]:
        image = pp.decode_image(path)
        assert image.dtype == np.uint8
        assert image.shape == (side, side), path


def test_decode_rgb_and_rgba_give_the_grey_image(tmp_path, nih_image):
    rgb = np.dstack([nih_image] * 3)
    rgba = np.dstack([nih_image] * 3 + [np.full_like(nih_image, 255)])
    for name, array in [("rgb.png", rgb), ("rgba.png", rgba)]:
        cv2.imwrite(str(tmp_path / name), array)
        np.testing.assert_array_equal(pp.decode_image(tmp_path / name), nih_image)


def test_decode_16_bit_is_stretched_to_uint8(tmp_path, nih_image):
    deep = nih_image.astype(np.uint16) * 16 + 1000
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    image = pp.decode_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8
    assert image.min() == 0 and image.max() == 255


def test_decode_errors_name_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "missing.png"
    with pytest.raises(FileNotFoundError, match="missing.png"):
        pp.decode_image(missing)
    garbage = tmp_path / "garbage.png"
    garbage.write_text("not an image")
    with pytest.raises(pp.ImageDecodeError, match="garbage.png"):
        pp.decode_image(garbage)
    empty = tmp_path / "empty.jpeg"
    empty.write_bytes(b"")
    with pytest.raises(pp.ImageDecodeError, match="empty.jpeg"):
        pp.decode_image(empty)


# ---------------------------------------------------------------------------------- steps


@pytest.mark.parametrize("height, width", [(256, 180), (151, 256)])
def test_pad_square_keeps_content_centred(nih_image, height, width):
    crop = nih_image[:height, :width]
    padded = pp.pad_square(crop)
    assert padded.shape == (256, 256)
    top, left = (256 - height) // 2, (256 - width) // 2
    np.testing.assert_array_equal(padded[top : top + height, left : left + width], crop)
    border = padded.copy()
    border[top : top + height, left : left + width] = 0
    assert not border.any(), "padding must be zeros"
    # centred: the two margins differ by at most one pixel
    assert abs((256 - height - top) - top) <= 1 and abs((256 - width - left) - left) <= 1


def test_pad_square_leaves_square_images_alone(nih_image):
    assert pp.pad_square(nih_image) is nih_image


@pytest.mark.parametrize("name", sorted(pp.PIPELINES))
def test_every_pipeline_gives_size_by_size_uint8(name, real_paths):
    config = pp.PIPELINES[name]
    for path in real_paths:
        image = pp.load_preprocessed(path, config)
        assert image.dtype == np.uint8 and image.shape == (config.size, config.size)
        model_input = pp.to_model_input(image, config)
        assert model_input.dtype == np.float32
        assert model_input.shape == (config.channels, config.size, config.size)
        assert np.isfinite(model_input).all()


def test_non_square_input_with_padding_keeps_aspect(nih_image):
    config = dataclasses.replace(pp.PIPELINES["d004"], size=64)
    wide = nih_image[:128, :]  # 128 x 256: padding adds 64 rows on top and bottom
    out = pp.apply_steps(wide, config)
    assert out.shape == (64, 64)
    assert not out[:15].any() and not out[-15:].any(), "zero bands above and below"
    assert out[20:44].any()


def test_clahe_matches_opencv_and_raises_contrast(nih_image):
    low_contrast = (100 + nih_image.astype(np.float32) * (50 / 255)).astype(np.uint8)
    config = pp.PreprocessConfig(steps=("resize", "clahe"), size=256, clahe_clip_limit=3.0,
                                 clahe_tile_grid=(4, 6))
    reference = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 6)).apply(low_contrast)
    out = pp.apply_steps(low_contrast, config)
    np.testing.assert_array_equal(out, reference)
    assert out.std() > 1.5 * low_contrast.std()
    assert not np.array_equal(
        out, pp.apply_clahe(low_contrast, clip_limit=1.0, tile_grid=(8, 8))
    ), "clip limit must matter"


def test_histogram_equalisation_spans_full_range(nih_image):
    low_contrast = (60 + nih_image // 4).astype(np.uint8)
    for image in (nih_image, low_contrast):
        out = pp.equalize_histogram(image)
        assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255


def test_min_max_scaling(nih_image):
    narrow = (30 + nih_image // 2).astype(np.uint8)
    stretched = pp.min_max_stretch(narrow)
    assert stretched.dtype == np.uint8 and stretched.min() == 0 and stretched.max() == 255
    unit = pp.min_max_scale(narrow)
    assert unit.dtype == np.float32 and unit.min() == 0.0 and unit.max() == 1.0
    constant = np.full((8, 8), 7, np.uint8)
    assert not pp.min_max_scale(constant).any() and not pp.min_max_stretch(constant).any()
    batch = np.stack([narrow, constant[:1, :1].repeat(256, 0).repeat(256, 1)])
    scaled = pp.min_max_scale(batch)
    assert scaled[0].max() == 1.0 and not scaled[1].any(), "per image, not per batch"


def test_float_stage_grey_to_three_channels_and_imagenet(nih_image):
    unit = pp.scale_to_unit(nih_image)
    assert unit.max() <= 1.0 and unit.dtype == np.float32
    stacked = pp.grey_to_channels(unit)
    assert stacked.shape == (3, 256, 256)
    assert all(np.array_equal(stacked[c], unit) for c in range(3))
    normed = pp.to_model_input(nih_image, pp.PIPELINES["d000"])
    for c in range(3):
        expected = (unit - pp.IMAGENET_MEAN[c]) / pp.IMAGENET_STD[c]
        np.testing.assert_allclose(normed[c], expected, rtol=1e-6, atol=1e-6)
    batch = pp.to_model_input(np.stack([nih_image, nih_image]), pp.PIPELINES["d000"])
    assert batch.shape == (2, 3, 256, 256)
    np.testing.assert_array_equal(batch[1], normed)
    plain = pp.to_model_input(nih_image, pp.PIPELINES["d001"])  # no standardisation
    assert plain.min() == 0.0 and plain.max() == 1.0


# ---------------------------------------------------------------------------------- config


def test_pipelines_follow_the_documents():
    assert pp.PIPELINES["d000"].steps == ("resize", "clahe")
    assert pp.PIPELINES["d001"].steps == ("resize", "minmax", "hist_eq")
    assert pp.PIPELINES["d004"].steps == ("pad_square", "resize")
    assert all(pp.PIPELINES[name].size == 224 for name in ("d000", "d001", "d004"))
    for name, config in pp.PIPELINES.items():
        assert config.reference, f"{name} needs a reference"


def test_key_is_stable_and_tracks_cached_fields():
    base = pp.PIPELINES["d000"]
    assert base.key() == pp.PreprocessConfig(**dataclasses.asdict(base)).key()
    changes = [
        {"size": 128},
        {"clahe_clip_limit": 3.0},
        {"clahe_tile_grid": (4, 4)},
        {"steps": ("clahe", "resize")},  # order matters
        {"steps": ("pad_square", "resize", "clahe")},
        {"interpolation": "cubic"},
        {"pad_value": 255},
    ]
    keys = {base.key()} | {dataclasses.replace(base, **change).key() for change in changes}
    assert len(keys) == len(changes) + 1
    # the float stage and the citation do not change the cached array, so not the key
    assert dataclasses.replace(base, normalization="none", unit_scaling="minmax",
                               reference="x").key() == base.key()


def test_key_is_the_same_in_another_process():
    code = "import cxrlib.images.preprocess as pp; print(pp.PIPELINES['d001'].key())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == pp.PIPELINES["d001"].key()


def test_config_validation_and_round_trip():
    config = pp.PIPELINES["classroom"]
    again = pp.PreprocessConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and again.key() == config.key()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.size = 64  # type: ignore[misc]
    for bad in [{"steps": ("resize", "sharpen")}, {"steps": ("clahe",)},
                {"steps": ("resize", "resize")}, {"interpolation": "bogus"},
                {"clahe_clip_limit": 0}, {"normalization": "cifar"}, {"size": 0}]:
        with pytest.raises(ValueError):
            pp.PreprocessConfig(**bad)
    with pytest.raises(ValueError, match="unknown PreprocessConfig parameter"):
        pp.PreprocessConfig.from_dict({"sise": 224})


# ---------------------------------------------------------------------------------- cache


@pytest.fixture
def count_decodes(monkeypatch):
    calls: list[str] = []
    real = pp.decode_image

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(pp, "decode_image", counting)
    return calls


def test_cache_hit_is_identical_and_does_not_decode(tmp_path, real_paths, count_decodes):
    config = pp.PIPELINES["d000"]
    cache = pp.PreprocessCache(tmp_path, config)
    first = [cache.get(path) for path in real_paths]
    assert len(count_decodes) == len(real_paths)
    second = [cache.get(path) for path in real_paths]
    assert len(count_decodes) == len(real_paths), "a hit must not decode"
    for a, b, path in zip(first, second, real_paths):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, pp.load_preprocessed(path, config))
    assert cache.stats == pp.CacheStats(hits=len(real_paths), misses=len(real_paths))
    # persisted: a new cache object on the same folder hits too
    decodes_so_far = len(count_decodes)
    reopened = pp.PreprocessCache(tmp_path, config)
    np.testing.assert_array_equal(reopened.get(real_paths[0]), first[0])
    assert reopened.stats.hits == 1 and len(count_decodes) == decodes_so_far
    assert not list(tmp_path.rglob("*.tmp")), "no temporary files left behind"
    manifest = json.loads((cache.directory / "config.json").read_text())
    assert manifest["config"]["steps"] == ["resize", "clahe"]


def test_cache_separates_configs(tmp_path, nih_paths, count_decodes):
    small = pp.PreprocessCache(tmp_path, dataclasses.replace(pp.PIPELINES["d000"], size=64))
    large = pp.PreprocessCache(tmp_path, pp.PIPELINES["d000"])
    assert small.directory != large.directory
    assert small.get(nih_paths[0]).shape == (64, 64)
    assert large.get(nih_paths[0]).shape == (224, 224)
    assert len(count_decodes) == 2


def test_cache_misses_when_the_source_changes(tmp_path, nih_paths, count_decodes):
    source = tmp_path / "src" / "image.png"
    source.parent.mkdir()
    source.write_bytes(nih_paths[0].read_bytes())
    cache = pp.PreprocessCache(tmp_path / "cache", pp.PIPELINES["d004"])
    before = cache.get(source)
    source.write_bytes(nih_paths[1].read_bytes())
    os.utime(source, ns=(1, 1))  # different mtime even on coarse file systems
    after = cache.get(source)
    assert len(count_decodes) == 2 and not np.array_equal(before, after)


def test_content_key_survives_a_touch(tmp_path, nih_paths, count_decodes):
    source = tmp_path / "image.png"
    source.write_bytes(nih_paths[0].read_bytes())
    cache = pp.PreprocessCache(tmp_path / "cache", pp.PIPELINES["d004"], key_by="content")
    cache.get(source)
    os.utime(source, ns=(10**9, 10**9))
    cache.get(source)
    assert len(count_decodes) == 1


def test_cache_replaces_a_corrupt_entry(tmp_path, nih_paths):
    cache = pp.PreprocessCache(tmp_path, pp.PIPELINES["d004"])
    good = cache.get(nih_paths[0])
    cache.entry_path(nih_paths[0]).write_bytes(b"truncated")
    np.testing.assert_array_equal(cache.get(nih_paths[0]), good)
    assert cache.stats.rebuilt == 1
    np.save(cache.entry_path(nih_paths[0]), np.zeros((3, 3), np.uint8))  # wrong shape
    np.testing.assert_array_equal(cache.get(nih_paths[0]), good)
    assert cache.stats.rebuilt == 2


def test_cache_missing_source_names_the_path(tmp_path):
    cache = pp.PreprocessCache(tmp_path, pp.PIPELINES["d000"])
    with pytest.raises(FileNotFoundError, match="ghost.png"):
        cache.get(tmp_path / "ghost.png")


def test_warm_counts_and_progress(tmp_path, real_paths, capsys):
    cache = pp.PreprocessCache(tmp_path, pp.PIPELINES["classroom"])
    assert cache.warm(real_paths, progress=True) == pp.CacheStats(misses=len(real_paths))
    assert "preprocess cache" in capsys.readouterr().err
    assert cache.warm(real_paths, progress=False, num_threads=2) == pp.CacheStats(
        hits=len(real_paths)
    )
    assert all(path in cache for path in real_paths)


def test_concurrent_processes_fill_the_same_cache(tmp_path, real_paths):
    paths = [str(path) for path in real_paths]
    code = (
        "import sys, cxrlib.images.preprocess as pp\n"
        "cache = pp.PreprocessCache(sys.argv[1], pp.PIPELINES['d001'])\n"
        "cache.warm(sys.argv[2:], progress=False, num_threads=2)\n"
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), *paths],
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=60) == 0, worker.stderr.read()
    cache = pp.PreprocessCache(tmp_path, pp.PIPELINES["d001"])
    for path in paths:
        np.testing.assert_array_equal(cache.get(path), pp.load_preprocessed(path, cache.config))
    assert cache.stats.hits == len(paths)
    assert not list(tmp_path.rglob("*.tmp"))


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CXRLIB_CACHE", str(tmp_path / "here"))
    assert pp.default_cache_dir() == tmp_path / "here"
    cache = pp.PreprocessCache(None, pp.PIPELINES["d000"])
    assert cache.directory.parent == tmp_path / "here"
    monkeypatch.delenv("CXRLIB_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert pp.default_cache_dir() == tmp_path / ".cache" / "cxrlib" / "preprocessed"
