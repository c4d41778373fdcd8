# Evaluation: every RM scores every test source; tidy metrics per base; Table 2.
TABLE2 = config["evaluation"]["table2"]
ANALYSIS = config["analysis"]


rule score_rm:
    input:
        rm="results/rm/{base}/{scheme}",
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        heldout=expand("results/data/{source}/heldout.jsonl", source=SOURCES),
        code=code("score_rm.py", "scoring", "models"),
    output:
        tests=expand("results/scores/{{base}}/{{scheme}}/{source}.parquet", source=SOURCES),
        heldout=expand("results/heldout_scores/{{base}}/{{scheme}}/{source}.parquet", source=SOURCES),
    params:
        settings=scoring_settings,
    threads: 1
    resources:
        gpu=lambda wildcards: min(1, base_resource("gpus", 0)(wildcards)),  # one process, one GPU
    log:
        "results/logs/score_rm/{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/score_rm/{base}/{scheme}.tsv"
    shell:
        "python {SCRIPTS}/score_rm.py --rm {input.rm} --inputs {input.tests} {input.heldout}"
        " --outputs {output.tests} {output.heldout}"
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
        csv=report("results/table2.csv", caption="../report/table2.rst", category="Tables"),
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


rule outliers:
    input:
        scores=expand("results/scores/{{base}}/{scheme}/{source}.parquet", source=ANALYSIS["focus"],
                      scheme=[*(f"single-{s}" for s in ANALYSIS["focus"]),
                              f"multitask-{TABLE2['mix']}", f"more-{TABLE2['mix']}"]),
        code=code("make_outliers.py", "tables", "outliers", "metrics"),
    output:
        csv=report("results/outliers/{base}.csv", caption="../report/outliers.rst", category="Tables",
                   subcategory="{base}"),
        markdown="results/outliers/{base}.md",
    params:
        focus=ANALYSIS["focus"],
        mix=TABLE2["mix"],
        factor=ANALYSIS["outlier_iqr"],
        ece_bins=TABLE2["ece_bins"],
    log:
        "results/logs/outliers/{base}.log",
    shell:
        "python {SCRIPTS}/make_outliers.py --base {wildcards.base} --scores-dir results/scores/{wildcards.base}"
        " --focus {params.focus} --mix {params.mix} --iqr-factor {params.factor} --ece-bins {params.ece_bins}"
        " --output {output.csv} --markdown {output.markdown} > {log} 2>&1"


rule ksweep:
    input:
        scores=expand("results/scores/{{base}}/{scheme}/{source}.parquet", source=ANALYSIS["focus"],
                      scheme=[*(f"single-{s}" for s in ANALYSIS["focus"]),
                              *(f"{kind}-{mix}" for mix in KSWEEP.values() for kind in ("multitask", "more"))]),
        code=code("make_ksweep.py", "tables", "metrics"),
    output:
        report("results/ksweep/{base}.csv", caption="../report/ksweep.rst", category="Tables", subcategory="{base}"),
    params:
        focus=ANALYSIS["focus"],
        mixes=[f"{k}={mix}" for k, mix in KSWEEP.items()],
        ece_bins=TABLE2["ece_bins"],
    log:
        "results/logs/ksweep/{base}.log",
    shell:
        "python {SCRIPTS}/make_ksweep.py --base {wildcards.base} --scores-dir results/scores/{wildcards.base}"
        " --focus {params.focus} --mixes {params.mixes} --ece-bins {params.ece_bins} --output {output}"
        " > {log} 2>&1"


def calibration_fits():
    """Each RM of Table 2 and the sources its temperature is fitted on: those it was trained on
    (all sources for the untrained Raw)."""
    return {scheme: scheme_sources(scheme) or SOURCES for scheme in reward_schemes()}


rule calibration:
    input:
        scores=expand("results/scores/{{base}}/{scheme}/{source}.parquet", scheme=reward_schemes(), source=SOURCES),
        heldout=expand("results/heldout_scores/{{base}}/{scheme}/{source}.parquet",
                       scheme=reward_schemes(), source=SOURCES),
        code=code("make_calibration.py", "tables", "temperature", "metrics"),
    output:
        report("results/calibration/{base}.csv", caption="../report/calibration.rst", category="Tables",
               subcategory="{base}"),
    params:
        schemes=[f"{scheme}={','.join(fitted)}" for scheme, fitted in calibration_fits().items()],
        ece_bins=TABLE2["ece_bins"],
    log:
        "results/logs/calibration/{base}.log",
    shell:
        "python {SCRIPTS}/make_calibration.py --base {wildcards.base} --scores-dir results/scores/{wildcards.base}"
        " --heldout-dir results/heldout_scores/{wildcards.base} --schemes {params.schemes} --sources {SOURCES}"
        " --ece-bins {params.ece_bins} --output {output} > {log} 2>&1"


rule claims:
    input:
        table2="results/table2.csv",
        tables=expand("results/{table}/{base}.csv", table=["metrics", "outliers", "ksweep", "calibration"],
                      base=list(config["bases"])),
        correlation="results/fig7_correlation.csv",
        code=code("make_claims.py", "claims"),
    output:
        report("results/claims.csv", caption="../report/claims.rst", category="Claims"),
    params:
        bases=list(config["bases"]),
        aligned=config["alignment"]["ksweep"]["bases"],
        mix=TABLE2["mix"],
        tolerance=ANALYSIS["accuracy_tolerance"],
    log:
        "results/logs/claims.log",
    shell:
        "python {SCRIPTS}/make_claims.py --bases {params.bases} --table2 {input.table2} --sources {SOURCES}"
        " --mix {params.mix} --tolerance {params.tolerance} --correlation {input.correlation}"
        " --aligned-bases {params.aligned} --output {output} > {log} 2>&1"
