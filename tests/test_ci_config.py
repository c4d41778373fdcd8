"""The GitHub workflow and .ci/run check the same things: each command of the workflow is a Makefile
target (one source, so the two cannot drift apart), and `make test`, which .ci/run runs, runs the
static checks before the tests."""

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = REPO / ".github" / "workflows"
WORKFLOWS = sorted([*WORKFLOW_DIR.glob("*.yml"), *WORKFLOW_DIR.glob("*.yaml")])
CI_YML = WORKFLOW_DIR / "ci.yml"
MAKE_CALL = re.compile(r"make(?: [A-Za-z0-9_.-]+)+")


def makefile_rules(text):
    """{target: [prerequisites]} of the Makefile's explicit rules (no variables, recipes, pattern rules)."""
    rules = {}
    logical = text.replace("\\\n", " ")
    for line in logical.splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        match = re.match(r"^([^\s:=#$%][^:=#]*?)\s*:(?![:=])(.*)$", line)
        if match:
            prerequisites = match[2].split("#")[0].replace("|", " ").split()
            for target in match[1].split():
                rules.setdefault(target, []).extend(prerequisites)
    return rules


def run_steps(workflow):
    """(job, step name, run text) of every `run:` step of a parsed workflow."""
    return [(job_id, step.get("name", "?"), step["run"])
            for job_id, job in workflow["jobs"].items() for step in job.get("steps", []) if "run" in step]


def make_targets_called(run, targets):
    """The Makefile targets a `run:` text calls; AssertionError on a line that is not `make TARGET...`
    or on a target the Makefile lacks."""
    called = []
    for line in run.splitlines():
        line = line.strip()
        if not line:
            continue
        assert MAKE_CALL.fullmatch(line), (
            f"`{line}` is not `make TARGET`: put the command in a Makefile target and call that target")
        for target in shlex.split(line)[1:]:
            assert target in targets, f"`{line}` calls make target {target!r}, which the Makefile lacks"
            called.append(target)
    return called


def test_every_run_step_of_the_workflows_calls_only_makefile_targets():
    targets = makefile_rules((REPO / "Makefile").read_text())
    assert CI_YML in WORKFLOWS
    for path in WORKFLOWS:
        steps = run_steps(yaml.safe_load(path.read_text()))
        assert steps, f"{path.name} has no run step"
        called = set()
        for job, name, run in steps:
            try:
                called |= set(make_targets_called(run, targets))
            except AssertionError as err:
                raise AssertionError(f"{path.name}, job {job}, step {name!r}: {err}") from None
        if path == CI_YML:
            assert {"lint", "workflow-lint", "dryrun", "test-fast"} <= called, sorted(called)


def test_ci_workflow_runs_on_push_and_pull_request_with_read_only_pinned_actions():
    text = CI_YML.read_text()
    workflow = yaml.safe_load(text)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers), triggers
    assert workflow["permissions"] == {"contents": "read"}
    # zizmor --offline cannot compare a pin with its tag: each pin names its version beside it.
    uses = re.findall(r"^\s*(?:- )?uses: (\S+)(.*)$", text, re.MULTILINE)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), f"{action}: pin a full commit SHA"
        assert re.fullmatch(r"\s+# v\d+(\.\d+)*", comment), f"{action}: name its version (`# vX.Y.Z`)"


def test_ci_run_runs_make_test_and_make_test_lints_first():
    commands = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "make test", commands
    rules = makefile_rules((REPO / "Makefile").read_text())
    # Prerequisites are made before the recipe: lint runs before pytest.
    assert "lint" in rules["test"], rules["test"]
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.MULTILINE)[1]
    for tool in ("ruff check", "snakefmt --check", "actionlint", "zizmor --offline"):
        assert tool in recipe, f"make lint does not run {tool}"


def test_the_rule_parser_sees_through_variables_and_continuations():
    rules = makefile_rules("A := x\n$(STAMP): a b\nx y: p \\\n  q | r\n\trecipe: no\n.PHONY: x\n")
    assert rules == {"x": ["p", "q", "r"], "y": ["p", "q", "r"], ".PHONY": ["x"]}
