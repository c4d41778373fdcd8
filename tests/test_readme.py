"""The README and the manual (docs/*.md) are part of the product: their commands, the paths and
modules they name, their links and the synthetic world they print match the repository."""

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml
from myst_parser.slugs import github_slugify

from tests.workflow_run import snakemake

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
# Every page a reader is shown a command on: the README and the manual's pages, by repository path.
PAGES = {"README.md": README} | {f"docs/{path.name}": path.read_text() for path in sorted((REPO / "docs").glob("*.md"))}
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
README_MAX_LINES = 200

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def code_of(text):
    """A page's code: the lines of its code blocks and its inline code spans (`x` or ``x``)."""
    prose = FENCE.sub("", text)
    spans = [double or single for double, single in re.findall(r"``(.+?)``|`([^`]+)`", prose, re.DOTALL)]
    return [*spans, *(line for block in FENCE.findall(text) for line in block.splitlines())]


def table_rows(first_cells):
    """{first cell: [every table row, on any page, that starts with it]}."""
    rows = {}
    for text in PAGES.values():
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("|") and cells[0] in first_cells:
                rows.setdefault(cells[0], []).append(cells)
    return rows


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["make pipeline", "make test"]
    ci_command = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command == "make test"


def test_readme_is_a_five_minute_read_that_opens_with_the_two_commands():
    lines = README.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; the manual (docs/) takes the rest"
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2] == "```bash", lines[:3]
    assert lines[3].startswith("make pipeline ") and lines[4].startswith("make test ") and lines[5] == "```"


def test_the_manual_prints_the_synthetic_sources_as_configured():
    rows = table_rows(CONFIG["sources"])
    assert set(rows) == set(CONFIG["sources"])
    for name, spec in CONFIG["sources"].items():
        for row in rows[name]:
            _, n_train, n_test, beta, drift = row[:5]
            assert (int(n_train), int(n_test), float(beta)) == (spec["n_train"], spec["n_test"], spec["beta"])
            assert drift == ", ".join(f"{k} {v:+g}" for k, v in spec["drift"].items())


def test_the_manual_prints_the_shared_reward_as_configured():
    world = CONFIG["synthetic"]
    rows = table_rows([*world["attributes"], "relevance", "length"])
    for name, attribute in world["attributes"].items():
        for row in rows[name]:
            assert float(row[1]) == attribute["weight"]
            assert row[2] == ", ".join(attribute["words"])
    assert {float(row[1]) for row in rows["relevance"]} == {world["relevance_weight"]}
    assert {float(row[1]) for row in rows["length"]} == {world["length_weight"]}


# --- commands ------------------------------------------------------------------------------------

def snakemake_commands():
    """(page, words) of every snakemake command the pages show, split at `&&`, `;` and `|`."""
    commands = []
    for page, text in PAGES.items():
        for code in code_of(text):
            if not re.search(r"(?:^|\s)snakemake\s", code):
                continue
            try:
                words = shlex.split(code, comments=True)
            except ValueError:  # an unbalanced quote: a fragment, not a command
                continue
            command = []
            for word in [*words, "&&"]:
                if word in ("&&", ";", "|", "||"):
                    if "snakemake" in command:
                        commands.append((page, command[command.index("snakemake"):]))
                    command = []
                else:
                    command.append(word)
    return commands


def test_the_pages_show_snakemake_commands():
    assert len(snakemake_commands()) >= 30


def test_configfile_is_followed_by_config_files_only():
    """`--configfile` takes several files: a target written after it would be read as a config file."""
    wrong = []
    for page, words in snakemake_commands():
        for i, word in enumerate(words):
            if word == "--configfile":
                files = []
                for after in words[i + 1:]:
                    if after.startswith("-"):
                        break
                    files.append(after)
                if not files or not all(re.search(r"\.(ya?ml|json)$", f) for f in files):
                    wrong.append(f"{page}: {shlex.join(words)}")
    assert not wrong, "put the target before --configfile, or write --configfile=FILE:\n" + "\n".join(wrong)


# a `--config` example: the option, then a KEY=VALUE (a mention of the bare option is no example)
CONFIG_OPTION = re.compile(r"--config\s+\S+=")


def config_examples():
    """(page, text) of every command on a page that sets a key with `--config`."""
    return [(page, code) for page, text in PAGES.items() for code in code_of(text) if CONFIG_OPTION.search(code)]


def split_example(text):
    """An example's environment, snakemake arguments, the same without its `--config` part, and the
    {key: value} it sets, the values read as YAML."""
    words = shlex.split(text, comments=True)
    env = {}
    while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[:1] == ["snakemake"], f"{text!r} sets --config but is no whole snakemake command"
    start = words.index("--config") + 1
    end = next((i for i in range(start, len(words)) if words[i].startswith("-")), len(words))
    settings = dict(word.split("=", 1) for word in words[start:end])
    without = words[1:start - 1] + words[end:]
    return env, words[1:], without, {key: yaml.safe_load(value) for key, value in settings.items()}


