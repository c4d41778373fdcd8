"""The README is part of the product: its commands, and the synthetic world it prints, match the repo."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def table_rows(first_cells):
    rows = {}
    for line in README.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in first_cells:
            rows[cells[0]] = cells
    return rows


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["make pipeline", "make test"]
    ci_command = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command == "make test"


def test_readme_prints_the_synthetic_sources_as_configured():
    rows = table_rows(CONFIG["sources"])
    assert set(rows) == set(CONFIG["sources"])
    for name, spec in CONFIG["sources"].items():
        _, n_train, n_test, beta, drift = rows[name][:5]
        assert (int(n_train), int(n_test), float(beta)) == (spec["n_train"], spec["n_test"], spec["beta"])
        assert drift == ", ".join(f"{k} {v:+g}" for k, v in spec["drift"].items())


def test_readme_prints_the_shared_reward_as_configured():
    world = CONFIG["synthetic"]
    rows = table_rows([*world["attributes"], "relevance", "length"])
    for name, attribute in world["attributes"].items():
        assert float(rows[name][1]) == attribute["weight"]
        assert rows[name][2] == ", ".join(attribute["words"])
    assert float(rows["relevance"][1]) == world["relevance_weight"]
    assert float(rows["length"][1]) == world["length_weight"]
