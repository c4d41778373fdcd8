# Benchmarks: timings, not results, so `all` leaves them out; ask for them by name:
#   snakemake --cores 2 results/benchmarks/more_overhead.csv


rule bench_reward:
    input:
        sorted({tokenizer for base in BASES for tokenizer in built_tokenizer(config["bases"][base])}),
        train=expand("results/data/{source}/train.{n}.jsonl", source=MIXES[MIX], n=RESAMPLE_N),
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        code=code("benchmarks/bench_reward.py"),
    output:
        overhead="results/benchmarks/more_overhead.csv",
        scoring="results/benchmarks/scoring.csv",
    log:
        "results/logs/bench_reward.log",
    threads: 1
    params:
        bases=json.dumps(config["bases"]),  # in config order: the CSV rows follow it
        settings=json.dumps(config["reward"], sort_keys=True),
        seed=config["seed"],
        steps=config["benchmarks"]["steps"],
        rounds=config["benchmarks"]["rounds"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/benchmarks/bench_reward.py --bases {params.bases:q} --settings {params.settings:q}"
        " --train {input.train:q} --tests {input.tests:q} --seed {params.seed} --threads {threads}"
        " --steps {params.steps} --rounds {params.rounds}"
        " --overhead-csv {output.overhead:q} --scoring-csv {output.scoring:q} > {log:q} 2>&1"


# The GPU check (docs/gpu-check.md): run on a GPU node, e.g.
#   snakemake --profile slurm results/benchmarks/gpu.csv
# Architectures come from config/models/, so it needs no download.
rule bench_gpu:
    input:
        models=[str(REPO / "config" / "models" / f"{name}.json") for name in ["pythia-1.4b", "llama-7b"]],
        deepspeed=[str(REPO / "config" / "deepspeed" / f"{name}.json") for name in ["zero2", "paper_offload"]],
        paper=str(REPO / "config" / "paper.yaml"),  # the paper's RJS sampling settings
        code=code("benchmarks/bench_gpu.py"),
    output:
        "results/benchmarks/gpu.csv",
    log:
        "results/logs/bench_gpu.log",
    threads: 8
    resources:
        gpu=1,
        runtime=15,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/benchmarks/bench_gpu.py --output {output:q} --threads {threads} > {log:q} 2>&1"
