"""The README documents every setting, every API operation and the two commands."""

from __future__ import annotations

from pathlib import Path

from signalrisk.api.app import create_app
from signalrisk.core.settings_table import END, START, settings_rows, settings_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_configuration_table_is_the_generated_one() -> None:
    assert START in README and END in README, "the README lost its settings-table markers"
    documented = README.split(START, 1)[1].split(END, 1)[0].strip()
    assert documented == settings_table(), (
        "README's configuration table is stale: paste `python -m signalrisk.core.settings_table`"
    )


def test_every_setting_says_what_it_does() -> None:
    undocumented = [variable for variable, _, meaning in settings_rows() if not meaning]
    assert not undocumented, f"settings without a description: {undocumented}"


def test_readme_lists_every_api_path() -> None:
    paths = create_app().openapi()["paths"]
    missing = [path for path in paths if f"{path.split('{')[0].rstrip('/')}" not in README]
    assert not missing, f"API paths missing from the README: {missing}"


def test_readme_shows_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
