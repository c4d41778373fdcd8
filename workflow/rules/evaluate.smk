# Evaluation: every RM scores every test source; tidy metrics per base; Table 2; Tables 4-6; the
# K-sweep; temperature scaling; the claims.


rule score_rm:
    input:
        rm="results/rm/{base}/{scheme}",
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        heldout=expand("results/data/{source}/heldout.jsonl", source=SOURCES),
        code=code("score_rm.py"),
    output:
        tests=expand("results/scores/{{base}}/{{scheme}}/{source}.parquet", source=SOURCES),
        heldout=expand("results/heldout_scores/{{base}}/{{scheme}}/{source}.parquet", source=SOURCES),
    params:
        settings=scoring_settings,
    threads: 1
    resources:
        **job_resources(base_block, training=False),
    log:
        "results/logs/score_rm/{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/score_rm/{base}/{scheme}.tsv"
    shell:
        "python {SCRIPTS:q}/score_rm.py --rm {input.rm:q} --inputs {input.tests:q} {input.heldout:q}"
        " --outputs {output.tests:q} {output.heldout:q}"
        " --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


rule evaluate_rm:
    input:
        scores=score_files(TABLE2_SCHEMES, SOURCES),
        code=code("evaluate_rm.py"),
    output:
        "results/metrics/{base}.csv",
    params:
        scores=keyed("scores", score_keys(TABLE2_SCHEMES, SOURCES)),
        bins=config["evaluation"]["bins"],
        tie_credit=TIE_CREDIT,
    log:
        "results/logs/evaluate_rm/{base}.log",
    benchmark:
        "results/benchmarks/evaluate_rm/{base}.tsv"
    shell:
        "python {SCRIPTS:q}/evaluate_rm.py --base {wildcards.base:q} --scores {params.scores:q}"
        " --bins {params.bins} --tie-credit {params.tie_credit} --output {output:q} > {log:q} 2>&1"


rule table2:
    input:
        metrics=expand("results/metrics/{base}.csv", base=BASES),
        code=code("make_table2.py"),
    output:
        csv=report("results/table2.csv", caption="../report/table2.rst", category="Tables"),
        markdown="results/table2.md",
    params:
        mix=MIX,
        ece_bins=TABLE2["ece_bins"],
        ece=TABLE2["ece"],
    log:
        "results/logs/table2.log",
    benchmark:
        "results/benchmarks/table2.tsv"
    shell:
        "python {SCRIPTS:q}/make_table2.py --metrics {input.metrics:q} --sources {SOURCES:q} --mix {params.mix:q}"
        " --ece-bins {params.ece_bins} --ece {params.ece:q} --output {output.csv:q} --markdown {output.markdown:q}"
        " > {log:q} 2>&1"


rule outliers:
    input:
        scores=score_files(FOCUS_SCHEMES, ANALYSIS["focus"]),
        code=code("make_outliers.py"),
    output:
        csv=report("results/outliers/{base}.csv", caption="../report/outliers.rst", category="Tables",
                   subcategory="{base}"),
        markdown="results/outliers/{base}.md",
    params:
        scores=keyed("scores", score_keys(FOCUS_SCHEMES, ANALYSIS["focus"])),
        mix=MIX,
        factor=ANALYSIS["outlier_iqr"],
        ece_bins=TABLE2["ece_bins"],
    log:
        "results/logs/outliers/{base}.log",
    shell:
        "python {SCRIPTS:q}/make_outliers.py --base {wildcards.base:q} --scores {params.scores:q} --mix {params.mix:q}"
        " --iqr-factor {params.factor} --ece-bins {params.ece_bins}"
        " --output {output.csv:q} --markdown {output.markdown:q} > {log:q} 2>&1"


rule ksweep:
    input:
        scores=score_files([*names.singles(ANALYSIS["focus"]), *KSWEEP_SCHEMES], ANALYSIS["focus"]),
        code=code("make_ksweep.py"),
    output:
        report("results/ksweep/{base}.csv", caption="../report/ksweep.rst", category="Tables", subcategory="{base}"),
    params:
        scores=keyed("scores", score_keys([*names.singles(ANALYSIS["focus"]), *KSWEEP_SCHEMES], ANALYSIS["focus"])),
        mixes=[f"{k}={mix}" for k, mix in KSWEEP.items()],
        ece_bins=TABLE2["ece_bins"],
        tie_credit=TIE_CREDIT,
    log:
        "results/logs/ksweep/{base}.log",
    shell:
        "python {SCRIPTS:q}/make_ksweep.py --base {wildcards.base:q} --scores {params.scores:q}"
        " --mixes {params.mixes:q} --ece-bins {params.ece_bins} --tie-credit {params.tie_credit} --output {output:q}"
        " > {log:q} 2>&1"


def calibration_fits():
    """Each RM of Table 2 and the sources its temperature is fitted on: those it was trained on
    (all sources for the untrained Raw)."""
    return {scheme: scheme_sources(scheme) or SOURCES for scheme in TABLE2_SCHEMES}


rule calibration:
    input:
        scores=score_files(TABLE2_SCHEMES, SOURCES),
        heldout=score_files(TABLE2_SCHEMES, SOURCES, root="results/heldout_scores"),
        code=code("make_calibration.py"),
    output:
        report("results/calibration/{base}.csv", caption="../report/calibration.rst", category="Tables",
               subcategory="{base}"),
    params:
        scores=keyed("scores", score_keys(TABLE2_SCHEMES, SOURCES)),
        heldout=keyed("heldout", score_keys(TABLE2_SCHEMES, SOURCES)),
        fits=[f"{scheme}={','.join(fitted)}" for scheme, fitted in calibration_fits().items()],
        ece_bins=TABLE2["ece_bins"],
        tie_credit=TIE_CREDIT,
    log:
        "results/logs/calibration/{base}.log",
    shell:
        "python {SCRIPTS:q}/make_calibration.py --base {wildcards.base:q} --scores {params.scores:q}"
        " --heldout {params.heldout:q} --fits {params.fits:q} --ece-bins {params.ece_bins}"
        " --tie-credit {params.tie_credit} --output {output:q}"
        " > {log:q} 2>&1"


CLAIM_TABLES = ["metrics", "outliers", "ksweep", "calibration"]


rule claims:
    input:
        table2="results/table2.csv",
        tables=expand("results/{table}/{base}.csv", table=CLAIM_TABLES, base=BASES),
        correlation="results/fig7_correlation.csv",
        code=code("make_claims.py"),
    output:
        report("results/claims.csv", caption="../report/claims.rst", category="Claims"),
    params:
        tables=keyed("tables", [names.key(table, base) for table in CLAIM_TABLES for base in BASES]),
        mix=MIX,
        aligned=ALIGN["ksweep"]["bases"],
        tolerance=ANALYSIS["accuracy_tolerance"],
    log:
        "results/logs/claims.log",
    shell:
        "python {SCRIPTS:q}/make_claims.py --table2 {input.table2:q} --tables {params.tables:q} --sources {SOURCES:q}"
        " --mix {params.mix:q} --tolerance {params.tolerance} --correlation {input.correlation:q}"
        " --aligned-bases {params.aligned:q} --output {output:q} > {log:q} 2>&1"