def shown(key, value):
    """What a dry run prints once `--config key=value` took effect (jobs' outputs, shell commands)."""
    if key == "replicates":
        return [f"results/seed{seed}/rm/{base}/" for seed in value["seeds"] for base in value["bases"]]
    if key == "judge":  # the judge rule passes its block as JSON
        return [f'"{name}": {json.dumps(setting)}' for name, setting in value.items()]
    raise AssertionError(f"--config {key}=... on a page: add what a dry run shows of it to tests/test_readme.py")


def test_every_config_example_is_found():
    found = sum(len(CONFIG_OPTION.findall(text)) for text in PAGES.values())
    assert len(config_examples()) == found >= 2


@pytest.mark.parametrize(("page", "text"), config_examples(),
                         ids=lambda value: re.search(r"--config\s+(\S+?)=", value)[1] if "--config" in value else value)
def test_a_config_example_runs_as_written_and_takes_effect(page, text, tmp_path, monkeypatch):
    """Snakemake reads a nested `--config` value's leaves as strings; the workflow reads it as YAML."""
    env, args, without, settings = split_example(text)
    monkeypatch.chdir(REPO)  # the pages' commands run in the repository, and read its config/ there
    for run in ("with", "without"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "config").symlink_to(REPO / "config")
    code, output = snakemake(tmp_path / "with", "-n", *args, env=env, check=False)
    assert code == 0, f"{page}: {text}\n{output[-3000:]}"
    _, before = snakemake(tmp_path / "without", "-n", *without, env=env)
    for key, value in settings.items():
        for line in shown(key, value):
            assert line in output and line not in before, (page, text, line)


def test_the_fast_subset_leaves_out_every_marker():
    """The fast subset the pages show deselects exactly the markers pyproject.toml declares."""
    markers = {line.split(":")[0] for line in
               tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]}
    subsets = [match[1] for text in PAGES.values() for code in code_of(text)
               if (match := re.match(r'pytest -m "(not .*?)"', code))]
    assert subsets
    for subset in subsets:
        assert set(re.findall(r"not (\w+)", subset)) == markers, subset


# --- paths, modules, links -----------------------------------------------------------------------

# What the pages name but a checkout does not hold until a run or a build makes it.
GENERATED = {"config/paper.lock.json", "containers/more-cpu.sif", "docs/_build/html"}
# Files another change adds; each is checked like any other path once it exists.
PENDING = {"config/README.md": "the key reference of the config, generated by its own change"}

TOP = ("more_lib", "scripts", "tests", "config", "workflow", "containers", "slurm", "docs")
PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w.*/-]*)")


def named_paths():
    """Repository paths the pages name (in code, prose or links), as written."""
    paths = set()
    for text in PAGES.values():
        for path in PATH.findall(text):
            path = path.rstrip(".,/")
            if path not in GENERATED:
                paths.add(path)
    return paths


def test_every_repository_path_the_pages_name_exists():
    missing = sorted(path for path in named_paths() if not any(REPO.glob(path)))
    wrong = [path for path in missing if path not in PENDING]
    assert not wrong, f"the pages name paths the repository does not have: {wrong}"
    if missing:
        pytest.xfail("; ".join(f"{path}: {PENDING[path]}, not there yet" for path in missing))


def test_every_script_and_module_the_pages_name_exists():
    names = {name for text in PAGES.values() for name in re.findall(r"(?<![\w./-])(\w+\.(?:py|sh|smk))\b", text)}
    homes = ["scripts", "more_lib", "tests", "workflow/rules", "containers"]  # a stage's folder included
    assert not [name for name in names if not any(next((REPO / home).rglob(name), None) for home in homes)]
    dotted = {name for text in PAGES.values() for name in re.findall(r"\bmore_lib\.(\w+(?:\.\w+)*)", text)}
    assert dotted and not [name for name in dotted if not _names_a_module(name)]


def _names_a_module(dotted):
    """more_lib.<dotted> is a module or package, or a function, class or constant defined in one."""
    *package, last = dotted.split(".")
    path = REPO.joinpath("more_lib", *package, last)
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return True
    module = REPO.joinpath("more_lib", *package).with_suffix(".py")
    return bool(package) and module.is_file() and re.search(
        rf"^(?:def |class )?{re.escape(last)}\b", module.read_text(), re.MULTILINE) is not None


def headings_slugs(text):
    """The anchors of a page's headings (levels 1-3), as MyST (myst_heading_anchors) and GitHub make them."""
    return {github_slugify(re.sub(r"[`*]", "", title).strip())
            for title in re.findall(r"^#{1,3} (.+)$", FENCE.sub("", text), re.MULTILINE)}


def readme_links():
    return re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", README))


def test_the_readme_links_reach_their_pages_and_sections():
    """Sphinx checks the manual's own links; the README's are checked here."""
    links = [link for link in readme_links() if not re.match(r"[a-z]+:", link)]
    assert links
    for link in links:
        path, _, anchor = link.partition("#")
        assert (REPO / path).exists(), link
        if anchor:
            assert anchor in headings_slugs((REPO / path).read_text()), f"README.md: no heading for {link}"


def test_the_readme_links_every_page_of_the_manual():
    linked = {link.partition("#")[0] for link in readme_links()}
    pages = {page for page in PAGES if page.startswith("docs/") and page != "docs/index.md"}
    assert pages <= linked, sorted(pages - linked)
