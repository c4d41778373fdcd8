# Config validation, wildcard constraints and the helpers the rules share.
import ast
import functools
import json
import math
import os
import re
import runpy
import sys
from pathlib import Path

import yaml
from snakemake.logging import logger
from snakemake.utils import update_config

REPO = Path(workflow.basedir).parent
SCRIPTS = REPO / "scripts"
# The workflow's own copy of the library, whatever is installed (an editable install of another
# checkout would otherwise win): here, and first on PYTHONPATH for every job, which inherits the
# environment locally, through sbatch (--export=ALL) and in Apptainer.
sys.path.insert(0, str(REPO))
os.environ.update(PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
from more_lib.core import config_check, names  # noqa: E402
from more_lib.hub import plan as hub

# Snakemake reads a nested `--config` value with YAML's BaseLoader, every leaf a string (replicates=
# '{seeds: [1, 2]}' gives seeds ['1', '2']): a value it read as a mapping or a list is read again as a
# config file would be, so that `--config` takes YAML as docs/configuration.md shows. Scalars keep Snakemake's reading.
for entry in workflow.config_settings.config_args or []:
    name, _, value = entry.partition("=")
    if isinstance(workflow.config_settings.config.get(name), (dict, list)):
        update_config(config, {name: yaml.safe_load(value)})

# Before any job: the schema (integers strict, names that can reach paths and shell commands checked),
# then the names one part of the config uses for another; one short line per problem, naming the key.
# An overlay removes an entry of the default (a base, a source) by setting it to null.
config_check.check(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
SOURCES = list(config["sources"])

# The hub stage (rules/hub.smk) fetches every hub repository the config names; from here on the
# config names their snapshot folders instead, and every job but the hub stage's runs offline.
HUB_DIR = config["hub"]["dir"]
HUB_LOCK = config["hub"]["lock"]
HUB_REPOS = hub.plan(config)
HUB_LOCKED = hub.read_lock(HUB_LOCK)
hub.check_lock(HUB_REPOS, HUB_LOCKED, HUB_LOCK)
HUB_FOLDERS = hub.localize(config, HUB_DIR)
os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")


def hub_manifest(repo):
    return f"{HUB_DIR}/{repo}.manifest.json"


def hub_manifests(*locations):
    """The manifests of the hub snapshots among `locations` (model or data folders): a job that reads
    a snapshot reruns when it is fetched anew."""
    return [hub_manifest(HUB_FOLDERS[location]) for location in locations if location in HUB_FOLDERS]


def own_files(location):
    """Every file of `location` when it is a folder of the user's own (model, tokenizer or data; not a
    hub snapshot, not built here), so that editing any of them reruns what reads it."""
    if (
        not location
        or location.startswith("results/")
        or location in HUB_FOLDERS
        or not Path(location).is_dir()
    ):
        return []
    return [str(path) for path in sorted(Path(location).rglob("*")) if path.is_file()]


# ---- names and the helpers every stage shares (include order does not matter) ----------------
TABLE2 = config["evaluation"]["table2"]
MIX = TABLE2["mix"]
ANALYSIS = config["analysis"]
ALIGN = config["alignment"]
POLICY = config["policy"]
JUDGE = config["judge"]
TASKS = list(JUDGE["tasks"])
BASES = list(config["bases"])
TIE_CREDIT = config["evaluation"]["tie_credit"]
RESAMPLE_N = config["resample"]["n"]


def ksweep_mixes():
    """{K: mix} for the K-sweep: the first K sources of `analysis.ksweep`, under the name of a
    configured mix with exactly those sources (trained once) or else `k{K}`."""
    order = ANALYSIS["ksweep"]
    named = {tuple(members): name for name, members in config["mixes"].items()}
    mixes = {k: named.get(tuple(order[:k]), f"k{k}") for k in range(2, len(order) + 1)}
    for k, mix in mixes.items():
        if config["mixes"].get(mix, order[:k]) != order[:k]:
            raise ValueError(
                f"config key 'mixes.{mix}': the name is the K-sweep's for {order[:k]}; rename the mix"
            )
    return mixes


KSWEEP = ksweep_mixes()
MIXES = {**{mix: ANALYSIS["ksweep"][:k] for k, mix in KSWEEP.items()}, **config["mixes"]}
TABLE2_SCHEMES = ["raw", *names.singles(SOURCES), names.multitask(MIX), names.more(MIX)]
FOCUS_SCHEMES = [*names.singles(ANALYSIS["focus"]), names.multitask(MIX), names.more(MIX)]
KSWEEP_SCHEMES = [names.mixed(kind, mix) for mix in KSWEEP.values() for kind in names.MIXED_KINDS]
SCHEMES = [
    "raw",
    *names.singles(SOURCES),
    *(names.mixed(kind, mix) for mix in MIXES for kind in names.MIXED_KINDS),
]
# The K-sweep RMs that are not also Table 2's: only their scores on the focus sources are read.
KSWEEP_ONLY_SCHEMES = [scheme for scheme in KSWEEP_SCHEMES if scheme not in TABLE2_SCHEMES]


REPLICATES = config["replicates"]


def replicates(base):
    """{replicate name: its path prefix under results/} of a base: the primary run ("primary": no
    prefix) and, for the bases `replicates` names, one per extra seed ("seed1": "seed1/")."""
    extra = REPLICATES["seeds"][: config_check.replicate_counts(REPLICATES).get(base, 0)]
    return {"primary": "", **{f"seed{seed}": f"seed{seed}/" for seed in extra}}


def across_replicates(pattern, pairs=((),)):
    """The files `pattern` names for every base, each of its replicates ({prefix}) and each of
    `pairs` ((scheme, source) ...), and the base:replicate[:scheme:source] key of each, in the
    same order (for `keyed`)."""
    rows = [
        (base, name, prefix, pair)
        for base in BASES
        for name, prefix in replicates(base).items()
        for pair in pairs
    ]
    files = [
        pattern.format(prefix=prefix, base=base, **dict(zip(("scheme", "source"), pair)))
        for base, _, prefix, pair in rows
    ]
    return files, [names.key(base, name, *pair) for base, name, _, pair in rows]


def replicate_seed(wildcards):
    """The training seed of the replicate whose prefix is the {rep} wildcard ("" or "seed{N}/")."""
    return int(wildcards.rep.removeprefix("seed")[:-1]) if wildcards.rep else config["seed"]


def scheme_sources(scheme):
    kind, of = names.parse_scheme(scheme)
    return [] if kind == "raw" else [of] if kind == "single" else MIXES[of]


def aligned_rms():
    """(base, scheme) of every RM a policy is aligned with: MultiTask and MORE of every base
    (Table 1) and the K-sweep RMs of the bases `alignment.ksweep` names (Fig. 7)."""
    rms = [(base, names.mixed(kind, MIX)) for base in BASES for kind in names.MIXED_KINDS]
    rms += [
        (base, names.mixed(kind, mix))
        for base in ALIGN["ksweep"]["bases"]
        for mix in KSWEEP.values()
        for kind in ALIGN["ksweep"]["schemes"]
    ]
    return list(dict.fromkeys(rms))


RJS_POLICIES = [names.rjs_policy(base, scheme) for base, scheme in aligned_rms()]
POLICIES = ["base", "sft", *RJS_POLICIES]
TABLE1_COMPARISONS = {
    base: (names.rjs_policy(base, names.more(MIX)), names.rjs_policy(base, names.multitask(MIX)))
    for base in BASES
}
FIG7_POLICIES = [
    names.rjs_policy(base, names.mixed(kind, mix))
    for base in ALIGN["ksweep"]["bases"]
    for mix in KSWEEP.values()
    for kind in ALIGN["ksweep"]["schemes"]
]
COMPARISONS = list(dict.fromkeys([*TABLE1_COMPARISONS.values(), *((p, "sft") for p in FIG7_POLICIES)]))


def comparison_file(root, ext, a="{a}", b="{b}", task="{task}"):
    return f"{root}/{names.comparison(a, b)}/{task}.{ext}"


def judgment_files(comparisons, root="results/judgments", ext="jsonl"):
    """Per comparison and task: its judgments, or (root, ext of the ledger) its ledger row."""
    return [comparison_file(root, ext, a, b, task) for a, b in comparisons for task in TASKS]


def score_files(schemes, sources, root="results/scores"):
    """One base's score files ({base} left as a wildcard), scheme-major: `keyed` pairs them with
    score_keys(...) in the same order."""
    return [f"{root}/{{base}}/{scheme}/{source}.parquet" for scheme in schemes for source in sources]


def score_keys(schemes, sources):
    return [names.key(scheme, source) for scheme in schemes for source in sources]


def keyed(name, keys):
    """`key=path` arguments for a script: `keys` (or keys(wildcards)) paired with the rule's input
    `name`, which lists exactly those files in that order, so a script opens only what its rule declares."""
    return lambda wildcards, input: [
        f"{k}={path}"
        for k, path in zip(keys(wildcards) if callable(keys) else keys, input[name], strict=True)
    ]


# scripts/launch.py's count of the GPUs a job sees (a local job inherits this run's devices)
launch_gpus = runpy.run_path(str(SCRIPTS / "launch.py"))["gpu_count"]


def zero_config(settings, gpus):
    """[the ZeRO config `settings` names] for a training job that reads it, else []: scripts/launch.py
    runs DeepSpeed on GPUs (`gpus`: the job's resources, or the devices this run sees) or on
    `cpu_ranks` > 1 CPU ranks; a job of one CPU process runs the plain loop and never opens it."""
    if max(gpus, launch_gpus(os.environ)) > 0 or settings.get("cpu_ranks", 1) > 1:
        return [settings["deepspeed"]]
    return []


def training_settings(block):
    """Settings of a causal-LM training job: the alignment stage's shared ones, then the block's."""
    return json.dumps({**ALIGN["train"], **block}, sort_keys=True)


def lm_spec(block, template):
    """What train_policy.py reads of a model block (--policy): where the model comes from and how a
    prompt is shown. Resources, RM overrides and the pretrain block (its settings travel in
    --settings, its sources as the input files) stay out, so changing them retrains nothing."""
    return json.dumps(
        {
            **{key: block[key] for key in ("pretrained", "tokenizer", "config") if key in block},
            "template": template,
        },
        sort_keys=True,
    )


def train_policy(data):
    """The one command of every causal-LM training rule (base LMs, policies); `data` says what it trains on."""
    return " ".join(
        [
            "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/align/train_policy.py --policy {params.policy:q}",
            data,
            "--settings {params.settings:q} --seed {params.seed} --output {output:q}",
            "--checkpoint-dir {params.checkpoints:q} --threads {threads} > {log:q} 2>&1",
        ]
    )


def lm_folder(base):
    """The causal LM the workflow pre-trains for a base (rule pretrain_base)."""
    return f"results/lm/{base}"


def policy_location(name):
    """A policy's folder, or the hub id of a policy the workflow does not train. The base policy is
    a hub model (`pretrained`), a base's pre-trained LM (`base_lm`) or its own (`pretrain`)."""
    if name != "base":
        return f"results/policy/{name}"
    if "base_lm" in POLICY:
        return lm_folder(POLICY["base_lm"])
    return POLICY.get("pretrained", "results/policy/base")


def policy_input(name):
    location = policy_location(name)
    return [location] if location.startswith("results/") else hub_manifests(location) + own_files(location)


def built_tokenizer(spec):
    """A model's own tokenizer: its folder when the workflow builds it (the synthetic world), its
    snapshot's manifest when it comes from the hub, its files when it is a folder of the user's."""
    tokenizer = spec.get("tokenizer")
    if tokenizer and tokenizer.startswith("results/"):
        return [tokenizer]
    return hub_manifests(tokenizer) + own_files(tokenizer)


def reward_settings(wildcards):
    """The `reward` block with the base's overrides; MORE's own settings only for MORE, so that
    changing them reruns MORE's RMs and nothing else."""
    settings = {**config["reward"], **config["bases"][wildcards.base].get("reward", {})}
    if names.scheme_kind(wildcards.scheme) != "more":
        settings.pop("more")
    return json.dumps(settings, sort_keys=True)


def scoring_settings(wildcards):
    """What scoring reads of the reward settings: a training setting must not rescore."""
    settings = json.loads(reward_settings(wildcards))
    return json.dumps(
        {key: settings[key] for key in ("max_length", "score_batch_size", "packed") if key in settings},
        sort_keys=True,
    )


def base_block(wildcards):
    return config["bases"][wildcards.base].get("resources", {})


def policy_block(wildcards):
    return POLICY.get("resources", {})


def job_resources(block, training):
    """Cluster resources from a `resources` block (a base's or the policy's): a training job takes
    its GPUs, memory and run time; any other job runs one process, so one GPU at most."""

    def get(name, default, most=None):
        return lambda wildcards: min(most or math.inf, block(wildcards).get(name, default))

    if training:
        return {"gpu": get("gpus", 0), "mem_mb": get("mem_mb", 2000), "runtime": get("runtime", 60)}
    return {"gpu": get("gpus", 0, most=1)}


# ---- code inputs: a rule reruns when its script or any library module it reaches changes -----
def _module_file(name):
    """The file of the more_lib module named `name` (dotted, as "more_lib.reward.train"), or None."""
    path = REPO.joinpath(*name.split("."))
    return next((f for f in (path.with_suffix(".py"), path / "__init__.py") if f.is_file()), None)


@functools.cache
def _library_imports(path, package):
    """The more_lib modules a Python file imports, wherever the import statement is: `from P import x`
    names the module P.x where there is one, else P itself. `package` resolves relative imports."""
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            base = (
                ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            )
            dotted = ".".join(filter(None, [base, node.module]))
            if dotted.split(".")[0] == "more_lib":
                found |= {
                    f"{dotted}.{a.name}" if _module_file(f"{dotted}.{a.name}") else dotted for a in node.names
                }
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "more_lib"}
    return found


@functools.cache
def library_closure(path):
    """Every more_lib file `path` reaches through imports, each package's __init__ on the way included
    (importing a module runs them)."""
    reached, todo = set(), sorted(_library_imports(path, ""))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for dotted in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
            file = _module_file(dotted)
            if dotted not in reached and file:
                reached.add(dotted)
                package = dotted if file.name == "__init__.py" else dotted.rpartition(".")[0]
                todo += sorted(_library_imports(file, package))
    return tuple(sorted(str(_module_file(m)) for m in reached))


def code(*scripts):
    """The scripts a rule runs, the launcher that starts each of them (scripts/launch.py, a fork
    of the run's warm-start server where it can) and every library module they reach (derived,
    never listed by hand)."""
    paths = [str(SCRIPTS / script) for script in dict.fromkeys(["launch.py", *scripts])]
    return list(dict.fromkeys([*paths, *(m for path in paths for m in library_closure(path))]))


def alternatives(values):
    return "|".join(re.escape(v) for v in values) or "(?!)"


wildcard_constraints:
    source=alternatives(SOURCES),
    base=alternatives(BASES),
    scheme=alternatives(SCHEMES),
    policy=alternatives(POLICIES),
    a=alternatives(POLICIES),
    b=alternatives(POLICIES),
    task=alternatives(TASKS),
    variant=alternatives([names.alpha_variant(alpha) for alpha in config["ablations"]["alpha"]]),
    n=r"\d+",
    repo=alternatives(HUB_REPOS),
    rep=f"(?:{alternatives(sorted({prefix for base in BASES for prefix in replicates(base).values() if prefix}))})?",


# Sub-minute CPU jobs run on the submitting node: a cluster run does not queue them. (A dry run
# prints every job as "rule", so the list is said once here; a real run prints "localrule".)
LOCAL_RULES = [
    "hub",
    "hub_fetch",
    "hub_lock",
    "hub_refresh",
    "data_report",
    "evaluate_rm",
    "table2",
    "table2_seeds",
    "outliers",
    "ksweep",
    "calibration",
    "truth",
    "claims",
    "fig_cross_dataset",
    "fig_schemes",
    "fig_reward_differences",
    "fig_ksweep",
    "fig_reliability",
    "fig_lambda",
    "fig_length_bias",
    "fig_truth",
    "fig_claims",
    "rjs_select",
    "selection_table",
    "ppl_table",
    "judge_ledger",
    "table1",
    "fig7",
    "ablations_table",
    "fig_ablations",
]
logger.info(f"Local rules (run by snakemake itself, never submitted to a cluster): {', '.join(LOCAL_RULES)}")

workflow.localrules(*LOCAL_RULES)
