"""Where the data lives, what each data set must look like, and where a user gets it.

The data root is resolved in this order:

1. an explicit ``root`` argument (a notebook parameter, a CLI option);
2. the environment variable ``CXRLIB_DATA``;
3. ``../shared/data`` beside the repository checkout (the development and CI machines);
4. ``~/.local/share/cxrlib/data`` (where ``cxrlib download`` puts the classroom data by default).

Each data set is one :class:`DatasetSource` row in :data:`SOURCES`: its folder below the root, the
files that prove it is there, the expected layout, the official download location and its licence.
:func:`require` checks a row and raises :class:`DataNotFoundError` with the whole "how to get it"
text, so a missing data set never fails deep inside pandas or PIL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "CXRLIB_DATA"
USER_DEFAULT = Path("~/.local/share/cxrlib/data")


class DataNotFoundError(FileNotFoundError):
    """A data set (or one of its files) is not under the data root; the message says how to get it."""


@dataclass(frozen=True)
class DatasetSource:
    """One data set: where it lives below the root and where a user downloads it."""

    key: str
    title: str
    folder: str
    markers: tuple[str, ...]
    layout: str
    url: str
    licence: str
    citation: str
    how_to_get: str
    classroom: bool = False
    extra: dict = field(default_factory=dict)

    def path(self, root: Path) -> Path:
        return root / self.folder


SOURCES: dict[str, DatasetSource] = {
    s.key: s
    for s in [
        DatasetSource(
            key="nih-cxr14",
            title="NIH ChestX-ray14 (official split lists)",
            folder="nih-cxr14",
            markers=("train_val_list.txt", "test_list.txt"),
            layout=(
                "nih-cxr14/train_val_list.txt, nih-cxr14/test_list.txt (official split, one image name a line);\n"
                "nih-cxr14/images/<Image Index>.png (full release, 112,120 PNGs of 1024x1024, from images_001..012.tar.gz)\n"
                "or nih-cxr14/images-256/<Image Index>.png (a downsampled sample for the classroom profile)"
            ),
            url="https://nihcc.app.box.com/v/ChestXray-NIHCC",
            licence="public domain (NIH Clinical Center); cite Wang et al., CVPR 2017",
            citation="Wang X. et al. ChestX-ray8: Hospital-scale chest X-ray database and benchmarks. CVPR 2017.",
            how_to_get=(
                "Download train_val_list.txt, test_list.txt and images_001.tar.gz ... images_012.tar.gz from the NIH "
                "box folder; unpack every archive so that all PNGs sit directly in nih-cxr14/images/."
            ),
            classroom=True,
        ),
        DatasetSource(
            key="nih-cxr14-sample",
            title="NIH ChestX-ray14, 621-image sample at 256 px (classroom)",
            folder="nih-cxr14/images-256",
            markers=(".",),
            layout="nih-cxr14/images-256/<Image Index>.png: 8-bit greyscale PNGs, 256x256, one image per patient",
            url="https://nihcc.app.box.com/v/ChestXray-NIHCC",
            licence="public domain (NIH Clinical Center)",
            citation="Wang X. et al. ChestX-ray8. CVPR 2017.",
            how_to_get=(
                "Any subset of the NIH images works: put PNGs named by their 'Image Index' into nih-cxr14/images-256/. "
                "`cxrlib download nih-cxr14-sample` makes the 621-image sample from the starter images of "
                "github.com/jrzech/reproduce-chexnet (one per patient, resized to 256 px)."
            ),
            classroom=True,
        ),
        DatasetSource(
            key="nih-chexnet-split",
            title="NIH ChestX-ray14, CheXNet random 70/10/20 split (NOT the official split)",
            folder="nih-cxr14/chexnet-split",
            markers=("train_list.txt", "val_list.txt", "test_list.txt"),
            layout="nih-cxr14/chexnet-split/{train,val,test}_list.txt: '<Image Index> <14 binary labels>' per line",
            url="https://github.com/arnoweng/CheXNet (ChestX-ray14/labels/)",
            licence="MIT (split lists of the CheXNet re-implementation)",
            citation="Rajpurkar P. et al. CheXNet. arXiv:1711.05225 (2017); split of the arnoweng re-implementation.",
            how_to_get="Copy ChestX-ray14/labels/{train,val,test}_list.txt from the repository into nih-cxr14/chexnet-split/.",
            classroom=True,
        ),
        DatasetSource(
            key="chexnet-predictions",
            title="Predicted probabilities of a trained DenseNet-121 on the CheXNet test list",
            folder="nih-cxr14/chexnet-densenet121-preds",
            markers=("preds.csv",),
            layout="nih-cxr14/chexnet-densenet121-preds/preds.csv: 'Image Index' then prob_<finding> for 14 findings",
            url="https://github.com/jrzech/reproduce-chexnet",
            licence="BSD-3-Clause",
            citation="Zech J. reproduce-chexnet (2018), a reproduction of Rajpurkar et al. CheXNet.",
            how_to_get=(
                "The reproduction publishes pretrained/preds.csv: copy it to nih-cxr14/chexnet-densenet121-preds/ "
                "(or evaluate your own run: 04_evaluate takes any predictions file)."
            ),
            classroom=True,
        ),
        DatasetSource(
            key="kermany-pneumonia",
            title="Pediatric pneumonia chest X-rays (Kermany et al., Cell 2018)",
            folder="kermany-pneumonia",
            markers=("train/NORMAL", "train/PNEUMONIA", "test/NORMAL", "test/PNEUMONIA"),
            layout="kermany-pneumonia/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg (file names keep personNNN ids)",
            url="https://data.mendeley.com/datasets/rscbjbr9sj/2",
            licence="CC BY 4.0",
            citation="Kermany D. et al. Identifying medical diagnoses and treatable diseases by image-based deep learning. Cell 2018.",
            how_to_get=(
                "Download ChestXRay2017.zip from Mendeley Data (ZhangLabData, 'Labeled Optical Coherence Tomography "
                "(OCT) and Chest X-Ray Images for Classification'), unpack chest_xray/{train,test} into kermany-pneumonia/."
            ),
            classroom=True,
        ),
        DatasetSource(
            key="covid-chestxray",
            title="COVID-19 image data collection (Cohen et al.)",
            folder="covid-chestxray",
            markers=("metadata.csv",),
            layout=(
                "covid-chestxray/metadata.csv (the repository's metadata) and covid-chestxray/images-256/<file stem>.png "
                "(or covid-chestxray/images/<filename> for the original files)"
            ),
            url="https://github.com/ieee8023/covid-chestxray-dataset",
            licence="per image, see the metadata 'license' column",
            citation="Cohen J.P. et al. COVID-19 image data collection: prospective predictions are the future. MELBA 2020.",
            how_to_get="Clone or download the repository; copy metadata.csv and the images/ folder into covid-chestxray/.",
            classroom=True,
        ),
        DatasetSource(
            key="chexpert-valid",
            title="CheXpert v1.0 validation labels",
            folder="chexpert",
            markers=("valid.csv",),
            layout="chexpert/valid.csv (official column layout); images, if any, under chexpert/CheXpert-v1.0-small/valid/",
            url="https://stanfordmlgroup.github.io/competitions/chexpert/",
            licence="Stanford University School of Medicine CheXpert Dataset Research Use Agreement",
            citation="Irvin J. et al. CheXpert. AAAI 2019.",
            how_to_get="Register and download CheXpert-v1.0-small.zip; copy CheXpert-v1.0-small/valid.csv to chexpert/valid.csv.",
            classroom=True,
        ),
        DatasetSource(
            key="chexpert",
            title="CheXpert v1.0 (images)",
            folder="chexpert",
            markers=("CheXpert-v1.0-small/train.csv",),
            layout="chexpert/CheXpert-v1.0-small/{train.csv,valid.csv,train/,valid/} as unpacked from the official zip",
            url="https://stanfordmlgroup.github.io/competitions/chexpert/",
            licence="Stanford University School of Medicine CheXpert Dataset Research Use Agreement",
            citation="Irvin J. et al. CheXpert. AAAI 2019.",
            how_to_get="Register and download CheXpert-v1.0-small.zip (about 11 GB); unpack it inside chexpert/.",
        ),
        DatasetSource(
            key="pneumoniamnist",
            title="PneumoniaMNIST (MedMNIST v2)",
            folder="pneumoniamnist",
            markers=("pneumoniamnist.npz",),
            layout="pneumoniamnist/pneumoniamnist.npz with train/val/test _images and _labels arrays",
            url="https://zenodo.org/records/10519652",
            licence="CC BY 4.0",
            citation="Yang J. et al. MedMNIST v2. Scientific Data 2023.",
            how_to_get="Download pneumoniamnist.npz from the MedMNIST Zenodo record into pneumoniamnist/.",
            classroom=True,
        ),
    ]
}


def _repo_sibling_shared() -> Path:
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root (argument, then ``$CXRLIB_DATA``, then ``../shared/data``, then the user default)."""
    if root not in (None, ""):
        return Path(root).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    shared = _repo_sibling_shared()
    if shared.is_dir():
        return shared
    return USER_DEFAULT.expanduser()


