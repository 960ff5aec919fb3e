"""Training throughput and model FLOPs utilisation (MFU) of every paper backbone on one GPU, bf16.

For each backbone named in ``params/paper/03_finetune--d000_*.yaml`` and ``--d001_*.yaml`` (deduplicated),
at that file's image size and batch size (``--batch-size`` overrides), with every block trainable
(AdamW, cross-entropy, ``torch.autocast`` bf16, random weights: the weights do not change the cost):

- **loader excluded**: the training step on synthetic tensors already on the device;
- **loader included**: the same step fed by a ``DataLoader`` over a real :class:`cxrlib.images.dataset.CxrDataset`
  on generated greyscale PNGs (512 x 512, resized by the paper's preprocessing, with its augmentation policy;
  a fresh preprocessing cache, so this is a first, uncached epoch: PNG decoding included).

It prints training images per second and MFU = (FLOPs of one step, counted once by
``torch.utils.flop_counter.FlopCounterMode``: forward and backward) x steps / seconds / peak dense bf16
FLOP/s of the GPU (from ``torch.cuda.get_device_name()``: H100 and H200 989 TFLOP/s, A100 312 TFLOP/s;
unknown GPUs get no MFU). ``--smoke`` (and any run without a GPU) runs the same code on the CPU at tiny
sizes (1 step, 32 px or the next multiple of a ViT's patch, batch 2, float32: CPU bf16 autocast is slow
without AMX) and says so: those numbers prove the code path, they are not measurements.

    .venv/bin/python benchmarks/bench_gpu.py                 # one GPU, a few minutes
    .venv/bin/python benchmarks/bench_gpu.py --smoke         # CPU, seconds
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12}
"""Dense bf16 peak FLOP/s by GPU name fragment (NVIDIA data sheets, SXM; no sparsity)."""

TASK = "kermany_pneumonia"  # a binary task: the head's size does not matter for the cost


def paper_runs() -> list[dict]:
    """One row per paper backbone: backbone, image_size, batch_size, preprocess, augment, head, files."""
    rows: dict[str, dict] = {}
    for path in sorted((REPO / "params" / "paper").glob("03_finetune--d00[01]_*.yaml")):
        p = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        row = rows.setdefault(p["backbone"], {
            "backbone": p["backbone"], "image_size": int(p.get("image_size", 224)),
            "batch_size": int(p.get("batch_size", 32)), "preprocess": p.get("preprocess", "classroom"),
            "augment": p.get("augment", "none"), "head": p.get("head", "linear"), "files": []})
        row["files"].append(path.stem)
    return list(rows.values())


def peak_flops(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    return name, next((v for k, v in PEAK_BF16_FLOPS.items() if k in name.upper()), None)


def build(row: dict, image_size: int, device: torch.device):
    from cxrlib.images.tasks import get_task
    from cxrlib.models import build_classifier, get_spec
    from cxrlib.training.common import size_kwargs

    patch = get_spec(row["backbone"]).patch_size
    if patch is not None and image_size % patch:
        return build(row, math.ceil(image_size / patch) * patch, device)
    task = get_task(TASK)
    model = build_classifier(row["backbone"], task.n_outputs, head=row["head"], weights="none",
                             **size_kwargs(row["backbone"], image_size))
    for p in model.parameters():
        p.requires_grad_(True)
    return model.to(device).train(), image_size


def make_step(model, device: torch.device):
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = model(x)
            loss = loss_fn(out.float(), y) if out.shape[-1] > 1 else \
                torch.nn.functional.binary_cross_entropy_with_logits(out.float().squeeze(-1), y.float())
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        return loss

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(step, x, y) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step(x, y)
    return float(counter.get_total_flops())


def png_table(folder: Path, n: int, size: int, seed: int = 0) -> pd.DataFrame:
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        path = folder / f"img{i:05d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(path)
        rows.append({"image_id": path.name, "patient_id": f"p{i}", "path": str(path), "split": "train",
                     "target": i % 2})
    return pd.DataFrame(rows)


def loader(row: dict, image_size: int, table: pd.DataFrame, cache_dir: Path, batch: int, workers: int,
           device: torch.device):
    from torch.utils.data import DataLoader

    from cxrlib.images.augment import build_augmentation
    from cxrlib.images.dataset import CxrDataset
    from cxrlib.images.preprocess import PreprocessCache, preprocess_config

    cache = PreprocessCache(cache_dir, preprocess_config(row["preprocess"], image_size))
    dataset = CxrDataset(table, TASK, cache, build_augmentation(row["augment"]))
    return DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                      pin_memory=device.type == "cuda", persistent_workers=False,
                      prefetch_factor=4 if workers else None)


def bench(row: dict, args, device: torch.device, peak: float | None, scratch: Path) -> dict:
    torch.manual_seed(0)
    model, size = build(row, args.image_size or row["image_size"], device)
    batch = args.batch_size or row["batch_size"]
    step = make_step(model, device)
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 2, (batch,), device=device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    flops = step_flops(step, x, y)  # also the first (warm-up) step
    for _ in range(args.warmup):
        step(x, y)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step(x, y)
    sync(device)
    excluded = time.perf_counter() - start

    n_images = batch * (args.steps + args.warmup)
    folder = scratch / f"png_{row['backbone']}"
    folder.mkdir()
    table = png_table(folder, n_images, args.png_size)
    batches = iter(loader(row, size, table, scratch / f"cache_{row['backbone']}", batch, args.num_workers, device))
    for _ in range(args.warmup):
        xb, yb, _ = next(batches)
        step(xb.to(device, non_blocking=True), yb.to(device, non_blocking=True))
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        xb, yb, _ = next(batches)
        step(xb.to(device, non_blocking=True), yb.to(device, non_blocking=True))
    sync(device)
    included = time.perf_counter() - start
    del batches

    out = {"backbone": row["backbone"], "image_size": size, "batch": batch, "GFLOP/step": flops / 1e9,
           "params (M)": sum(p.numel() for p in model.parameters()) / 1e6}
    for name, seconds in (("excluded", excluded), ("included", included)):
        out[f"img/s loader {name}"] = args.steps * batch / seconds
        out[f"MFU loader {name}"] = flops * args.steps / seconds / peak if peak else float("nan")
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, 1 step, 32 px, batch 2: proves the code path")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per backbone and mode (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the paper file's batch size")
    parser.add_argument("--image-size", type=int, default=None, help="default: the paper file's image size")
    parser.add_argument("--num-workers", type=int, default=8, help="DataLoader workers for 'loader included'")
    parser.add_argument("--png-size", type=int, default=512, help="side of the generated PNGs (default 512)")
    parser.add_argument("--backbones", default=None, help="comma-separated subset of the paper backbones")
    parser.add_argument("--csv", default=None, help="also write the table here")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    smoke = args.smoke or device.type != "cuda"
    if smoke:
        args.steps, args.warmup, args.batch_size, args.image_size = 1, 0, 2, 32
        args.num_workers, args.png_size = 0, 64
        why = "--smoke" if args.smoke else "no GPU available"
        print(f"SMOKE ({why}): CPU, 1 step, 32 px, batch 2, float32 (no bf16 autocast); these numbers prove the code path, they are not "
              "measurements", flush=True)
    else:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    name, peak = peak_flops(device)
    print(f"device: {name}; peak dense bf16: {f'{peak / 1e12:.0f} TFLOP/s' if peak else 'unknown (no MFU)'}; "
          f"torch {torch.__version__}", flush=True)

    rows = paper_runs()
    if args.backbones:
        wanted = args.backbones.split(",")
        rows = [r for r in rows if r["backbone"] in wanted]
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as scratch:
        for row in rows:
            t0 = time.perf_counter()
            result = bench(row, args, device, peak, Path(scratch))
            results.append(result)
            print(f"{row['backbone']}: {result['img/s loader excluded']:.1f} img/s (loader excluded), "
                  f"{result['img/s loader included']:.1f} img/s (included), MFU {result['MFU loader excluded']:.3f} / "
                  f"{result['MFU loader included']:.3f}  [{time.perf_counter() - t0:.1f} s; {', '.join(row['files'])}]",
                  flush=True)
    frame = pd.DataFrame(results)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"total {time.perf_counter() - started:.1f} s" + (" (SMOKE)" if smoke else ""))
    if args.csv:
        frame.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
