# Data stage: canonical splits per source, the resampled training set, the report, the tokenizer.


def source_spec(wildcards):
    return json.dumps(config["sources"][wildcards.source], sort_keys=True)


def world_spec(wildcards):
    """The synthetic world, for synthetic sources only (a hub source does not depend on it)."""
    spec = config["sources"][wildcards.source]
    return json.dumps(config["synthetic"] if spec["kind"] == "synthetic" else {}, sort_keys=True)


def source_files(wildcards):
    """Local files a source is read from, so that editing them reruns its preparation. A hub
    snapshot is stood for by its manifest (its commit and files), a folder of the user's own by
    every file in it."""
    spec = config["sources"][wildcards.source]
    paths = [spec[split] for split in ("train", "test") if spec["kind"] == "jsonl"]
    return paths + hub_manifests(spec.get("path")) + own_files(spec.get("path"))


def data_targets():
    targets = [
        *expand("results/data/{source}/{split}.jsonl", source=SOURCES, split=["train", "test"]),
        *expand("results/data/{source}/train.{n}.jsonl", source=SOURCES, n=RESAMPLE_N),
        "results/data/report.csv",
    ]
    if "tokenizer" in config:
        targets.append("results/tokenizer")
    return targets


rule data:
    input:
        data_targets(),


rule prepare_source:
    input:
        source_files,
        code=code("data/prepare_data.py"),
    output:
        train="results/data/{source}/train.jsonl",
        test="results/data/{source}/test.jsonl",
        report="results/data/{source}/prepare.json",
    log:
        "results/logs/prepare_source/{source}.log",
    benchmark:
        "results/benchmarks/prepare_source/{source}.tsv"
    params:
        spec=source_spec,
        world=world_spec,
        seed=config["seed"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/data/prepare_data.py --source {wildcards.source:q} --spec {params.spec:q}"
        " --world {params.world:q} --seed {params.seed} --train {output.train:q} --test {output.test:q}"
        " --report {output.report:q}"
        " > {log:q} 2>&1"


rule holdout_source:
    input:
        train="results/data/{source}/train.jsonl",
        code=code("data/holdout_data.py"),
    output:
        rest="results/data/{source}/train.rest.jsonl",
        heldout="results/data/{source}/heldout.jsonl",
    log:
        "results/logs/holdout_source/{source}.log",
    params:
        n=config["calibration"]["heldout"],
        seed=config["seed"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/data/holdout_data.py --input {input.train:q} --n {params.n} --seed {params.seed}"
        " --rest {output.rest:q} --heldout {output.heldout:q} > {log:q} 2>&1"


rule resample_source:
    input:
        train="results/data/{source}/train.rest.jsonl",
        heldout="results/data/{source}/heldout.jsonl",
        code=code("data/resample_data.py"),
    output:
        records="results/data/{source}/train.{n}.jsonl",
        summary="results/data/{source}/train.{n}.json",
    log:
        "results/logs/resample_source/{source}.{n}.log",
    benchmark:
        "results/benchmarks/resample_source/{source}.{n}.tsv"
    params:
        seed=config["seed"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/data/resample_data.py --input {input.train:q} --n {wildcards.n:q}"
        " --seed {params.seed} --output {output.records:q} --summary {output.summary:q}"
        " --heldout {input.heldout:q} > {log:q} 2>&1"


def source_repositories():
    """{source: its hub repository's key in the lock} for the sources read from the hub."""
    return {
        name: HUB_FOLDERS[spec["path"]]
        for name, spec in config["sources"].items()
        if spec.get("path") in HUB_FOLDERS
    }


rule data_report:
    input:
        prepared=expand("results/data/{source}/prepare.json", source=SOURCES),
        resampled=expand("results/data/{source}/train.{n}.json", source=SOURCES, n=RESAMPLE_N),
        lock=[HUB_LOCK] if source_repositories() else [],
        code=code("data/data_report.py"),
    output:
        report("results/data/report.csv", caption="../report/data_report.rst", category="Data"),
    log:
        "results/logs/data_report.log",
    benchmark:
        "results/benchmarks/data_report.tsv"
    params:
        paper_counts=json.dumps(config.get("paper_counts", {}), sort_keys=True),
        repositories=json.dumps(source_repositories(), sort_keys=True),
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/data/data_report.py --prepared {input.prepared:q}"
        " --resampled {input.resampled:q} --paper-counts {params.paper_counts:q}"
        " --lock {input.lock:q} --repositories {params.repositories:q} --output {output:q} > {log:q} 2>&1"


rule build_tokenizer:
    input:
        corpus=expand("results/data/{source}/train.jsonl", source=SOURCES),
        code=code("data/build_tokenizer.py"),
    output:
        directory("results/tokenizer"),
    log:
        "results/logs/build_tokenizer.log",
    benchmark:
        "results/benchmarks/build_tokenizer.tsv"
    params:
        min_frequency=config.get("tokenizer", {}).get("min_frequency", 1),
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/data/build_tokenizer.py --inputs {input.corpus:q}"
        " --min-frequency {params.min_frequency} --output-dir {output:q} > {log:q} 2>&1"
