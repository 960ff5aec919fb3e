"""Where the data lives, what each data set must look like, and where a user gets it.

The data root is resolved in this order:

1. an explicit ``root`` argument (a notebook parameter, a CLI option);
2. the environment variable ``CXRLIB_DATA``;
3. ``../shared/data`` beside the repository checkout (the development and CI machines);
4. ``~/.local/share/cxrlib/data`` (where ``cxrlib download`` puts the classroom data by default).

Each data set is one :class:`DatasetSource` row in :data:`SOURCES`: its folder below the root, the
files that prove it is there, the expected layout, the official download location, its licence and
the recipe with which ``cxrlib download`` fetches it (:mod:`cxrlib.data.recipe_types`; the download
code in :mod:`cxrlib.data.download` reads the recipes from these rows, and this module never imports it).
:func:`require` checks a row and raises :class:`DataNotFoundError` with the whole "how to get it"
text, so a missing data set never fails deep inside pandas or PIL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from cxrlib.core.config import lookup
from cxrlib.data.recipe_types import Extract, Recipe, RemoteFile

ENV_VAR = "CXRLIB_DATA"
USER_DEFAULT = Path("~/.local/share/cxrlib/data")


class DataNotFoundError(FileNotFoundError):
    """A data set (or one of its files) is not under the data root; the message says how to get it."""


@dataclass(frozen=True)
class DatasetSource:
    """One data set: where it lives below the root, where a user downloads it, and how ``cxrlib download`` does.

    ``recipe`` is the download of the data set under its own key (a recipe without files when it must be
    fetched by hand, None when there is no recipe at all); ``alternatives`` are further recipes that fill
    the same folder another way, each under a key of its own (``cxrlib download <recipe key>``).
    """

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
    recipe: Recipe | None = None
    alternatives: tuple[Recipe, ...] = ()

    def __post_init__(self) -> None:
        if self.recipe is not None and self.recipe.key != self.key:
            raise ValueError(f"{self.key}: its recipe must have the data set's key, not {self.recipe.key!r}")
        if any(r.key == self.key for r in self.alternatives):
            raise ValueError(f"{self.key}: an alternative recipe needs a key of its own")

    def path(self, root: Path) -> Path:
        return root / self.folder

    def recipes(self) -> tuple[Recipe, ...]:
        """The data set's recipe (if any), then its alternatives."""
        return ((self.recipe,) if self.recipe is not None else ()) + self.alternatives


_NIH_BOX = "https://nihcc.box.com/shared/static/"
_NIH_MD5_SOURCE = "NIH Clinical Center, FAQ_CHESTXRAY.pdf (question Q07) in the ChestXray-NIHCC Box folder"
# (archive, Box static-link id from NIH's batch_download_zips.py, MD5 published in the NIH FAQ)
_NIH_ARCHIVES = (
    ("images_001.tar.gz", "vfk49d74nhbxq3nqjg0900w5nvkorp5c", "fe8ed0a6961412fddcbb3603c11b3698"),
    ("images_002.tar.gz", "i28rlmbvmfjbl8p2n3ril0pptcmcu9d1", "ab07a2d7cbe6f65ddd97b4ed7bde10bf"),
    ("images_003.tar.gz", "f1t00wrtdk94satdfb9olcolqx20z2jp", "2301d03bde4c246388bad3876965d574"),
    ("images_004.tar.gz", "0aowwzs5lhjrceb3qp67ahp0rd1l1etg", "9f1b7f5aae01b13f4bc8e2c44a4b8ef6"),
    ("images_005.tar.gz", "v5e3goj22zr6h8tzualxfsqlqaygfbsn", "1861f3cd0ef7734df8104f2b0309023b"),
    ("images_006.tar.gz", "asi7ikud9jwnkrnkj99jnpfkjdes7l6l", "456b53a8b351afd92a35bc41444c58c8"),
    ("images_007.tar.gz", "jn1b4mw4n6lnh74ovmcjb8y48h8xj07n", "1075121ea20a137b87f290d6a4a5965e"),
    ("images_008.tar.gz", "tvpxmn7qyrgl0w8wfh9kqfjskv6nmm1j", "b61f34cec3aa69f295fbb593cbd9d443"),
    ("images_009.tar.gz", "upyy3ml7qdumlgk2rfcvlb9k6gvqq2pj", "442a3caa61ae9b64e61c561294d1e183"),
    ("images_010.tar.gz", "l6nilvfa9cg3s28tqv1qc1olm3gnz54p", "09ec81c4c31e32858ad8cf965c494b74"),
    ("images_011.tar.gz", "hhq8fkdgvcari67vfhs7ppg2w6ni4jze", "499aefc67207a5a97692424cf5dbeed5"),
    ("images_012.tar.gz", "ioqwiy20ihqwyr8pf4c24eazhh281pbu", "dc9fda1757c2de0032b63347a7d2895c"),
)


