# Alignment (§6): the policy, its SFT baseline, rejection sampling with each RM, generations and
# perplexity. Sampling, scoring and selection are separate artifacts: a changed RM re-scores the
# same samples. RJS artifacts: results/rjs/samples.parquet (drawn from the base policy), then per
# RM results/rjs/by_rm/{base}/{scheme}/ (scores, the best-of-S set, its summary).
RJS_BY_RM = "results/rjs/by_rm/{base}/{scheme}"


def alignment_files(split):
    return [f"results/data/{s}/{split}.jsonl" for s in ALIGN["sources"]]


# params are functions: a string holding "{prompt}" would be read as a wildcard
def policy_spec(wildcards):
    return lm_spec(POLICY, POLICY["template"])


def policy_template(wildcards):
    return POLICY["template"]


def policy_zero_config(block):
    return zero_config(json.loads(training_settings(block)), POLICY.get("resources", {}).get("gpus", 0))


def rjs_examples(wildcards):
    """The best-of-S set behind an RJS policy."""
    base, scheme = names.parse_policy(wildcards.policy)
    return expand(f"{RJS_BY_RM}/selected.parquet", base=base, scheme=scheme)


rule pretrain_policy:
    input:
        built_tokenizer(POLICY),
        pairs=expand(
            "results/data/{source}/train.jsonl", source=POLICY.get("pretrain", {}).get("sources", [])
        ),
        zero=policy_zero_config(POLICY.get("pretrain", {})),
        code=code("launch.py", "align/train_policy.py"),
    output:
        directory("results/policy/base"),
    log:
        "results/logs/policy/base.log",
    benchmark:
        "results/benchmarks/policy/base.tsv"
    threads: 1
    resources:
        **job_resources(policy_block, training=True),
    params:
        policy=policy_spec,
        settings=training_settings(POLICY.get("pretrain", {})),
        seed=config["seed"],
        checkpoints="results/checkpoints/policy/base",
    shell:
        train_policy("--pairs {input.pairs:q} --responses chosen rejected")


rule sft_policy:
    input:
        built_tokenizer(POLICY),  # named in the policy spec: its checkpoint fingerprint reads it
        policy_input("base"),
        pairs=alignment_files("train"),
        zero=policy_zero_config(ALIGN["sft"]),
        code=code("launch.py", "align/train_policy.py"),
    output:
        directory("results/policy/sft"),
    log:
        "results/logs/policy/sft.log",
    benchmark:
        "results/benchmarks/policy/sft.tsv"
    threads: 1
    resources:
        **job_resources(policy_block, training=True),
    params:
        policy=policy_spec,
        init=policy_location("base"),
        settings=training_settings(ALIGN["sft"]),
        seed=config["seed"],
        checkpoints="results/checkpoints/policy/sft",
    shell:
        train_policy("--init {params.init:q} --pairs {input.pairs:q}")


rule rjs_policy:
    input:
        built_tokenizer(POLICY),  # named in the policy spec: its checkpoint fingerprint reads it
        policy_input("base"),
        examples=rjs_examples,
        zero=policy_zero_config(ALIGN["rjs"]["training"]),
        code=code("launch.py", "align/train_policy.py"),
    output:
        directory("results/policy/{policy}"),
    log:
        "results/logs/policy/{policy}.log",
    benchmark:
        "results/benchmarks/policy/{policy}.tsv"
    wildcard_constraints:
        policy=alternatives(RJS_POLICIES),
    threads: 1
    resources:
        **job_resources(policy_block, training=True),
    params:
        policy=policy_spec,
        init=policy_location("base"),
        settings=training_settings(ALIGN["rjs"]["training"]),
        seed=config["seed"],
        checkpoints="results/checkpoints/policy/{policy}",
    shell:
        train_policy("--init {params.init:q} --examples {input.examples:q}")


