# Evaluation: every RM scores every test source; tidy metrics per base; Table 2; Tables 4-6; the
# K-sweep; temperature scaling; ground-truth metrics; the claims.


rule score_rm:
    input:
        rm="results/{rep}rm/{base}/{scheme}",
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        heldout=expand("results/data/{source}/heldout.jsonl", source=SOURCES),
        code=code("evaluate/score_rm.py"),
    output:
        tests=expand("results/{{rep}}scores/{{base}}/{{scheme}}/{source}.parquet", source=SOURCES),
        heldout=expand("results/{{rep}}heldout_scores/{{base}}/{{scheme}}/{source}.parquet", source=SOURCES),
    log:
        "results/logs/score_rm/{rep}{base}/{scheme}.log",
    benchmark:
        "results/benchmarks/score_rm/{rep}{base}/{scheme}.tsv"
    wildcard_constraints:
        scheme=alternatives([scheme for scheme in SCHEMES if scheme not in KSWEEP_ONLY_SCHEMES]),
    threads: 1
    resources:
        **job_resources(base_block, training=False),
    params:
        settings=scoring_settings,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/score_rm.py --rm {input.rm:q} --inputs {input.tests:q} {input.heldout:q}"
        " --outputs {output:q} --settings {params.settings:q} --threads {threads} > {log:q} 2>&1"


# The K-sweep's own mixes feed only Fig. 6 and the claims on the focus sources, and no temperature
# is fitted for them: scored there alone (the same rewards, which depend on one file's texts only).
use rule score_rm as score_rm_focus with:
    input:
        rm="results/{rep}rm/{base}/{scheme}",
        tests=expand("results/data/{source}/test.jsonl", source=ANALYSIS["focus"]),
        heldout=[],
        code=code("evaluate/score_rm.py"),
    output:
        tests=expand("results/{{rep}}scores/{{base}}/{{scheme}}/{source}.parquet", source=ANALYSIS["focus"]),
    wildcard_constraints:
        scheme=alternatives(KSWEEP_ONLY_SCHEMES),


rule evaluate_rm:
    input:
        scores=score_files(TABLE2_SCHEMES, SOURCES, root="results/{rep}scores"),
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),  # response lengths: the length bias
        code=code("evaluate/evaluate_rm.py"),
    output:
        "results/{rep}metrics/{base}.csv",
    log:
        "results/logs/evaluate_rm/{rep}{base}.log",
    benchmark:
        "results/benchmarks/evaluate_rm/{rep}{base}.tsv"
    params:
        scores=keyed("scores", score_keys(TABLE2_SCHEMES, SOURCES)),
        tests=keyed("tests", SOURCES),
        bins=config["evaluation"]["bins"],
        tie_credit=TIE_CREDIT,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/evaluate_rm.py --base {wildcards.base:q} --scores {params.scores:q}"
        " --tests {params.tests:q} --bins {params.bins} --tie-credit {params.tie_credit} --output {output:q}"
        " > {log:q} 2>&1"


