"""``cxrlib.published.index`` parses each YAML text once per process: each caller still gets its own copy,
and an edited file counts at the next call."""
from pathlib import Path

from cxrlib import published


def test_each_caller_gets_its_own_copy():
    first = published.index()
    first["d000_table1"]["citation"] = "changed by a caller"
    first.pop("d000_table2", None)
    again = published.index()
    assert again["d000_table1"]["citation"] != "changed by a caller" and "d000_table2" in again


def test_an_edited_file_counts_at_the_next_call(tmp_path, monkeypatch):
    monkeypatch.setattr(published.resources, "files", lambda package: Path(tmp_path))
    (tmp_path / "d999.yaml").write_text("d999_table1: {file: a.csv, document: '999', citation: c}\n")
    assert published.index()["d999_table1"]["file"] == "a.csv"
    (tmp_path / "d999.yaml").write_text("d999_table1: {file: b.csv, document: '999', citation: c}\n")
    assert published.index()["d999_table1"]["file"] == "b.csv"
