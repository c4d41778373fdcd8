"""config/README.md, the config reference (more_lib/core/config_reference.py): generated, and checked so that it
cannot drift from the schema, the configs or the workflow. The drift tests work on copies in tmp_path: a
reference rendered from the shipped schema and configs, then a schema or a config changed beside it."""

import subprocess
import sys

import pytest
import yaml

from more_lib.core import config_reference
from more_lib.core.config_reference import DEFAULT, PAPER, README, REPO, SCHEMA

REGENERATE = "(regenerate: python scripts/make_config_reference.py)"


def rows():
    """{key: what a change to it rebuilds} of the checked-in reference."""
    cells = config_reference.table_rows(README.read_text())
    return {name.strip("`"): cell for name, cell in cells.items() if name.startswith("`")}


@pytest.fixture
def reference(tmp_path):
    """A reference rendered from the shipped schema and configs (the rebuild column left empty: the drift
    these tests make is found before the workflow is parsed)."""
    _, _, _, table = config_reference.read(SCHEMA, DEFAULT, PAPER)
    path = tmp_path / "README.md"
    path.write_text(config_reference.render(table, {}, {}))
    return path


def edited_schema(tmp_path, edit):
    schema = yaml.safe_load(SCHEMA.read_text())
    edit(schema)
    path = tmp_path / "config.schema.yaml"
    path.write_text(yaml.safe_dump(schema, sort_keys=False))
    return path


@pytest.mark.parametrize("edit, key", [
    (lambda s: s["properties"]["resample"]["properties"].update(seed={"type": "integer", "description": "its own"}),
     "resample.seed"),
    (lambda s: s["properties"]["judge"]["properties"].pop("cache_outside_results"), "judge.cache_outside_results"),
    (lambda s: s["properties"]["seed"].update(description="the one seed"), "seed"),
])
def test_the_check_names_the_key_the_schema_gains_loses_or_redescribes(tmp_path, reference, edit, key):
    message = config_reference.check(reference, schema_path=edited_schema(tmp_path, edit), default_path=DEFAULT,
                                     paper_path=PAPER)
    assert message == f"{reference}: '{key}' drifted {REGENERATE}"


def test_the_check_names_the_key_whose_default_changes(tmp_path, reference):
    config = yaml.safe_load(DEFAULT.read_text())
    config["reward"]["lr"] *= 2
    default = tmp_path / "config.yaml"
    default.write_text(yaml.safe_dump(config, sort_keys=False))
    message = config_reference.check(reference, schema_path=SCHEMA, default_path=default, paper_path=PAPER)
    assert "'reward.lr' drifted" in message


def test_the_script_exits_1_with_one_line_naming_the_key(reference):
    reference.write_text(reference.read_text().replace("| `reward.lr` | number, > 0 | `0.001` |",
                                                       "| `reward.lr` | number, > 0 | `0.002` |"))
    result = subprocess.run([sys.executable, REPO / "scripts" / "make_config_reference.py", "--check", "--output",
                             reference], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (1, f"{reference}: 'reward.lr' drifted {REGENERATE}\n")


def test_a_key_without_a_description_is_refused(tmp_path):
    schema = edited_schema(tmp_path, lambda s: s["properties"]["resample"]["properties"]["n"].pop("description"))
    with pytest.raises(config_reference.ConfigError, match="schema key 'resample.n' has no description"):
        config_reference.read(schema, DEFAULT, PAPER)


def test_every_key_of_the_schema_has_a_row_and_a_derived_rebuild():
    _, keys, _, _ = config_reference.read(SCHEMA, DEFAULT, PAPER)
    assert list(rows()) == [key.name for key in keys]
    assert all(cell.startswith(("`", "not changed: ")) for cell in rows().values())


def test_the_reference_says_what_the_workflow_reruns():
    """Spot checks of the derived column against what rules/*.smk say each rule reads."""
    cells = rows()
    assert cells["container"].endswith("*nothing*")  # only --sdm apptainer reads it
    assert "train_rm (" in cells["reward.lr"] and "prepare_source" not in cells["reward.lr"]
    assert "train_rm (" not in cells["evaluation.tie_credit"] and "evaluate_rm (" in cells["evaluation.tie_credit"]
    assert "prepare_source (" in cells["seed"]
    assert cells["sources.<name>.path"].startswith("not changed: `sources.helpful` is of kind synthetic")


@pytest.mark.slow
def test_the_checked_in_reference_is_current():
    """The whole check, as CI runs it: every key's rebuilds derived anew (a minute or two on two cores)."""
    drifted = config_reference.check()
    assert drifted is None, drifted
