# Benchmarks: timings, not results, so `all` leaves them out; ask for them by name:
#   snakemake --cores 2 results/benchmarks/more_overhead.csv


rule bench_reward:
    input:
        sorted({tokenizer for base in BASES for tokenizer in built_tokenizer(config["bases"][base])}),
        train=expand("results/data/{source}/train.{n}.jsonl", source=MIXES[MIX], n=RESAMPLE_N),
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        code=code("bench_reward.py"),
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
        "python {SCRIPTS:q}/bench_reward.py --bases {params.bases:q} --settings {params.settings:q}"
        " --train {input.train:q} --tests {input.tests:q} --seed {params.seed} --threads {threads}"
        " --steps {params.steps} --rounds {params.rounds}"
        " --overhead-csv {output.overhead:q} --scoring-csv {output.scoring:q} > {log:q} 2>&1"