def missing_markers(key: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The marker files of data set ``key`` that are absent under the root (empty when present)."""
    source = SOURCES[key]
    base = source.path(data_root(root))
    return [base / m for m in source.markers if not (base / m).exists()]


def how_to_get(key: str, root: str | os.PathLike | None = None) -> str:
    """The human text: what the data set is, the expected layout, and where to download it."""
    s = SOURCES[key]
    base = s.path(data_root(root))
    from cxrlib.data.download import RECIPES  # late: download builds on this module

    recipe = RECIPES.get(key)
    download = f"  cxrlib download {key}\n" if recipe is not None and not recipe.manual else ""
    return (
        f"{s.title} was not found under {base}.\n"
        f"Expected layout below the data root:\n  {s.layout.replace(chr(10), chr(10) + '  ')}\n"
        f"Get it from: {s.url}\n  {s.how_to_get}\n"
        f"{('Or fetch the classroom copy with:' + chr(10) + download) if download else ''}"
        f"Licence: {s.licence}\n"
        f"Point cxrlib at another data root with the environment variable {ENV_VAR}=/path/to/data "
        f"or the notebook parameter data_root."
    )


def require(key: str, root: str | os.PathLike | None = None) -> Path:
    """Return the folder of data set ``key``; raise :class:`DataNotFoundError` explaining how to get it."""
    if key not in SOURCES:
        raise KeyError(f"unknown data set {key!r}; known: {', '.join(sorted(SOURCES))}")
    missing = missing_markers(key, root)
    if missing:
        listing = "\n".join(f"  missing: {m}" for m in missing)
        raise DataNotFoundError(f"{how_to_get(key, root)}\n{listing}")
    return SOURCES[key].path(data_root(root))


def require_file(key: str, relative: str, root: str | os.PathLike | None = None) -> Path:
    """A specific file of data set ``key``; a missing one raises :class:`DataNotFoundError` with the layout."""
    path = require(key, root) / relative
    if not path.exists():
        raise DataNotFoundError(f"{path} is missing.\n{how_to_get(key, root)}")
    return path
