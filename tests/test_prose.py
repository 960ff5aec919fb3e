"""Review rules for the book's prose, checked on book/*.md, book/solutions/*.md and the notebooks' markdown cells.

(a) A claim of a difference carries its test or interval in the same sentence: a sentence with a
    comparative claim word (better, worse, outperform, significant, agree, or "different" about a
    result) needs a CI/p-value/test marker ("CI", "p =", "DeLong", "bootstrap", "interval", "±", ...).
    Not claims, and so not checked: questions (exercises, headings) and sentences that report what a
    document itself says ("document 004 reports ..."). Anything else that is not a claim about our
    results (a definition, for example) carries the explicit marker ``<!-- prose: not a claim -->``;
    that list is small and each use is a definition or a description of a mechanism.
(b) A decimal number in a sentence that names "document 00N" exists in that document's published
    numbers (cxrlib/published/d00N*.csv|yaml), except section numbers and table rows.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOW = "<!-- prose: not a claim -->"
CLAIM = re.compile(
    r"\b(better|worse|outperforms?|outperformed|significant|significantly|agree|agrees|agreed)\b"
    r"|\bdifferent\s+(AUROCs?|AUCs?|results?|scores?|accurac\w*|performance|losses)\b"
    r"|\b(AUROCs?|AUCs?|results?|scores?|accurac\w*|performance)\s+(is|are|was|were)\s+(\w+\s+)?different\b", re.I)
MARKER = re.compile(r"\bCIs?\b|\bp\s*[=<>≤]|\bp-values?\b|DeLong|bootstrap|interval|±|confidence|\btest(s|ed)?\b", re.I)
DOCUMENT_SAYS = re.compile(r"\b[Dd]ocuments?\s+00\d(?:\s+(?:and|or)\s+00\d)?(?:'s)?(?:\s+\{cite\}`[^`]*`)?[^.]{0,80}?"
                           r"\b(reports?|reported|finding|finds|found|says|claims?|asks?|writes|states)\b")
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?!\w|\.\d)")
DOCUMENT = re.compile(r"\b[Dd]ocuments?\s+(00\d)")
NOT_QUOTES = re.compile(r"\b(sections?|Sections?|eq\.|Eq\.|Fig\.|Table)\s*$")


def markdown_cells(path: Path) -> str:
    """The markdown cells of a py:percent notebook, comment marks removed."""
    cells, current, in_markdown = [], [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            if in_markdown:
                cells.append("\n".join(current))
            current, in_markdown = [], "[markdown]" in line
        elif in_markdown:
            current.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
    if in_markdown:
        cells.append("\n".join(current))
    return "\n\n".join(cells)


def prose_files() -> list[Path]:
    """Chapters, worked solutions (book/solutions/, shown in the instructor edition) and notebooks."""
    return (sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "book" / "solutions").glob("[0-9][0-9]_*.md"))
            + sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")))


def prose(path: Path) -> str:
    text = path.read_text(encoding="utf-8") if path.suffix == ".md" else markdown_cells(path)
    text = re.sub(r"^(```+|~~~+|:::+).*?^\1[ \t]*$", " ", text, flags=re.S | re.M)  # code, directives
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("|"))  # table rows


def sentences(text: str):
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        yield from (s for s in re.split(r"(?:(?<=[.!?])|(?<=[.!?]\*\*))\s+(?=[A-Z*(\"`#0-9-])", paragraph) if s)


def unsupported_claims(text: str) -> list[str]:
    found = []
    for sentence in sentences(text):
        if not CLAIM.search(sentence) or MARKER.search(sentence) or ALLOW in sentence:
            continue
        if sentence.rstrip().rstrip("*").endswith("?") or DOCUMENT_SAYS.search(sentence):
            continue
        found.append(sentence)
    return found


def published_numbers(document: str) -> set[float]:
    values = set()
    for path in (ROOT / "cxrlib" / "published").glob(f"d{document}*"):
        if path.suffix in (".csv", ".yaml"):
            values.update(float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path.read_text(encoding="utf-8")))
    return values


def unpublished_quotes(text: str) -> list[str]:
    found = []
    for sentence in sentences(text):
        documents = set(DOCUMENT.findall(sentence))
        if not documents:
            continue
        known = set().union(*(published_numbers(d) for d in documents))
        for match in NUMBER.finditer(sentence):
            if NOT_QUOTES.search(sentence[:match.start()]):
                continue
            if not any(abs(float(match.group()) - v) < 1e-9 for v in known):
                found.append(f"{match.group()} (documents {sorted(documents)}): {sentence[:160]}")
    return found


# -- the checkers themselves ---------------------------------------------------------------------
def test_claim_checker_flags_and_passes_what_it_should():
    assert unsupported_claims("The bootstrap over patients and DeLong agree closely.") == []  # names its tests
    assert unsupported_claims("The two intervals agree closely.") == []  # "interval" is a marker
    assert unsupported_claims("Model A is better than model B on every finding.")
    assert unsupported_claims("The two reference standards give different AUROCs for the same model.")
    assert unsupported_claims("Model A is better (difference 0.02, 95% CI 0.01 to 0.03).") == []
    assert unsupported_claims("Does pre-training make the model better?") == []
    assert unsupported_claims("Document 004 reports that its SimCLR views fine-tuned worse.") == []
    assert unsupported_claims(f"A rare class is called significant here. {ALLOW}") == []
    assert unsupported_claims("The test uses a different split.") == []  # not a claim about a result


def test_number_checker(tmp_path):
    assert unpublished_quotes("Document 004's SimCLR total was 0.380 against 0.660.") == []
    assert unpublished_quotes("Document 004 reports a total of 0.98765.")
    assert unpublished_quotes("Document 004 (section 4.3) keeps views mild.") == []


# -- the book ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", prose_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_claims_of_a_difference_carry_their_test_or_interval(path):
    found = unsupported_claims(prose(path))
    assert not found, (f"{path.name}: a claim of a difference without its test or CI in the same sentence "
                       f"(add it, rephrase, or mark a definition with {ALLOW}):\n- " + "\n- ".join(found))


@pytest.mark.parametrize("path", prose_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_numbers_quoted_from_a_document_are_in_its_published_numbers(path):
    found = unpublished_quotes(prose(path))
    assert not found, (f"{path.name}: numbers quoted with a document that are not in cxrlib/published "
                       "(transcribe them there with their citation, or quote the right one):\n- " + "\n- ".join(found))


# -- numbers the chapters describe ---------------------------------------------------------------
def test_chance_level_uses_the_batch_the_run_had():
    """book/pretrain.md: one chance line per run, log(2B - 1) with B = min(batch size, pool size)."""
    import numpy as np

    from cxrlib.training.ssl import runs

    assert runs.effective_batch_size(32, 7) == 7 and runs.effective_batch_size(32, 999) == 32
    assert runs.run_chance_loss("simclr", 32, 7) == pytest.approx(np.log(13))
    assert runs.run_chance_loss("simclr", 32, 999) == pytest.approx(np.log(63))
    assert runs.run_chance_loss("moco_v2", 32, 7, queue_size=256) == pytest.approx(np.log(257))


def test_loss_curves_draw_one_chance_line_per_run():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from cxrlib.chapters import plots

    frame = pd.DataFrame({"epoch": [1, 2, 1, 2], "loss": [3.0, 2.5, 2.6, 2.55], "pool": ["100%", "100%", "1%", "1%"]})
    fig = plots.loss_curves(frame, "pool", chance={"100%": 4.14, "1%": 2.56})
    levels = sorted(line.get_ydata()[0] for line in fig.axes[0].lines if line.get_linestyle() == "--")
    assert levels == pytest.approx([2.56, 4.14])
    fig = plots.loss_curves(frame, "pool", chance={"100%": 4.14, "1%": 4.14})  # equal levels: one grey line
    assert sum(line.get_linestyle() == "--" for line in fig.axes[0].lines) == 1
