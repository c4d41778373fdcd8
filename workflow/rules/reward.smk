# Reward models: one per base x scheme (raw, single-{source}, multitask-{mix}, more-{mix}).


def ksweep_mixes():
    """{K: mix} for the K-sweep: the first K sources of `analysis.ksweep`, under the name of a
    configured mix with exactly those sources (trained once) or else `k{K}`."""
    order = config["analysis"]["ksweep"]
    named = {tuple(members): name for name, members in config["mixes"].items()}
    mixes = {k: named.get(tuple(order[:k]), f"k{k}") for k in range(2, len(order) + 1)}
    for k, mix in mixes.items():
        if config["mixes"].get(mix, order[:k]) != order[:k]:
            raise ValueError(f"config key 'mixes.{mix}': the name is the K-sweep's for {order[:k]}; rename the mix")
    return mixes


KSWEEP = ksweep_mixes()
MIXES = {**{mix: config["analysis"]["ksweep"][:k] for k, mix in KSWEEP.items()}, **config["mixes"]}


def reward_schemes():
    mix = config["evaluation"]["table2"]["mix"]
    return ["raw", *(f"single-{s}" for s in SOURCES), f"multitask-{mix}", f"more-{mix}"]


def scheme_kind(wildcards):
    return wildcards.scheme.split("-", 1)[0]


def scheme_sources(scheme):
    kind, _, rest = scheme.partition("-")
    if kind == "raw":
        return []
    return [rest] if kind == "single" else MIXES[rest]


def scheme_train_files(wildcards):
    n = config["resample"]["n"]
    return [f"results/data/{s}/train.{n}.jsonl" for s in scheme_sources(wildcards.scheme)]


def base_spec(wildcards):
    return json.dumps(config["bases"][wildcards.base], sort_keys=True)


def built_tokenizer(spec):
    """A model's tokenizer folder when the workflow builds it (the synthetic world)."""
    tokenizer = spec.get("tokenizer")
    return [tokenizer] if tokenizer and tokenizer.startswith("results/") else []


def base_inputs(wildcards):
    return built_tokenizer(config["bases"][wildcards.base])


def reward_settings(wildcards):
    """The `reward` block with the base's overrides; MORE's own settings only for MORE, so that
    changing them reruns MORE's RMs and nothing else."""
    base = config["bases"][wildcards.base]
    settings = {**config["reward"], **base.get("reward", {})}
    if scheme_kind(wildcards) != "more":
        settings.pop("more")
    return json.dumps(settings, sort_keys=True)


def scoring_settings(wildcards):
    """What scoring reads of the reward settings: a training setting must not rescore."""
    settings = json.loads(reward_settings(wildcards))
    return json.dumps({key: settings[key] for key in ("max_length", "score_batch_size")}, sort_keys=True)


def base_resource(name, default):
    return lambda wildcards: config["bases"][wildcards.base].get("resources", {}).get(name, default)


rule train_rm:
    input:
        base_inputs,
        train=scheme_train_files,
        code=code("train_rm.py", "train", "models", "weighting"),
    output:
        directory("results/rm/{base}/{scheme}"),
    params:
        base=base_spec,
        kind=scheme_kind,
        settings=reward_settings,
        seed=config["seed"],
        checkpoints="results/checkpoints/rm/{base}/{scheme}",
    threads: 1
    resources:
        gpu=base_resource("gpus", 0),
        mem_mb=base_resource("mem_mb", 2000),
        runtime=base_resource("runtime", 60),
    log:
        "results/logs/train_rm/{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/train_rm/{base}/{scheme}.tsv"
    shell:
        "python {SCRIPTS}/launch.py {SCRIPTS}/train_rm.py --base {params.base:q} --scheme {params.kind}"
        " --train {input.train} --settings {params.settings:q} --seed {params.seed}"
        " --output {output} --checkpoint-dir {params.checkpoints} --threads {threads} > {log} 2>&1"


wildcard_constraints:
    base="|".join(config["bases"]),
    scheme=r"raw|(single|multitask|more)-[A-Za-z0-9_]+",
