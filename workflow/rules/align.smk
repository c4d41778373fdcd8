# Alignment (§6): the policy, its SFT baseline, rejection sampling with each RM, generations and
# perplexity. Sampling, scoring and selection are separate artifacts: a changed RM re-scores the
# same samples.
ALIGN = config["alignment"]
POLICY = config["policy"]


def aligned_rms():
    """(base, scheme) of every RM a policy is aligned with: MultiTask and MORE of every base
    (Table 1) and the K-sweep RMs of the bases `alignment.ksweep` names (Fig. 7)."""
    mix = config["evaluation"]["table2"]["mix"]
    rms = [(base, f"{kind}-{mix}") for base in config["bases"] for kind in ("multitask", "more")]
    rms += [(base, f"{kind}-{m}") for base in ALIGN["ksweep"]["bases"] for m in KSWEEP.values()
            for kind in ALIGN["ksweep"]["schemes"]]
    return list(dict.fromkeys(rms))


RJS_POLICIES = [f"rjs-{base}-{scheme}" for base, scheme in aligned_rms()]
POLICIES = ["base", "sft", *RJS_POLICIES]


def policy_location(name):
    """A policy's folder, or the hub id of a policy the workflow does not train."""
    return POLICY.get("pretrained", "results/policy/base") if name == "base" else f"results/policy/{name}"


def policy_input(name):
    location = policy_location(name)
    return [location] if location.startswith("results/") else []


def alignment_files(split):
    return [f"results/data/{s}/{split}.jsonl" for s in ALIGN["sources"]]


def training_settings(block):
    return json.dumps({**ALIGN["train"], **block}, sort_keys=True)


# params are functions: a string holding "{prompt}" would be read as a wildcard
def policy_spec(wildcards):
    return json.dumps(POLICY, sort_keys=True)


def policy_template(wildcards):
    return POLICY["template"]


def policy_resource(name, default):
    return POLICY.get("resources", {}).get(name, default)


def rjs_examples(wildcards):
    """The best-of-S set behind an `rjs-{base}-{scheme}` policy."""
    base, scheme = next((b, s) for b, s in aligned_rms() if f"rjs-{b}-{s}" == wildcards.policy)
    return f"results/rjs/base/{base}/{scheme}/selected.parquet"


wildcard_constraints:
    policy="|".join(re.escape(p) for p in POLICIES),


rule pretrain_policy:
    input:
        built_tokenizer(POLICY),
        pairs=expand("results/data/{source}/train.jsonl", source=POLICY.get("pretrain", {}).get("sources", [])),
        code=code("train_policy.py", "train", "policy"),
    output:
        directory("results/policy/base"),
    params:
        policy=policy_spec,
        settings=training_settings(POLICY.get("pretrain", {})),
        seed=config["seed"],
        checkpoints="results/checkpoints/policy/base",
    threads: 1
    log:
        "results/logs/policy/base.log",
    benchmark:
        "results/benchmarks/policy/base.tsv"
    shell:
        "python {SCRIPTS}/launch.py {SCRIPTS}/train_policy.py --policy {params.policy:q} --pairs {input.pairs}"
        " --responses chosen rejected --settings {params.settings:q} --seed {params.seed}"
        " --output {output} --checkpoint-dir {params.checkpoints} --threads {threads} > {log} 2>&1"


rule sft_policy:
    input:
        policy_input("base"),
        pairs=alignment_files("train"),
        code=code("train_policy.py", "train", "policy"),
    output:
        directory("results/policy/sft"),
    params:
        policy=policy_spec,
        init=policy_location("base"),
        settings=training_settings(ALIGN["sft"]),
        seed=config["seed"],
        checkpoints="results/checkpoints/policy/sft",
    threads: 1
    resources:
        gpu=policy_resource("gpus", 0),
        mem_mb=policy_resource("mem_mb", 2000),
        runtime=policy_resource("runtime", 60),
    log:
        "results/logs/policy/sft.log",
    benchmark:
        "results/benchmarks/policy/sft.tsv"
    shell:
        "python {SCRIPTS}/launch.py {SCRIPTS}/train_policy.py --policy {params.policy:q} --init {params.init} --pairs {input.pairs}"
        " --settings {params.settings:q} --seed {params.seed}"
        " --output {output} --checkpoint-dir {params.checkpoints} --threads {threads} > {log} 2>&1"


rule rjs_sample:
    input:
        policy_input("base"),
        prompts=alignment_files("train"),
        code=code("rjs_sample.py", "rjs", "policy"),
    output:
        "results/rjs/base/samples.parquet",
    params:
        policy=policy_location("base"),
        template=policy_template,
        settings=json.dumps(ALIGN["rjs"], sort_keys=True),
        seed=config["seed"],
    threads: 1
    resources:
        gpu=min(1, policy_resource("gpus", 0)),
    log:
        "results/logs/rjs/sample.log",
    benchmark:
        "results/benchmarks/rjs/sample.tsv"
    shell:
        "python {SCRIPTS}/rjs_sample.py --policy {params.policy} --template {params.template:q}"
        " --prompts {input.prompts} --settings {params.settings:q} --seed {params.seed}"
        " --output {output} --threads {threads} > {log} 2>&1"


rule rjs_score:
    input:
        rm="results/rm/{base}/{scheme}",
        samples="results/rjs/base/samples.parquet",
        code=code("rjs_score.py", "scoring", "policy"),
    output:
        "results/rjs/base/{base}/{scheme}/scores.parquet",
    params:
        settings=scoring_settings,
    threads: 1
    resources:
        gpu=lambda wildcards: min(1, base_resource("gpus", 0)(wildcards)),
    log:
        "results/logs/rjs/score/{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/rjs/score/{base}/{scheme}.tsv"
    shell:
        "python {SCRIPTS}/rjs_score.py --rm {input.rm} --samples {input.samples} --settings {params.settings:q}"
        " --output {output} --threads {threads} > {log} 2>&1"


