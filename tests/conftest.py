"""Shared fixtures. The real small data is read in place from the data root (never copied)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# One thread for torch and OpenMP (numpy, scikit-learn) in the test session and in every process it starts
# (kernels, sweep workers, the killed runs), set before anything imports torch: the tests' tensors are tiny,
# and the thread hand-off made three torch test files 4-5 times slower on two cores beside one other busy
# process (the paper smoke and the Flower processes run on one thread too). Export it to override.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from cxrlib.data.root import data_root as resolve_data_root  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = resolve_data_root()
    if not (root / "nih-cxr14").is_dir():
        pytest.fail(f"the real development data was not found at {root}: set CXRLIB_DATA to the data root")
    return root


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def chexnet_predictions(data_root):
    """Real DenseNet-121 (CheXNet reproduction) probabilities on the 22,433 CheXNet test images:
    (labels N x 14 in CheXNet order, probabilities N x 14, patient ids)."""
    import pandas as pd

    from cxrlib.data.nih import CHEXNET_ORDER, patient_of_image

    folder = data_root / "nih-cxr14"
    preds = pd.read_csv(folder / "chexnet-densenet121-preds" / "preds.csv").set_index("Image Index")
    truth = pd.read_csv(folder / "chexnet-split" / "test_list.txt", sep=" ", header=None,
                        names=["Image Index", *CHEXNET_ORDER])
    preds = preds.loc[truth["Image Index"]]
    patients = truth["Image Index"].map(patient_of_image).to_numpy()
    return truth[list(CHEXNET_ORDER)].to_numpy(), preds.to_numpy(), patients


@pytest.fixture(scope="session")
def train():
    """The CheXpert train labels shipped with torchxrayvision (223,414 rows), read once per session."""
    from cxrlib.data import chexpert

    return chexpert.load_train()


@pytest.fixture(scope="session")
def valid(data_root):
    """The CheXpert validation labels from the data root."""
    from cxrlib.data import chexpert

    return chexpert.load_valid(data_root)
