"""The data folder and the config file: where they are, and how one table of the file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config_file import ConfigFileError, line_of, read_table
from core.paths import CONFIG_NAME, config_path, data_home


def test_the_data_folder_is_home_then_kyzel_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KYZEL_HOME", str(tmp_path / "env"))
    assert data_home() == tmp_path / "env"
    assert data_home(tmp_path / "given") == tmp_path / "given"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_home("~/mine") == tmp_path / "mine"
    assert config_path("~/mine") == tmp_path / "mine" / CONFIG_NAME


def test_no_file_or_no_table_is_an_empty_table(tmp_path: Path) -> None:
    assert read_table(tmp_path, "keys", "a table").values == {}
    (tmp_path / CONFIG_NAME).write_text('[train]\nepochs = 2\n[keys]\nrun = "x"\n')
    train = read_table(tmp_path, "train", "a table")
    assert train.values == {"epochs": 2} and train.path == tmp_path / CONFIG_NAME
    assert read_table(tmp_path, "other", "a table").values == {}


@pytest.mark.parametrize(
    ("text", "unreadable", "message"),
    [
        ("[keys\n", True, "config.toml: Expected ']'"),
        ("keys = 3\n", False, "config.toml: [keys] must be a table of keys"),
        (b"[keys]\nrun = '\xff'\n", True, "config.toml: 'utf-8' codec can't decode"),
    ],
)
def test_a_file_that_cannot_be_used_names_itself(tmp_path, text, unreadable, message) -> None:
    path = tmp_path / CONFIG_NAME
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigFileError) as error:
        read_table(tmp_path, "keys", "a table of keys")
    assert error.value.unreadable is unreadable
    assert str(error.value).startswith(str(tmp_path)) and message in str(error.value)


def test_a_folder_in_place_of_the_file_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / CONFIG_NAME).mkdir()
    with pytest.raises(ConfigFileError) as error:
        read_table(tmp_path, "train", "a table")
    assert error.value.unreadable and "Is a directory" in str(error.value)


def test_line_of_finds_the_key_in_its_own_table() -> None:
    text = '[train]\nrun = 1\n\n[ keys ]\n# comment\n"run" = "x"\nretry="R"\n'
    assert line_of(text, "keys", "run") == 6
    assert line_of(text, "keys", "retry") == 7
    assert line_of(text, "train", "run") == 2
    assert line_of(text, "keys", "quit") == 0
