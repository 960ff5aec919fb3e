"""Document 001 Table 2 (cxrlib.data.d001), document 004's CheXpert-Rare (cxrlib.data.d004), and the
PadChest and VinDr-CXR metadata behind them."""
import numpy as np
import pandas as pd
import pytest

from cxrlib.data import chexpert, d001, d004, padchest, vindr
from cxrlib.published import load as load_published

NAN = np.nan




@pytest.fixture(scope="module")
def padchest_meta():
    return padchest.load_metadata()


@pytest.fixture(scope="module")
def vindr_annotations():
    return vindr.load_annotations()


@pytest.fixture(scope="module")
def columns(train, padchest_meta, vindr_annotations):
    return {
        "VinDr-CXR": d001.vindr_column(annotations=vindr_annotations),
        "ChestX-ray14": d001.chestxray14_column(),
        "CheXpert": d001.chexpert_column(train=train),
        "PadChest": d001.padchest_column(meta=padchest_meta),
    }


@pytest.fixture(scope="module")
def table(columns):
    return d001.table2(columns)


# ------------------------------------------------------------------------- published Table 2


def test_published_table2_transcription_is_consistent():
    published = load_published("d001_table2")
    frame = published.frame
    assert published.document == "001" and "Tayebi Arasteh" in published.citation
    assert set(frame["dataset"]) == set(d001.DATASETS) and len(frame) == 78
    assert not frame.duplicated(["label", "dataset"]).any()
    assert (frame.groupby("label")["row"].nunique() == 1).all()
    recomputed = 100 * frame["n"] / frame["dataset_total"]
    assert (recomputed - frame["percent"]).abs().max() <= 0.05 + 1e-9
    totals = frame.groupby("dataset")["dataset_total"].unique()
    assert totals.map(len).eq(1).all()


def test_table2_layout(table):
    assert list(table.columns.get_level_values("dataset").unique()) == list(d001.DATASETS)
    assert list(table.columns.get_level_values("field").unique()) == list(d001.FIELDS)
    assert table.index[-1] == d001.TOTAL_ROW and table.index[0] == "Atelectasis"
    assert table.index[-2] == "No finding (healthy)"
    assert set(table.attrs["descriptions"]) == set(d001.DATASETS)
    assert set(d001.EXPLANATIONS) == set(d001.DATASETS)
    row = table.loc["Cardiomegaly", "CheXpert"]
    assert row["difference"] == row["ours_n"] - row["published_n"]


def test_chestxray14_column_equals_the_published_one_exactly(table):
    block = table["ChestX-ray14"].dropna(subset=["published_n"])
    assert len(block) == len(d001.CHESTXRAY14_ROWS) + 1
    assert (block["ours_n"] == block["published_n"]).all()
    assert (block["difference"] == 0).all()
    assert block.loc[d001.TOTAL_ROW, "ours_n"] == 112_120


def test_chexpert_column_is_counted_on_frontal_train_images(columns, train):
    column = columns["CheXpert"]
    frontal = train[train["frontal"]]
    assert column.total == len(frontal)
    for row, label in d001.CHEXPERT_ROWS.items():
        assert column.counts[row] == (frontal[label] == 1).sum()


def test_reconstructed_chexpert_selection_reproduces_the_published_column(train, valid, data_root):
    selection = d001.CHEXPERT_SELECTIONS["authors-reconstructed"]
    column = d001.chexpert_column(selection="authors-reconstructed", train=train, valid_root=data_root)
    block = d001.table2({"CheXpert": column})["CheXpert"]
    assert (block["difference"] == 0).all()  # all 14 labels and the image total
    published_total = int(block.loc[d001.TOTAL_ROW, "published_n"])
    candidates = d001.uncertain_exclusion_candidates(
        chexpert.frontal(train), published_total - int(valid["frontal"].sum()), top=3
    )
    assert candidates.loc[0, "difference"] == 0
    assert set(candidates.loc[0, "labels"]) == set(selection.drop_uncertain_in)
    with pytest.raises(ValueError, match="validation"):
        d001.select_chexpert(train, None, selection)


def test_padchest_column_is_at_or_a_few_images_above_the_published_one(table, columns, padchest_meta):
    block = table["PadChest"].dropna(subset=["published_n"])
    assert block["ours_n"].notna().all()
    assert block["difference"].between(0, 30).all()
    assert columns["PadChest"].total == (padchest_meta["frontal"] & padchest_meta["has_labels"]).sum()
    exact = d001.padchest_column(meta=padchest_meta, match="exact").counts
    published_no_finding = block.loc["No finding (healthy)", "published_n"]
    assert exact["No finding (healthy)"] < published_no_finding <= columns["PadChest"].counts["No finding (healthy)"]


