# Evaluation: every RM scores every test source; tidy metrics per base; Table 2.
TABLE2 = config["evaluation"]["table2"]


rule score_rm:
    input:
        rm="results/rm/{base}/{scheme}",
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        code=code("score_rm.py", "scoring", "models"),
    output:
        expand("results/scores/{{base}}/{{scheme}}/{source}.parquet", source=SOURCES),
    params:
        settings=reward_settings,
    threads: 1
    resources:
        gpu=base_resource("gpus", 0),
    log:
        "results/logs/score_rm/{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/score_rm/{base}/{scheme}.tsv"
    shell:
        "python {SCRIPTS}/score_rm.py --rm {input.rm} --tests {input.tests} --outputs {output}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


rule evaluate_rm:
    input:
        scores=expand("results/scores/{{base}}/{scheme}/{source}.parquet",
                      scheme=reward_schemes(), source=SOURCES),
        code=code("evaluate_rm.py", "tables", "metrics"),
    output:
        "results/metrics/{base}.csv",
    params:
        schemes=reward_schemes(),
        bins=config["evaluation"]["bins"],
    log:
        "results/logs/evaluate_rm/{base}.log",
    benchmark:
        "results/benchmarks/evaluate_rm/{base}.tsv"
    shell:
        "python {SCRIPTS}/evaluate_rm.py --base {wildcards.base} --scores-dir results/scores/{wildcards.base}"
        " --schemes {params.schemes} --sources {SOURCES} --bins {params.bins} --output {output} > {log} 2>&1"


rule table2:
    input:
        metrics=expand("results/metrics/{base}.csv", base=list(config["bases"])),
        code=code("make_table2.py", "tables"),
    output:
        csv="results/table2.csv",
        markdown="results/table2.md",
    params:
        mix=TABLE2["mix"],
        ece_bins=TABLE2["ece_bins"],
        ece=TABLE2["ece"],
    log:
        "results/logs/table2.log",
    benchmark:
        "results/benchmarks/table2.tsv"
    shell:
        "python {SCRIPTS}/make_table2.py --metrics {input.metrics} --sources {SOURCES} --mix {params.mix}"
        " --ece-bins {params.ece_bins} --ece {params.ece} --output {output.csv} --markdown {output.markdown}"
        " > {log} 2>&1"
