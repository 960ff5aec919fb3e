"""benchmarks/bench_gpu.py: the smoke mode (CPU, 1 step, 32 px, batch 2) runs end to end and says so."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a subprocess that builds and times two backbones: a smoke of the script, not of cxrlib
def test_bench_gpu_smoke(tmp_path):
    csv = tmp_path / "bench.csv"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_gpu.py"), "--smoke",
         "--backbones", "convnextv2_atto,dinov2_vits14", "--csv", str(csv)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "SMOKE" in done.stdout and "not measurements" in done.stdout
    frame = pd.read_csv(csv)
    assert list(frame["backbone"]) == ["convnextv2_atto", "dinov2_vits14"]
    assert list(frame["image_size"]) == [32, 42]  # a ViT-14 gets the next multiple of its patch
    assert (frame["GFLOP/step"] > 0).all()
    assert (frame["img/s loader excluded"] > 0).all() and (frame["img/s loader included"] > 0).all()
    assert frame["MFU loader excluded"].isna().all()  # no peak FLOP/s on a CPU


def test_paper_backbones_are_found():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_gpu

    rows = {r["backbone"]: r for r in bench_gpu.paper_runs()}
    assert {"convnextv2_atto", "swav_resnet50", "chexnet_densenet121", "dino_vits16", "dinov2_vits14",
            "vitb14_dinov2", "vitb16_in21k"} <= set(rows)
    assert all(r["image_size"] == 224 for r in rows.values())