def test_vindr_column_majority_fits_under_the_published_train_plus_test_counts(table, vindr_annotations):
    block = table["VinDr-CXR"]
    assert block.loc[d001.TOTAL_ROW, "ours_n"] == 15_000
    mapped = block.loc[list(d001.VINDR_ROWS)]
    assert (mapped["difference"] <= 0).all()
    unmapped = block.drop(index=[*d001.VINDR_ROWS, d001.TOTAL_ROW]).dropna(subset=["published_n"])
    assert unmapped["ours_n"].isna().all() and len(unmapped) > 0
    any_reader = d001.vindr_column(annotations=vindr_annotations, rule="any").counts
    assert (any_reader > mapped["published_n"].astype(float)).any()  # "any" cannot be a subset count


# ------------------------------------------------------------------------------ PadChest, VinDr


def test_padchest_metadata(padchest_meta):
    assert len(padchest_meta) == 160_861 and padchest_meta["image_id"].is_unique
    frontal = padchest.frontal(padchest_meta, labelled_only=False)
    assert set(frontal["projection"]) == set(padchest.FRONTAL_PROJECTIONS)
    assert (padchest_meta.loc[~padchest_meta["has_labels"], "labels"].map(len) == 0).all()
    labels = padchest_meta["labels"].explode().dropna()
    assert not labels.str.startswith(" ").any()
    vocabulary = padchest.label_vocabulary(padchest_meta)
    assert vocabulary.index[0] == "normal"


def test_padchest_label_parsing_and_matching():
    assert padchest.parse_labels("['normal']") == ("normal",)
    assert padchest.parse_labels("['COPD signs', ' laminar atelectasis']") == ("COPD signs", "laminar atelectasis")
    assert padchest.parse_labels(NAN) == ()
    with pytest.raises(ValueError):
        padchest.parse_labels("not a list")
    meta = pd.DataFrame(
        {"labels": [("laminar atelectasis",), ("atelectasis", "nodule"), ("abnormal foreign body",), ()]}
    )
    mapping = {"Atelectasis": ("atelectasis",), "No finding": ("normal",), "Nodule/Mass": ("nodule", "mass")}
    substring = padchest.label_indicators(meta, mapping, "substring")
    exact = padchest.label_indicators(meta, mapping, "exact")
    assert substring["Atelectasis"].tolist() == [True, True, False, False]
    assert exact["Atelectasis"].tolist() == [False, True, False, False]
    assert substring["No finding"].tolist() == [False, False, True, False]
    assert not exact["No finding"].any()
    assert substring["Nodule/Mass"].tolist() == [False, True, False, False]
    with pytest.raises(KeyError):
        padchest.label_indicators(meta, mapping, "fuzzy")


def test_vindr_reader_rules_on_tiny_annotations():
    rows = [("img1", "Cardiomegaly", "R1"), ("img1", "Cardiomegaly", "R1"), ("img1", "Cardiomegaly", "R2"),
            ("img1", "Nodule/Mass", "R3"), ("img2", "No finding", "R1"), ("img2", "No finding", "R2"),
            ("img2", "No finding", "R3")]
    annotations = pd.DataFrame(rows, columns=["image_id", "class_name", "rad_id"])
    readers = vindr.readers_per_class(annotations)
    assert readers.loc["img1", "Cardiomegaly"] == 2  # two boxes of R1 are one vote
    assert list(readers.columns) == list(vindr.CLASSES)
    assert vindr.image_labels(annotations, "any").loc["img1", "Nodule/Mass"] == 1
    assert vindr.image_labels(annotations, "majority").loc["img1", "Nodule/Mass"] == 0
    assert vindr.image_labels(annotations, "majority").loc["img1", "Cardiomegaly"] == 1
    assert vindr.image_labels(annotations, "all").loc["img1", "Cardiomegaly"] == 0
    assert vindr.image_labels(annotations, "all").loc["img2", "No finding"] == 1
    with pytest.raises(KeyError):
        vindr.image_labels(annotations, "two")


def test_vindr_annotations(vindr_annotations):
    readers = vindr.readers_per_class(vindr_annotations)
    assert len(readers) == 15_000
    assert (vindr_annotations.groupby("image_id")["rad_id"].nunique() == 3).all()
    assert readers.to_numpy().max() == 3


# -------------------------------------------------------------------------- document 004


