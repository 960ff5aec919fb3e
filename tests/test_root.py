"""The data root resolves without extra steps here, and a missing data set explains how to get it."""
import subprocess
import sys

import pytest

from cxrlib.data.root import (
    SOURCES,
    DataNotFoundError,
    data_root,
    how_to_get,
    require,
    require_file,
)


def test_shared_data_found_without_configuration(data_root):
    assert (data_root / "nih-cxr14" / "test_list.txt").exists()


def test_env_var_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("CXRLIB_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()
    assert data_root(tmp_path / "other") == (tmp_path / "other").resolve()


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_missing_dataset_error_names_layout_and_source(tmp_path, key):
    with pytest.raises(DataNotFoundError) as err:
        require(key, root=tmp_path)
    message = str(err.value)
    source = SOURCES[key]
    assert source.url.split()[0] in message
    assert "Expected layout" in message and "CXRLIB_DATA" in message
    assert str(tmp_path) in message


def test_present_dataset_and_missing_file(data_root):
    assert require("kermany-pneumonia", data_root).is_dir()
    with pytest.raises(DataNotFoundError, match="no_such_file.csv"):
        require_file("covid-chestxray", "no_such_file.csv", data_root)


def test_unknown_dataset_lists_known():
    with pytest.raises(KeyError, match="kermany-pneumonia"):
        require("imagenet")


def test_how_to_get_offers_the_download_command_only_where_a_recipe_has_files(tmp_path):
    assert "cxrlib download kermany-pneumonia" in how_to_get("kermany-pneumonia", tmp_path)
    assert "cxrlib download" not in how_to_get("chexpert", tmp_path)  # behind a registration: a manual recipe


def test_root_does_not_import_the_download_code():
    code = "import sys, cxrlib.data.root; assert 'cxrlib.data.download' not in sys.modules, 'download imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
