"""Benchmark: one preprocessing "epoch" uncached (decode + preprocess every image) vs cached.

Everything runs in one process on the same images, in this order:

1. read every source file once, untimed, so that the OS page cache holds them for all passes
   (the uncached epoch is measured at its best: no disk reads, only decoding and preprocessing);
2. uncached epoch: ``load_preprocessed(path, config)`` for every image;
3. filling epoch: ``PreprocessCache.get`` on an empty cache (decode + preprocess + write);
4. cached epoch: ``PreprocessCache.get`` again (every lookup a hit: stat + ``np.load``).

Epochs 2 and 4 are repeated ``--repeats`` times; the median is reported with every run. The
printed ratio is uncached / cached (median). The float stage (``to_model_input``) is the same work
with or without the cache and is not included.

Images: the first ``--nih`` NIH ChestX-ray14 PNGs (256 x 256 grey) from ``nih-cxr14/images-256``
and the first ``--kermany`` Kermany JPEGs (224 x 224 RGB) from ``kermany-pneumonia/train/NORMAL``,
sorted by name. ``--full-size 1024`` additionally writes upscaled PNG copies of the NIH images
(bicubic, into a temporary folder) to approximate the decoding cost of the 1024 x 1024 images of the
full NIH release; these copies are synthetic and labelled as such in the output.

    .venv/bin/python benchmarks/bench_cache.py [--pipeline d000] [--repeats 3] [--full-size 1024]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from cxrlib.images import preprocess as pp
from cxrlib.data.root import data_root


def pick_images(root: Path, n_nih: int, n_kermany: int) -> list[Path]:
    nih = sorted((root / "nih-cxr14" / "images-256").glob("*.png"))[:n_nih]
    kermany = sorted((root / "kermany-pneumonia" / "train" / "NORMAL").glob("*.jpeg"))[:n_kermany]
    if len(nih) < n_nih or len(kermany) < n_kermany:
        sys.exit(f"found only {len(nih)} NIH and {len(kermany)} Kermany images under {root}")
    return nih + kermany


def upscaled_copies(paths: Sequence[Path], side: int, folder: Path) -> list[Path]:
    copies = []
    for path in paths:
        image = pp.decode_image(path)
        target = folder / path.name
        cv2.imwrite(str(target), cv2.resize(image, (side, side), interpolation=cv2.INTER_CUBIC))
        copies.append(target)
    return copies


def time_epoch(load: Callable[[Path], np.ndarray], paths: Sequence[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        load(path)
    return time.perf_counter() - start


def _seconds(times: Sequence[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


def run(paths: Sequence[Path], config: pp.PreprocessConfig, repeats: int, label: str) -> None:
    for path in paths:  # untimed: put the sources in the OS page cache
        path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="cxrlib-bench-cache-") as cache_dir:
        uncached = [
            time_epoch(lambda p: pp.load_preprocessed(p, config), paths) for _ in range(repeats)
        ]
        cache = pp.PreprocessCache(cache_dir, config)
        filling = time_epoch(cache.get, paths)
        cached = [time_epoch(cache.get, paths) for _ in range(repeats)]
        assert cache.stats.misses == len(paths) and cache.stats.hits == repeats * len(paths)
        for path in paths[:: max(1, len(paths) // 20)]:  # spot-check: cache == fresh pipeline
            np.testing.assert_array_equal(cache.get(path), pp.load_preprocessed(path, config))
        entry_bytes = cache.entry_path(paths[0]).stat().st_size

    n = len(paths)
    median_uncached, median_cached = statistics.median(uncached), statistics.median(cached)
    print(f"== {label}: {n} images, pipeline steps {config.steps}, size {config.size}, "
          f"cache entry {entry_bytes / 1024:.1f} KiB")
    print(f"uncached epoch (decode+preprocess): {median_uncached:.3f} s "
          f"({1e3 * median_uncached / n:.2f} ms/img)  runs: {_seconds(uncached)}")
    print(f"filling epoch (decode+preprocess+write): {filling:.3f} s "
          f"({1e3 * filling / n:.2f} ms/img)")
    print(f"cached epoch (stat+np.load): {median_cached:.3f} s "
          f"({1e3 * median_cached / n:.2f} ms/img)  runs: {_seconds(cached)}")
    print(f"ratio uncached/cached: {median_uncached / median_cached:.1f}x")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None, help="default: cxrlib.data.root.data_root()")
    parser.add_argument("--pipeline", default="d000", choices=sorted(pp.PIPELINES))
    parser.add_argument("--nih", type=int, default=200, help="NIH images-256 PNGs")
    parser.add_argument("--kermany", type=int, default=100, help="Kermany JPEGs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full-size", type=int, default=0,
                        help="also run on NIH copies upscaled to this side (e.g. 1024)")
    args = parser.parse_args(argv)

    config = pp.PIPELINES[args.pipeline]
    paths = pick_images(data_root(args.data_root), args.nih, args.kermany)
    print(f"opencv {cv2.__version__}, cv2 threads {cv2.getNumThreads()}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")
    run(paths, config, args.repeats,
        f"real images ({args.nih} NIH PNG 256x256 grey + {args.kermany} Kermany JPEG 224x224 RGB)")
    if args.full_size:
        with tempfile.TemporaryDirectory(prefix="cxrlib-bench-src-") as folder:
            big = upscaled_copies(paths[: args.nih], args.full_size, Path(folder))
            run(big, config, args.repeats,
                f"SYNTHETIC {args.full_size}x{args.full_size} PNG upscaled copies of the "
                f"{args.nih} NIH images (stand-in for the full release's decode cost)")


if __name__ == "__main__":
    main()
