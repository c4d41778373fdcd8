# Figures of the paper (and reliability diagrams beyond it), each from tidy score or table files.
FIGURES = [
    "fig1_cross_dataset",
    "fig3_accuracy",
    "fig4_ece",
    "fig5_differences",
    "fig6_ksweep",
    "fig8_outliers",
    "fig9_rewards",
    "reliability",
    "fig_lambda",
    "fig_length_bias",
    "truth",
]
FIG1_SCHEMES = ["raw", *names.singles(SOURCES)]
FIG5_SCHEMES = [*FIG1_SCHEMES, names.multitask(MIX), names.more(MIX)]


def figure_files(base):
    return expand("results/figures/{base}/{name}.{ext}", base=base, name=FIGURES, ext=["png", "pdf"])


def figure(name):
    """A figure's PNG (in the HTML report, with its caption from report/{name}.rst) and PDF."""
    png = report(
        f"results/figures/{{base}}/{name}.png",
        caption=f"../report/{name}.rst",
        category="Figures",
        subcategory="{base}",
        labels={"base": "{base}", "figure": name},
    )
    return [png, f"results/figures/{{base}}/{name}.pdf"]


rule figures:
    input:
        [figure_files(base) for base in BASES],


rule fig_cross_dataset:
    input:
        scores=score_files(FIG1_SCHEMES, SOURCES),
        code=code("figures/fig_cross_dataset.py"),
    output:
        figure("fig1_cross_dataset"),
    log:
        "results/logs/figures/{base}/fig1_cross_dataset.log",
    params:
        scores=keyed("scores", score_keys(FIG1_SCHEMES, SOURCES)),
        focus=ANALYSIS["focus"][-1],
        tie_credit=TIE_CREDIT,  # the paper's middle panel shows the harmless test set
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_cross_dataset.py --scores {params.scores:q} --focus {params.focus:q}"
        " --tie-credit {params.tie_credit} --output {output:q} > {log:q} 2>&1"


rule fig_schemes:
    input:
        metrics="results/metrics/{base}.csv",
        code=code("figures/fig_schemes.py"),
    output:
        accuracy=figure("fig3_accuracy"),
        ece=figure("fig4_ece"),
    log:
        "results/logs/figures/{base}/fig_schemes.log",
    params:
        mix=MIX,
        ece_bins=TABLE2["ece_bins"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_schemes.py --metrics {input.metrics:q} --sources {SOURCES:q} --mix {params.mix:q}"
        " --ece-bins {params.ece_bins} --accuracy-output {output.accuracy:q}"
        " --ece-output {output.ece:q} > {log:q} 2>&1"


rule fig_reward_differences:
    input:
        scores=score_files(FIG5_SCHEMES, SOURCES),
        code=code("figures/fig_reward_differences.py"),
    output:
        fig5=figure("fig5_differences"),
        fig8=figure("fig8_outliers"),
        fig9=figure("fig9_rewards"),
    log:
        "results/logs/figures/{base}/fig_reward_differences.log",
    params:
        scores=keyed("scores", score_keys(FIG5_SCHEMES, SOURCES)),
        mix=MIX,
        focus=ANALYSIS["focus"],
        factor=ANALYSIS["outlier_iqr"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_reward_differences.py --scores {params.scores:q} --mix {params.mix:q}"
        " --focus {params.focus:q} --iqr-factor {params.factor} --fig5-output {output.fig5:q}"
        " --fig8-output {output.fig8:q} --fig9-output {output.fig9:q} > {log:q} 2>&1"


rule fig_ksweep:
    input:
        tables=lambda wildcards: [
            f"results/{prefix}ksweep/{wildcards.base}.csv" for prefix in replicates(wildcards.base).values()
        ],
        code=code("figures/fig_ksweep.py"),
    output:
        figure("fig6_ksweep"),
    log:
        "results/logs/figures/{base}/fig6_ksweep.log",
    params:
        tables=keyed("tables", lambda wildcards: list(replicates(wildcards.base))),
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_ksweep.py --ksweep {params.tables:q} --output {output:q} > {log:q} 2>&1"


rule fig_reliability:
    input:
        scores=score_files(TABLE2_SCHEMES, SOURCES),
        code=code("figures/fig_reliability.py"),
    output:
        figure("reliability"),
    log:
        "results/logs/figures/{base}/reliability.log",
    params:
        scores=keyed("scores", score_keys(TABLE2_SCHEMES, SOURCES)),
        bins=TABLE2["ece_bins"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_reliability.py --scores {params.scores:q} --bins {params.bins}"
        " --output {output:q} > {log:q} 2>&1"


rule fig_lambda:
    input:
        rm=f"results/rm/{{base}}/{names.more(MIX)}",  # its train_log.csv
        code=code("figures/fig_lambda.py"),
    output:
        figure("fig_lambda"),
    log:
        "results/logs/figures/{base}/fig_lambda.log",
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_lambda.py --rm {input.rm:q} --output {output:q} > {log:q} 2>&1"


def length_drifts():
    """SOURCE=DRIFT of each synthetic source's length drift (its annotators' extra reward per 10 words)."""
    return [
        f"{s}={spec['drift'].get('length', 0)}" for s, spec in config["sources"].items() if "drift" in spec
    ]


rule fig_length_bias:
    input:
        metrics="results/metrics/{base}.csv",
        code=code("figures/fig_length_bias.py"),
    output:
        figure("fig_length_bias"),
    log:
        "results/logs/figures/{base}/fig_length_bias.log",
    params:
        mix=MIX,
        drift=length_drifts(),
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_length_bias.py --metrics {input.metrics:q} --sources {SOURCES:q} --mix {params.mix:q}"
        " --length-drift {params.drift:q} --output {output:q} > {log:q} 2>&1"


# Beyond the paper: the ground truth of the synthetic world (in FIGURES), and the claims' forest
# plot (not in FIGURES: it is built with the claims, which need Fig. 7's alignment and judging).


rule fig_truth:
    input:
        truth="results/truth/{base}.csv",
        code=code("figures/fig_truth.py"),
    output:
        figure("truth"),
    log:
        "results/logs/figures/{base}/truth.log",
    params:
        mix=MIX,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_truth.py --truth {input.truth:q} --mix {params.mix:q} --output {output:q} > {log:q} 2>&1"


rule fig_claims:
    input:
        claims="results/claims.csv",
        code=code("figures/fig_claims.py"),
    output:
        figure("claims_forest"),
    log:
        "results/logs/figures/{base}/claims_forest.log",
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/figures/fig_claims.py --claims {input.claims:q} --base {wildcards.base:q} --output {output:q}"
        " > {log:q} 2>&1"
