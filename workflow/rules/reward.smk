# Reward models: one per base x scheme (raw, single-{source}, multitask-{mix}, more-{mix}), and per
# extra seed for the bases `replicates` names ({rep}: "" for the primary run, "seed{N}/" otherwise).
# A base built from a config is first pre-trained as a causal LM (results/lm/{base}); its RMs
# start from that LM, as the paper's start from Pythia or LLaMA.


def scheme_train_files(wildcards):
    return [f"results/data/{s}/train.{RESAMPLE_N}.jsonl" for s in scheme_sources(wildcards.scheme)]


def base_spec(wildcards):
    return json.dumps(config["bases"][wildcards.base], sort_keys=True)


def base_lm(base):
    """The pre-trained LM a base's RMs start from, when the workflow pre-trains one."""
    return [lm_folder(base)] if "pretrain" in config["bases"][base] else []


def base_inputs(wildcards):
    base = config["bases"][wildcards.base]
    pretrained = base.get("pretrained")
    return built_tokenizer(base) + base_lm(wildcards.base) + hub_manifests(pretrained) + own_files(pretrained)


def base_lm_spec(wildcards):
    """The base as train_policy.py reads a policy: its architecture and tokenizer, prompts as they are."""
    return lm_spec(config["bases"][wildcards.base], "{prompt}")


def base_gpus(wildcards):
    return base_block(wildcards).get("gpus", 0)


def base_lm_settings(wildcards):
    return training_settings(config["bases"][wildcards.base]["pretrain"])


def base_lm_pairs(wildcards):
    sources = config["bases"][wildcards.base]["pretrain"].get("sources", [])
    return expand("results/data/{source}/train.jsonl", source=sources)


rule pretrain_base:
    input:
        tokenizer=lambda wildcards: built_tokenizer(config["bases"][wildcards.base]),
        pairs=base_lm_pairs,
        zero=lambda wildcards: zero_config(json.loads(base_lm_settings(wildcards)), base_gpus(wildcards)),
        code=code("launch.py", "align/train_policy.py"),
    output:
        directory(lm_folder("{base}")),
    log:
        "results/logs/pretrain_base/{base}.log",
    benchmark:
        "results/benchmarks/pretrain_base/{base}.tsv"
    threads: 1
    resources:
        **job_resources(base_block, training=True),
    params:
        policy=base_lm_spec,
        settings=base_lm_settings,
        seed=config["seed"],
        checkpoints="results/checkpoints/lm/{base}",
    shell:
        train_policy("--pairs {input.pairs:q} --responses chosen rejected")


rule train_rm:
    input:
        base_inputs,
        train=scheme_train_files,
        zero=lambda wildcards: zero_config(json.loads(reward_settings(wildcards)), base_gpus(wildcards)),
        code=code("launch.py", "reward/train_rm.py"),
    output:
        directory("results/{rep}rm/{base}/{scheme}"),
    log:
        "results/logs/train_rm/{rep}{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/train_rm/{rep}{base}/{scheme}.tsv"
    threads: 1
    resources:
        **job_resources(base_block, training=True),
    params:
        base=base_spec,
        init=lambda wildcards: [arg for path in base_lm(wildcards.base) for arg in ("--init", path)],
        kind=lambda wildcards: names.scheme_kind(wildcards.scheme),
        settings=reward_settings,
        cpu_ranks=lambda wildcards: json.loads(reward_settings(wildcards)).get("cpu_ranks", 1),
        seed=replicate_seed,
        checkpoints="results/checkpoints/{rep}rm/{base}/{scheme}",
    shell:
        "python {SCRIPTS:q}/launch.py --cpu-ranks {params.cpu_ranks} {SCRIPTS:q}/reward/train_rm.py --base {params.base:q} {params.init:q}"
        " --scheme {params.kind:q} --train {input.train:q} --settings {params.settings:q} --seed {params.seed}"
        " --output {output:q} --checkpoint-dir {params.checkpoints:q} --threads {threads} > {log:q} 2>&1"
