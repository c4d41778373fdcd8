# Benchmarks: timings, not results, so `all` leaves them out; ask for them by name:
#   snakemake --cores 2 results/benchmarks/more_overhead.csv


rule bench_reward:
    input:
        sorted({tokenizer for base in config["bases"] for tokenizer in built_tokenizer(config["bases"][base])}),
        train=expand("results/data/{source}/train.{n}.jsonl", source=MIXES[TABLE2["mix"]], n=RESAMPLE_N),
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        code=code("bench_reward.py", "train", "scoring", "models", "weighting"),
    output:
        overhead="results/benchmarks/more_overhead.csv",
        scoring="results/benchmarks/scoring.csv",
    params:
        bases=json.dumps(config["bases"]),  # in config order: the CSV rows follow it
        settings=json.dumps(config["reward"], sort_keys=True),
        seed=config["seed"],
        steps=config["benchmarks"]["steps"],
        rounds=config["benchmarks"]["rounds"],
    threads: 1
    log:
        "results/logs/bench_reward.log",
    shell:
        "python {SCRIPTS}/bench_reward.py --bases {params.bases:q} --settings {params.settings:q}"
        " --train {input.train} --tests {input.tests} --seed {params.seed} --threads {threads}"
        " --steps {params.steps} --rounds {params.rounds}"
        " --overhead-csv {output.overhead} --scoring-csv {output.scoring} > {log} 2>&1"