def _tiny_chexpert():
    rows = [  # (frontal?, labels) ; expected membership of CheXpert-Rare and Other
        ("Frontal", {"Enlarged Cardiomediastinum": -1}),            # uncertain rare -> in, Other 0
        ("Frontal", {"Cardiomegaly": 1}),                            # common only -> out
        ("Frontal", {"No Finding": 1, "Support Devices": 1}),        # No Finding -> in, Other 1
        ("Lateral", {"Fracture": 1}),                                # lateral -> out
        ("Frontal", {"Pleural Other": 1}),                           # omitted class only -> out
        ("Frontal", {"Pneumonia": 1, "Edema": -1}),                  # in, Other 1 (uncertain Edema)
        ("Frontal", {"Lung Lesion": 0, "Pleural Other": -1}),        # negative rare -> out
    ]
    records = []
    for i, (view, labels) in enumerate(rows):
        kind = "frontal" if view == "Frontal" else "lateral"
        record = {"Path": f"CheXpert-v1.0-small/train/patient{i:05d}/study1/view1_{kind}.jpg", "Sex": "Male",
                  "Age": 60, "Frontal/Lateral": view, "AP/PA": "AP" if view == "Frontal" else NAN}
        record.update({name: labels.get(name, NAN) for name in chexpert.LABELS})
        records.append(record)
    return chexpert.normalise(pd.DataFrame(records), split="train")


def test_chexpert_rare_definition_on_a_tiny_frame():
    table = _tiny_chexpert()
    rare = d004.chexpert_rare(table)
    assert rare.index.tolist() == [0, 2, 5]
    assert list(rare.columns[4:]) == list(d004.RARE_LABELS)
    assert rare["Other"].tolist() == [0.0, 1.0, 1.0]
    assert rare.loc[0, "Enlarged Cardiomediastinum"] == 1.0 and rare.loc[5, "Pneumonia"] == 1.0
    assert d004.rare_distribution(rare).to_dict() == {
        "Enlarged Cardiomediastinum": 1, "Lung Lesion": 0, "Pneumonia": 1, "Pneumothorax": 0, "Fracture": 0,
        "No Finding": 1, "Other": 2}
    assert d004.chexpert_rare(table, policy="U-Zeros").index.tolist() == [2, 5]
    assert d004.chexpert_rare(table, frontal_only=False).index.tolist() == [0, 2, 3, 5]
    counts = d004.class_frequency_table(table)
    assert counts.loc["Edema", "positives"] == 1 and counts.loc["Fracture", "positives"] == 1
    assert d004.class_frequency_table(table, frontal_only=True).loc["Fracture", "positives"] == 0
    assert set(d004.OTHER_SOURCES) | set(d004.SELECTION_CLASSES) == set(chexpert.LABELS)
    assert len(d004.OTHER_SOURCES) == 8 and "Pleural Other" in d004.OTHER_SOURCES


def test_document_004_counts_and_threshold(train):
    counts = d004.class_frequency_table(train)
    assert counts.attrs["images"] == len(train)
    for label in chexpert.LABELS:
        assert counts.loc[label, "positives"] == train[label].isin([1, -1]).sum()
    check = d004.threshold_check(train)
    assert check.loc[check["policy"] == "U-Ones", "matches_document"].all()
    assert not check.loc[check["policy"] == "U-Zeros", "matches_document"].any()
    published = load_published("d004_section3_4").frame.set_index("quantity")["value"]
    assert published["rare_threshold_positives"] == d004.RARE_THRESHOLD
    assert published["rare_classes"] == len(d004.RARE_CLASSES)
    assert published["other_classes"] == len(d004.OTHER_SOURCES)
    assert published["chexpert_rare_labels"] == len(d004.RARE_LABELS)


def test_chexpert_rare_size_and_variants(train, valid):
    rare = d004.chexpert_rare(train)
    assert rare["image_id"].is_unique and rare["patient_id"].str.startswith("patient").all()
    selected = rare[list(d004.SELECTION_CLASSES)].eq(1).any(axis=1)
    assert selected.all()
    assert d004.published_size() == 82_942
    variants = d004.rare_variants(train, valid)
    assert len(variants) == len(d004.RARE_VARIANTS)
    first = variants.iloc[0]
    assert first["images"] == len(rare)
    assert (variants["difference"] == variants["images"] - variants["published"]).all()
    by_name = variants.set_index("variant")["images"]
    assert by_name["train + validation images"] - first["images"] == len(d004.chexpert_rare(valid))
    assert by_name["all views (no frontal filter)"] > first["images"] > by_name["uncertain negative (U-Zeros)"]
    assert by_name["frontal = file name"] == first["images"]