rule rjs_sample:
    input:
        policy_input("base"),
        prompts=alignment_files("train"),
        code=code("align/rjs_sample.py"),
    output:
        "results/rjs/samples.parquet",
    log:
        "results/logs/rjs/sample.log",
    benchmark:
        "results/benchmarks/rjs/sample.tsv"
    threads: 1
    resources:
        **job_resources(policy_block, training=False),
    params:
        policy=policy_location("base"),
        template=policy_template,
        settings=json.dumps(ALIGN["rjs"], sort_keys=True),
        seed=config["seed"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/align/rjs_sample.py --policy {params.policy:q} --template {params.template:q}"
        " --prompts {input.prompts:q} --settings {params.settings:q} --seed {params.seed}"
        " --output {output:q} --threads {threads} > {log:q} 2>&1"


rule rjs_score:
    input:
        rm="results/rm/{base}/{scheme}",
        samples="results/rjs/samples.parquet",
        code=code("align/rjs_score.py"),
    output:
        f"{RJS_BY_RM}/scores.parquet",
    log:
        "results/logs/rjs/score/{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/rjs/score/{base}/{scheme}.tsv"
    threads: 1
    resources:
        **job_resources(base_block, training=False),
    params:
        settings=scoring_settings,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/align/rjs_score.py --rm {input.rm:q} --samples {input.samples:q} --settings {params.settings:q}"
        " --output {output:q} --threads {threads} > {log:q} 2>&1"


rule rjs_select:
    input:
        samples="results/rjs/samples.parquet",
        scores=f"{RJS_BY_RM}/scores.parquet",
        code=code("align/rjs_select.py"),
    output:
        selected=f"{RJS_BY_RM}/selected.parquet",
        summary=f"{RJS_BY_RM}/selection.csv",
    log:
        "results/logs/rjs/select/{base}/{scheme}.log",
    params:
        world=json.dumps(config.get("synthetic", {}), sort_keys=True),
        drifts=json.dumps(
            {s: config["sources"][s].get("drift", {}) for s in ALIGN["sources"]}, sort_keys=True
        ),
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/align/rjs_select.py --samples {input.samples:q} --scores {input.scores:q}"
        " --world {params.world:q} --drifts {params.drifts:q} --label {wildcards.base:q} {wildcards.scheme:q}"
        " --selected {output.selected:q} --summary {output.summary:q} > {log:q} 2>&1"


rule selection_table:
    input:
        summaries=[
            expand(f"{RJS_BY_RM}/selection.csv", base=base, scheme=scheme)[0]
            for base, scheme in [*((b, "raw") for b in BASES), *aligned_rms()]
        ],
        code=code("concat_csv.py"),
    output:
        report("results/rjs/selection.csv", caption="../report/selection.rst", category="Alignment"),
    log:
        "results/logs/rjs/selection.log",
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/concat_csv.py {input.summaries:q} --output {output:q} > {log:q} 2>&1"


rule generate:
    input:
        lambda wildcards: policy_input(wildcards.policy),
        tests=alignment_files("test"),
        code=code("align/generate.py"),
    output:
        expand("results/generations/{{policy}}/{source}.jsonl", source=ALIGN["sources"]),
    log:
        "results/logs/generate/{policy}.log",
    benchmark:
        "results/benchmarks/generate/{policy}.tsv"
    threads: 1
    resources:
        **job_resources(policy_block, training=False),
    params:
        policy=lambda wildcards: policy_location(wildcards.policy),
        template=policy_template,
        settings=json.dumps(ALIGN["generation"], sort_keys=True),
        seed=config["seed"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/align/generate.py --policy {params.policy:q} --template {params.template:q}"
        " --tests {input.tests:q} --outputs {output:q} --settings {params.settings:q} --seed {params.seed}"
        " --threads {threads} > {log:q} 2>&1"


rule perplexity:
    input:
        lambda wildcards: policy_input(wildcards.policy),
        tests=alignment_files("test"),
        code=code("align/perplexity.py"),
    output:
        "results/ppl/{policy}.csv",
    log:
        "results/logs/perplexity/{policy}.log",
    benchmark:
        "results/benchmarks/perplexity/{policy}.tsv"
    threads: 1
    resources:
        **job_resources(policy_block, training=False),
    params:
        policy=lambda wildcards: policy_location(wildcards.policy),
        template=policy_template,
        settings=json.dumps(ALIGN["perplexity"], sort_keys=True),
        max_length=ALIGN["train"]["max_length"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/align/perplexity.py --policy {params.policy:q} --name {wildcards.policy:q}"
        " --template {params.template:q} --tests {input.tests:q} --settings {params.settings:q}"
        " --max-length {params.max_length} --output {output:q} --threads {threads} > {log:q} 2>&1"


rule ppl_table:
    input:
        tables=expand("results/ppl/{policy}.csv", policy=POLICIES),
        code=code("concat_csv.py"),
    output:
        report("results/ppl.csv", caption="../report/ppl.rst", category="Alignment"),
    log:
        "results/logs/ppl.log",
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/concat_csv.py {input.tables:q} --output {output:q} > {log:q} 2>&1"


rule align:
    input:
        "results/policy/sft",
        expand("results/policy/{policy}", policy=RJS_POLICIES),
        expand("results/generations/{policy}/{source}.jsonl", policy=POLICIES, source=ALIGN["sources"]),
        "results/ppl.csv",
        "results/rjs/selection.csv",