rule rjs_select:
    input:
        samples="results/rjs/base/samples.parquet",
        scores="results/rjs/base/{base}/{scheme}/scores.parquet",
        code=code("rjs_select.py", "rjs", "synthetic"),
    output:
        selected="results/rjs/base/{base}/{scheme}/selected.parquet",
        summary="results/rjs/base/{base}/{scheme}/selection.csv",
    params:
        world=json.dumps(config.get("synthetic", {}), sort_keys=True),
        drifts=json.dumps({s: config["sources"][s].get("drift", {}) for s in ALIGN["sources"]}, sort_keys=True),
    log:
        "results/logs/rjs/select/{base}/{scheme}.log",
    shell:
        "python {SCRIPTS}/rjs_select.py --samples {input.samples} --scores {input.scores}"
        " --world {params.world:q} --drifts {params.drifts:q} --label {wildcards.base} {wildcards.scheme}"
        " --selected {output.selected} --summary {output.summary} > {log} 2>&1"


rule rjs_policy:
    input:
        policy_input("base"),
        examples=rjs_examples,
        code=code("train_policy.py", "train", "policy"),
    output:
        directory("results/policy/{policy}"),
    wildcard_constraints:
        policy="|".join(re.escape(p) for p in RJS_POLICIES),
    params:
        policy=policy_spec,
        init=policy_location("base"),
        settings=training_settings(ALIGN["rjs"]["training"]),
        seed=config["seed"],
        checkpoints="results/checkpoints/policy/{policy}",
    threads: 1
    resources:
        gpu=policy_resource("gpus", 0),
        mem_mb=policy_resource("mem_mb", 2000),
        runtime=policy_resource("runtime", 60),
    log:
        "results/logs/policy/{policy}.log",
    benchmark:
        "results/benchmarks/policy/{policy}.tsv"
    shell:
        "python {SCRIPTS}/launch.py {SCRIPTS}/train_policy.py --policy {params.policy:q} --init {params.init}"
        " --examples {input.examples} --settings {params.settings:q} --seed {params.seed}"
        " --output {output} --checkpoint-dir {params.checkpoints} --threads {threads} > {log} 2>&1"


rule selection_table:
    input:
        summaries=[f"results/rjs/base/{base}/{scheme}/selection.csv"
                   for base, scheme in [*((b, "raw") for b in config["bases"]), *aligned_rms()]],
        code=code("concat_csv.py"),
    output:
        report("results/rjs/selection.csv", caption="../report/selection.rst", category="Alignment"),
    log:
        "results/logs/rjs/selection.log",
    shell:
        "python {SCRIPTS}/concat_csv.py {input.summaries} --output {output} > {log} 2>&1"


rule generate:
    input:
        lambda wildcards: policy_input(wildcards.policy),
        tests=alignment_files("test"),
        code=code("generate.py", "policy", "rjs"),
    output:
        expand("results/generations/{{policy}}/{source}.jsonl", source=ALIGN["sources"]),
    params:
        policy=lambda wildcards: policy_location(wildcards.policy),
        template=policy_template,
        settings=json.dumps(ALIGN["generation"], sort_keys=True),
        seed=config["seed"],
    threads: 1
    resources:
        gpu=min(1, policy_resource("gpus", 0)),
    log:
        "results/logs/generate/{policy}.log",
    benchmark:
        "results/benchmarks/generate/{policy}.tsv"
    shell:
        "python {SCRIPTS}/generate.py --policy {params.policy} --template {params.template:q}"
        " --tests {input.tests} --outputs {output} --settings {params.settings:q} --seed {params.seed}"
        " --threads {threads} > {log} 2>&1"


rule perplexity:
    input:
        lambda wildcards: policy_input(wildcards.policy),
        tests=alignment_files("test"),
        code=code("perplexity.py", "policy"),
    output:
        "results/ppl/{policy}.csv",
    params:
        policy=lambda wildcards: policy_location(wildcards.policy),
        template=policy_template,
        settings=json.dumps(ALIGN["perplexity"], sort_keys=True),
        max_length=ALIGN["train"]["max_length"],
    threads: 1
    resources:
        gpu=min(1, policy_resource("gpus", 0)),
    log:
        "results/logs/perplexity/{policy}.log",
    benchmark:
        "results/benchmarks/perplexity/{policy}.tsv"
    shell:
        "python {SCRIPTS}/perplexity.py --policy {params.policy} --name {wildcards.policy}"
        " --template {params.template:q} --tests {input.tests} --settings {params.settings:q}"
        " --max-length {params.max_length} --output {output} --threads {threads} > {log} 2>&1"


rule ppl_table:
    input:
        tables=expand("results/ppl/{policy}.csv", policy=POLICIES),
        code=code("concat_csv.py"),
    output:
        report("results/ppl.csv", caption="../report/ppl.rst", category="Alignment"),
    log:
        "results/logs/ppl.log",
    shell:
        "python {SCRIPTS}/concat_csv.py {input.tables} --output {output} > {log} 2>&1"


rule align:
    input:
        "results/policy/sft",
        expand("results/policy/{policy}", policy=RJS_POLICIES),
        expand("results/generations/{policy}/{source}.jsonl", policy=POLICIES, source=ALIGN["sources"]),
        "results/ppl.csv",
        "results/rjs/selection.csv",
