# Config validation, wildcard constraints and the helpers the rules share.
import json
import re
from pathlib import Path

from snakemake.utils import validate


# An overlay removes an entry of the default (a base, a source) by setting it to null.
for key in ("bases", "sources"):
    if isinstance(config.get(key), dict):
        config[key] = {name: spec for name, spec in config[key].items() if spec is not None}
validate(config, schema="../schemas/config.schema.yaml")

SOURCES = list(config["sources"])
REPO = Path(workflow.basedir).parent
SCRIPTS = REPO / "scripts"
LIB = REPO / "more_lib"

if any(s["kind"] == "synthetic" for s in config["sources"].values()) and "synthetic" not in config:
    raise ValueError("config key 'synthetic' is required when a source has kind: synthetic")


def check_names(key, names, known, what):
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"config key '{key}' names {what} not under '{what}': {', '.join(unknown)}")


for mix, members in config["mixes"].items():
    check_names(f"mixes.{mix}", members, SOURCES, "sources")
for key in ("focus", "ksweep"):
    check_names(f"analysis.{key}", config["analysis"][key], SOURCES, "sources")
check_names("alignment.sources", config["alignment"]["sources"], SOURCES, "sources")
check_names("policy.pretrain.sources", config["policy"].get("pretrain", {}).get("sources", []), SOURCES, "sources")
check_names("judge.tasks", config["judge"]["tasks"].values(), SOURCES, "sources")
check_names("alignment.ksweep.bases", config["alignment"]["ksweep"]["bases"], config["bases"], "bases")
if config["evaluation"]["table2"]["mix"] not in config["mixes"]:
    raise ValueError(f"config key 'evaluation.table2.mix' names no mix under 'mixes': "
                     f"{config['evaluation']['table2']['mix']}")


wildcard_constraints:
    source="|".join(SOURCES),
    n=r"\d+",


def code(script, *modules):
    """The script and library modules a rule runs: editing one of them reruns the rule."""
    return [str(SCRIPTS / script), *(str(LIB / f"{m}.py") for m in modules)]


def source_spec(wildcards):
    return json.dumps(config["sources"][wildcards.source], sort_keys=True)


def world_spec(wildcards):
    """The synthetic world, for synthetic sources only (a hub source does not depend on it)."""
    spec = config["sources"][wildcards.source]
    return json.dumps(config["synthetic"] if spec["kind"] == "synthetic" else {}, sort_keys=True)


def source_files(wildcards):
    """Local files a source is read from, so that editing them reruns its preparation.
    A hub id names no local file: its revision pins it instead."""
    spec = config["sources"][wildcards.source]
    paths = [spec[split] for split in ("train", "test") if spec["kind"] == "jsonl"]
    if "path" in spec and Path(spec["path"]).is_dir():
        paths += [str(p) for p in sorted(Path(spec["path"]).rglob("*")) if p.is_file()]
    return paths