rule table2:
    input:
        metrics=expand("results/metrics/{base}.csv", base=BASES),
        code=code("evaluate/make_table2.py"),
    output:
        csv=report("results/table2.csv", caption="../report/table2.rst", category="Tables"),
        markdown="results/table2.md",
    log:
        "results/logs/table2.log",
    benchmark:
        "results/benchmarks/table2.tsv"
    params:
        mix=MIX,
        ece_bins=TABLE2["ece_bins"],
        ece=TABLE2["ece"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/make_table2.py --metrics {input.metrics:q} --sources {SOURCES:q} --mix {params.mix:q}"
        " --ece-bins {params.ece_bins} --ece {params.ece:q} --output {output.csv:q} --markdown {output.markdown:q}"
        " > {log:q} 2>&1"


SEED_METRICS, SEED_METRIC_KEYS = across_replicates("results/{prefix}metrics/{base}.csv")


rule table2_seeds:
    input:
        metrics=SEED_METRICS,
        code=code("evaluate/make_table2_seeds.py"),
    output:
        report("results/table2_seeds.csv", caption="../report/table2_seeds.rst", category="Tables"),
    log:
        "results/logs/table2_seeds.log",
    params:
        metrics=keyed("metrics", SEED_METRIC_KEYS),
        mix=MIX,
        ece_bins=TABLE2["ece_bins"],
        ece=TABLE2["ece"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/make_table2_seeds.py --metrics {params.metrics:q} --sources {SOURCES:q}"
        " --mix {params.mix:q} --ece-bins {params.ece_bins} --ece {params.ece:q} --output {output:q} > {log:q} 2>&1"


rule outliers:
    input:
        scores=score_files(FOCUS_SCHEMES, ANALYSIS["focus"]),
        code=code("evaluate/make_outliers.py"),
    output:
        csv=report(
            "results/outliers/{base}.csv",
            caption="../report/outliers.rst",
            category="Tables",
            subcategory="{base}",
        ),
        markdown="results/outliers/{base}.md",
    log:
        "results/logs/outliers/{base}.log",
    params:
        scores=keyed("scores", score_keys(FOCUS_SCHEMES, ANALYSIS["focus"])),
        mix=MIX,
        factor=ANALYSIS["outlier_iqr"],
        ece_bins=TABLE2["ece_bins"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/make_outliers.py --base {wildcards.base:q} --scores {params.scores:q} --mix {params.mix:q}"
        " --iqr-factor {params.factor} --ece-bins {params.ece_bins}"
        " --output {output.csv:q} --markdown {output.markdown:q} > {log:q} 2>&1"


rule ksweep:
    input:
        scores=score_files(
            [*names.singles(ANALYSIS["focus"]), *KSWEEP_SCHEMES],
            ANALYSIS["focus"],
            root="results/{rep}scores",
        ),
        code=code("evaluate/make_ksweep.py"),
    output:
        report(
            "results/{rep}ksweep/{base}.csv",
            caption="../report/ksweep.rst",
            category="Tables",
            subcategory="{base}",
        ),
    log:
        "results/logs/ksweep/{rep}{base}.log",
    params:
        scores=keyed(
            "scores", score_keys([*names.singles(ANALYSIS["focus"]), *KSWEEP_SCHEMES], ANALYSIS["focus"])
        ),
        mixes=[f"{k}={mix}" for k, mix in KSWEEP.items()],
        ece_bins=TABLE2["ece_bins"],
        tie_credit=TIE_CREDIT,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/make_ksweep.py --base {wildcards.base:q} --scores {params.scores:q}"
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
        code=code("evaluate/make_calibration.py"),
    output:
        report(
            "results/calibration/{base}.csv",
            caption="../report/calibration.rst",
            category="Tables",
            subcategory="{base}",
        ),
    log:
        "results/logs/calibration/{base}.log",
    params:
        scores=keyed("scores", score_keys(TABLE2_SCHEMES, SOURCES)),
        heldout=keyed("heldout", score_keys(TABLE2_SCHEMES, SOURCES)),
        fits=[f"{scheme}={','.join(fitted)}" for scheme, fitted in calibration_fits().items()],
        ece_bins=TABLE2["ece_bins"],
        tie_credit=TIE_CREDIT,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/make_calibration.py --base {wildcards.base:q} --scores {params.scores:q}"
        " --heldout {params.heldout:q} --fits {params.fits:q} --ece-bins {params.ece_bins}"
        " --tie-credit {params.tie_credit} --output {output:q}"
        " > {log:q} 2>&1"


rule truth:
    input:
        scores=score_files(TABLE2_SCHEMES, SOURCES),
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        code=code("evaluate/make_truth.py"),
    output:
        report(
            "results/truth/{base}.csv",
            caption="../report/truth_table.rst",
            category="Tables",
            subcategory="{base}",
        ),
    log:
        "results/logs/truth/{base}.log",
    params:
        scores=keyed("scores", score_keys(TABLE2_SCHEMES, SOURCES)),
        tests=keyed("tests", SOURCES),
        bins=TABLE2["ece_bins"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/make_truth.py --base {wildcards.base:q} --scores {params.scores:q} --tests {params.tests:q}"
        " --bins {params.bins} --output {output:q} > {log:q} 2>&1"


# What the claims read, as (scheme, test source): every single-source RM on every source (C1, and
# Top and Averaging), Table 2's MultiTask and MORE on every source, MORE of each K on the focus
# sources (C6); and the held-out pairs MultiTask's and MORE's temperatures are fitted on (C4-ts).
CLAIM_SCORES = list(
    dict.fromkeys(
        [
            (scheme, source)
            for scheme in [*names.singles(SOURCES), *(names.mixed(kind, MIX) for kind in names.MIXED_KINDS)]
            for source in SOURCES
        ]
        + [(names.more(mix), source) for mix in KSWEEP.values() for source in ANALYSIS["focus"]]
    )
)
CLAIM_HELDOUT = [(names.mixed(kind, MIX), source) for kind in names.MIXED_KINDS for source in MIXES[MIX]]
CLAIM_SCORE_FILES, CLAIM_SCORE_KEYS = across_replicates(
    "results/{prefix}scores/{base}/{scheme}/{source}.parquet", CLAIM_SCORES
)
CLAIM_HELDOUT_FILES, CLAIM_HELDOUT_KEYS = across_replicates(
    "results/{prefix}heldout_scores/{base}/{scheme}/{source}.parquet", CLAIM_HELDOUT
)


rule claims:
    input:
        scores=CLAIM_SCORE_FILES,
        heldout=CLAIM_HELDOUT_FILES,
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        points="results/fig7_points.csv",
        code=code("evaluate/make_claims.py"),
    output:
        claims=report("results/claims.csv", caption="../report/claims.rst", category="Claims"),
        power="results/benchmarks/power.csv",
    log:
        "results/logs/claims.log",
    # the last job of the run, when every other core is idle: its claims are judged in parallel
    threads: 2
    params:
        scores=keyed("scores", CLAIM_SCORE_KEYS),
        heldout=keyed("heldout", CLAIM_HELDOUT_KEYS),
        tests=keyed("tests", SOURCES),
        focus=ANALYSIS["focus"],
        mix=MIX,
        mix_sources=MIXES[MIX],
        ksweep=[f"{k}={mix}" for k, mix in KSWEEP.items()],
        tolerance=ANALYSIS["accuracy_tolerance"],
        ece_bins=TABLE2["ece_bins"],
        ece=TABLE2["ece"],
        tie_credit=TIE_CREDIT,
        factor=ANALYSIS["outlier_iqr"],
        aligned=ALIGN["ksweep"]["bases"],
        resamples=ANALYSIS["bootstrap"],
        seed=config["seed"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/evaluate/make_claims.py --scores {params.scores:q} --heldout {params.heldout:q}"
        " --tests {params.tests:q} --sources {SOURCES:q} --focus {params.focus:q} --mix {params.mix:q}"
        " --mix-sources {params.mix_sources:q} --ksweep {params.ksweep:q} --tolerance {params.tolerance}"
        " --ece-bins {params.ece_bins} --ece {params.ece:q} --tie-credit {params.tie_credit}"
        " --iqr-factor {params.factor} --points {input.points:q} --aligned-bases {params.aligned:q}"
        " --resamples {params.resamples} --seed {params.seed} --threads {threads} --output {output.claims:q}"
        " --power {output.power:q} > {log:q} 2>&1"
