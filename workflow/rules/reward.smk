# Reward models: one per base x scheme (raw, single-{source}, multitask-{mix}, more-{mix}).


def scheme_train_files(wildcards):
    return [f"results/data/{s}/train.{RESAMPLE_N}.jsonl" for s in scheme_sources(wildcards.scheme)]


def base_spec(wildcards):
    return json.dumps(config["bases"][wildcards.base], sort_keys=True)


def base_inputs(wildcards):
    return built_tokenizer(config["bases"][wildcards.base])


rule train_rm:
    input:
        base_inputs,
        train=scheme_train_files,
        code=code("launch.py", "train_rm.py"),
    output:
        directory("results/rm/{base}/{scheme}"),
    params:
        base=base_spec,
        kind=lambda wildcards: names.scheme_kind(wildcards.scheme),
        settings=reward_settings,
        seed=config["seed"],
        checkpoints="results/checkpoints/rm/{base}/{scheme}",
    threads: 1
    resources:
        **job_resources(base_block, training=True),
    log:
        "results/logs/train_rm/{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/train_rm/{base}/{scheme}.tsv"
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/train_rm.py --base {params.base:q} --scheme {params.kind:q}"
        " --train {input.train:q} --settings {params.settings:q} --seed {params.seed}"
        " --output {output:q} --checkpoint-dir {params.checkpoints:q} --threads {threads} > {log:q} 2>&1"