def _nih_archive(name: str, box_id: str, md5: str, into: str) -> RemoteFile:
    return RemoteFile(
        url=f"{_NIH_BOX}{box_id}.gz",
        filename=name,
        unpack="tar",
        extract=(Extract("images/*.png", into, 1),),
        md5=md5,
        checksum_source=_NIH_MD5_SOURCE,
    )


# Pinned commits: the content of a raw file at a commit never changes, and a GitHub archive of a commit
# holds the same files whenever it is fetched.
_CHEXNET_COMMIT = "63c159f973ecaef5c6de85597de60d6729fc87b4"  # arnoweng/CheXNet, holds ChestX-ray14/labels/
_REPRODUCE_CHEXNET_COMMIT = "18c1b090810e794f1c19521d27bc42d7895ea9a0"  # jrzech/reproduce-chexnet, 2022 retrain
_COVID_COMMIT = "6a4242344473ccb5ed0d2148d8c7bfb1691e4ed8"  # ieee8023/covid-chestxray-dataset
_CHEXPERT_NOTES = "CheXpert needs a registration with Stanford (research use agreement)."


#: Every data set of the companion, one row each (key -> :class:`DatasetSource`, with its download recipe).
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
            recipe=Recipe(
                key="nih-cxr14",
                files=(),
                notes=(
                    "The official split lists train_val_list.txt and test_list.txt sit in the NIH Box folder, "
                    "but NIH publishes no direct link for them (batch_download_zips.py lists only the 12 image "
                    "archives), so they are downloaded by hand from the Box web page. The full image set: "
                    "`cxrlib download nih-cxr14-images`."
                ),
            ),
            alternatives=(
                Recipe(
                    key="nih-cxr14-images",
                    files=tuple(_nih_archive(name, box, md5, "images") for name, box, md5 in _NIH_ARCHIVES),
                    markers=("images/00000001_000.png", "images/00030805_000.png"),
                    title="NIH ChestX-ray14, all 112,120 images (12 archives, about 45 GB)",
                    notes=(
                        "All 112,120 PNGs (about 45 GB) from the 12 archives of NIH's batch_download_zips.py, "
                        "checked against the MD5s of the NIH FAQ. The Box static links could not be tried from the "
                        "machine this recipe was written on. Each archive is deleted once unpacked."
                    ),
                ),
            ),
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
            recipe=Recipe(
                key="nih-cxr14-sample",
                files=(
                    RemoteFile(
                        url=f"https://github.com/jrzech/reproduce-chexnet/archive/{_REPRODUCE_CHEXNET_COMMIT}.zip",
                        filename=f"reproduce-chexnet-{_REPRODUCE_CHEXNET_COMMIT[:12]}.zip",
                        unpack="zip",
                        extract=(Extract("*/starter_images/*.png", "originals", 2),),
                    ),
                ),
                post="nih_png_sample",
                post_options={"from": "originals", "size": 256, "one_per_patient": True},
                notes=(
                    "The 621 NIH images that the CheXNet reproduction (jrzech/reproduce-chexnet) ships in "
                    "starter_images/, reduced to 8-bit greyscale 256x256 with Pillow (Lanczos): the same images "
                    "as the classroom copy. No checksum is published (trust on first use). "
                    "`cxrlib download nih-cxr14-sample-from-nih` builds a sample from NIH's first archive instead."
                ),
            ),
            alternatives=(
                Recipe(
                    key="nih-cxr14-sample-from-nih",
                    files=(_nih_archive(*_NIH_ARCHIVES[0], "originals"),),
                    title="NIH ChestX-ray14, 256 px sample made from NIH's first archive (one image per patient)",
                    post="nih_png_sample",
                    post_options={"from": "originals", "size": 256, "one_per_patient": True},
                    notes=(
                        "A 256 px sample from NIH's first archive images_001.tar.gz (about 2 GB, 4,999 PNGs): the "
                        "first image of each patient, 8-bit greyscale 256x256 (Pillow, Lanczos)."
                    ),
                ),
            ),
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
            recipe=Recipe(
                key="nih-chexnet-split",
                files=tuple(
                    RemoteFile(
                        url=(
                            f"https://raw.githubusercontent.com/arnoweng/CheXNet/{_CHEXNET_COMMIT}"
                            f"/ChestX-ray14/labels/{name}"
                        ),
                        filename=name,
                        unpack="file",
                        dest=name,
                        size=size,
                    )
                    for name, size in (
                        ("train_list.txt", 3531060),
                        ("val_list.txt", 504854),
                        ("test_list.txt", 1009484),
                    )
                ),
                notes="Raw files of arnoweng/CheXNet at a pinned commit; no checksum is published (trust on first use).",
            ),
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
            recipe=Recipe(
                key="chexnet-predictions",
                files=(
                    RemoteFile(
                        url=(
                            f"https://raw.githubusercontent.com/jrzech/reproduce-chexnet/{_REPRODUCE_CHEXNET_COMMIT}"
                            "/pretrained/preds.csv"
                        ),
                        fallback_urls=(
                            "https://raw.githubusercontent.com/jrzech/reproduce-chexnet/master/pretrained/preds.csv",
                        ),
                        filename="preds.csv",
                        unpack="file",
                        dest="preds.csv",
                    ),
                ),
                notes=(
                    "pretrained/preds.csv of jrzech/reproduce-chexnet (its README: 'individual probabilities for "
                    "each finding in each test set image predicted by retrained model'). No checksum is published "
                    "(trust on first use); the pinned commit could not be checked offline, the default branch is "
                    "the fallback."
                ),
            ),
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
            recipe=Recipe(
                key="kermany-pneumonia",
                files=(
                    RemoteFile(
                        url=(
                            "https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
                            "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded"
                        ),
                        filename="ChestXRay2017.zip",
                        unpack="zip",
                        extract=(
                            Extract("chest_xray/train/*", "train", 2),
                            Extract("chest_xray/test/*", "test", 2),
                        ),
                    ),
                ),
                notes=(
                    "ChestXRay2017.zip of Mendeley Data rscbjbr9sj version 2 (about 1.2 GB); the original JPEGs at "
                    "full resolution (the classroom copy is resized to 224 px); the 16-image val folder is left "
                    "out. Mendeley publishes no checksum (trust on first use). If Mendeley refuses scripted "
                    "downloads, save the zip by hand into the download folder named in the error and re-run."
                ),
            ),
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
            recipe=Recipe(
                key="covid-chestxray",
                files=(
                    RemoteFile(
                        url=f"https://github.com/ieee8023/covid-chestxray-dataset/archive/{_COVID_COMMIT}.zip",
                        filename=f"covid-chestxray-dataset-{_COVID_COMMIT[:12]}.zip",
                        unpack="zip",
                        extract=(Extract("*/metadata.csv", "", 1), Extract("*/images/*", "", 1)),
                    ),
                ),
                post="covid_frontal_256",
                post_options={"size": 256, "modality": "X-ray", "frontal_views": ("PA", "AP")},
                notes=(
                    "The repository at a pinned commit: metadata.csv and images/ as published, plus images-256/ "
                    "(frontal X-rays, short side to 256 px, centre crop, greyscale PNG named by file stem). This "
                    "commit's metadata is newer than the classroom copy (hierarchical 'finding' such as "
                    "'Pneumonia/Viral/COVID-19', an RT_PCR_positive column). No checksum (trust on first use)."
                ),
            ),
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
            recipe=Recipe(key="chexpert-valid", files=(), notes=_CHEXPERT_NOTES),
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
            recipe=Recipe(key="chexpert", files=(), notes=_CHEXPERT_NOTES),
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
            recipe=Recipe(
                key="pneumoniamnist",
                files=(
                    RemoteFile(
                        url="https://zenodo.org/records/10519652/files/pneumoniamnist.npz?download=1",
                        filename="pneumoniamnist.npz",
                        unpack="file",
                        dest="pneumoniamnist.npz",
                        md5="28209eda62fecd6e6a2d98b1501bb15f",
                        checksum_source="MedMNIST v3.0.2, medmnist/info.py INFO['pneumoniamnist']['MD5']",
                    ),
                ),
                notes="The 28x28 PneumoniaMNIST file of the MedMNIST v2 Zenodo record, checked against MedMNIST's MD5.",
            ),
        ),
        # Rows below: data sets of the documents' downstream tasks with no automatic download (recipe=None):
        # a registration, a credentialed access or a request form stands before the files.
        DatasetSource(
            key="padchest",
            title="PadChest (BIMCV, Bustos et al. 2020), images",
            folder="padchest",
            markers=("images",),
            layout=(
                "padchest/images/<ImageID>.png (the 16-bit PNGs of all 55 zip parts 0.zip ... 54.zip, unpacked flat);\n"
                "optional: padchest/PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv[.gz] (else the copy shipped "
                "in the torchxrayvision wheel is read)"
            ),
            url="https://bimcv.cipf.es/bimcv-projects/padchest/",
            licence="PadChest Dataset Research Use Agreement (BIMCV, Medical Imaging Databank of the Valencia Region)",
            citation="Bustos A. et al. PadChest: A large chest x-ray image dataset with multi-label annotated reports. "
                     "Medical Image Analysis 2020.",
            how_to_get=(
                "Request access on the BIMCV PadChest page (research use agreement), download the image zips and the "
                "labels CSV, and unpack every zip so that all PNGs sit directly in padchest/images/."
            ),
            recipe=None,
        ),
        DatasetSource(
            key="vindr-cxr",
            title="VinDr-CXR (PhysioNet release 1.0.0), image labels and images",
            folder="vindr-cxr",
            markers=("annotations/image_labels_train.csv", "annotations/image_labels_test.csv", "train", "test"),
            layout=(
                "vindr-cxr/annotations/image_labels_{train,test}.csv (image-level labels: train one row per image and "
                "radiologist with a rad_ID column, test one consensus row per image);\n"
                "vindr-cxr/{train,test}/<image_id>.png (the release's DICOM files converted to PNG; cxrlib does not "
                "read DICOM)"
            ),
            url="https://physionet.org/content/vindr-cxr/1.0.0/",
            licence="PhysioNet Credentialed Health Data License 1.5.0 (VinDr-CXR)",
            citation="Nguyen H.Q. et al. VinDr-CXR: An open dataset of chest X-rays with radiologist's annotations. "
                     "Scientific Data 2022.",
            how_to_get=(
                "Become a credentialed PhysioNet user, sign the data use agreement, download annotations/ and the "
                "train/ and test/ DICOMs into vindr-cxr/, and convert each DICOM to an 8- or 16-bit PNG named "
                "<image_id>.png beside it (e.g. with pydicom, applying the VOI LUT and MONOCHROME1 inversion)."
            ),
            recipe=None,
        ),
        DatasetSource(
            key="mimic-cxr",
            title="MIMIC-CXR-JPG v2 (Johnson et al.), labels, metadata and JPEG images",
            folder="mimic-cxr-jpg",
            markers=("mimic-cxr-2.0.0-chexpert.csv.gz", "mimic-cxr-2.0.0-metadata.csv.gz", "files"),
            layout=(
                "mimic-cxr-jpg/mimic-cxr-2.0.0-chexpert.csv.gz (CheXpert-labeler labels per study), "
                "mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv.gz (dicom_id, subject_id, study_id, ViewPosition, ...);\n"
                "mimic-cxr-jpg/files/p<first 2 digits>/p<subject_id>/s<study_id>/<dicom_id>.jpg, as released"
            ),
            url="https://physionet.org/content/mimic-cxr-jpg/2.0.0/",
            licence="PhysioNet Credentialed Health Data License 1.5.0 (MIMIC-CXR-JPG)",
            citation="Johnson A.E.W. et al. MIMIC-CXR-JPG, a large publicly available database of labeled chest "
                     "radiographs. arXiv:1901.07042 (2019).",
            how_to_get=(
                "Become a credentialed PhysioNet user (CITI training), sign the data use agreement and download the "
                "release (wget -r -N -c -np --user <name> --ask-password https://physionet.org/files/mimic-cxr-jpg/2.0.0/) "
                "into mimic-cxr-jpg/, keeping its folder layout."
            ),
            recipe=None,
        ),
        DatasetSource(
            key="covidgr",
            title="COVIDGR-1.0 (Tabik et al. 2020), COVID-19 positive and negative chest X-rays",
            folder="covidgr",
            markers=("P", "N"),
            layout=(
                "covidgr/P/<name>.jpg (426 COVID-19 positive PA images) and covidgr/N/<name>.jpg (426 negative "
                "controls), the two folders of COVIDGR_1.0.zip; one image per patient (Tabik et al. 2020)"
            ),
            url="https://github.com/ari-dasci/OD-covidgr",
            licence="COVIDGR data use terms of the University of Granada (DaSCI) and Hospital Universitario San Cecilio; "
                    "research use, cite Tabik et al. 2020",
            citation="Tabik S. et al. COVIDGR dataset and COVID-SDNet methodology for predicting COVID-19 based on "
                     "chest X-ray images. IEEE J. Biomed. Health Inform. 24(12):3595-3605, 2020.",
            how_to_get=(
                "Follow the request instructions of the repository (DaSCI open data, COVIDGR-1.0), download "
                "COVIDGR_1.0.zip and unpack it so that the folders P/ and N/ sit directly in covidgr/. The folder "
                "names follow the published description; the archive was not at hand when this row was written, so "
                "check them against your copy."
            ),
            recipe=None,
        ),
    ]
}


def get_source(key: str) -> DatasetSource:
    """The data set named ``key`` (a key of :data:`SOURCES`)."""
    return lookup(SOURCES, key, what="data set")


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
    source = get_source(key)
    base = source.path(data_root(root))
    return [base / m for m in source.markers if not (base / m).exists()]


def how_to_get(key: str, root: str | os.PathLike | None = None) -> str:
    """The human text: what the data set is, the expected layout, and where to download it."""
    s = get_source(key)
    base = s.path(data_root(root))
    recipe = s.recipe
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
    source = get_source(key)
    missing = missing_markers(key, root)
    if missing:
        listing = "\n".join(f"  missing: {m}" for m in missing)
        raise DataNotFoundError(f"{how_to_get(key, root)}\n{listing}")
    return source.path(data_root(root))


def require_file(key: str, relative: str, root: str | os.PathLike | None = None) -> Path:
    """A specific file of data set ``key``; a missing one raises :class:`DataNotFoundError` with the layout."""
    path = require(key, root) / relative
    if not path.exists():
        raise DataNotFoundError(f"{path} is missing.\n{how_to_get(key, root)}")
    return path
