# Figures of the paper (and reliability diagrams beyond it), each from tidy score or table files.
FIGURES = ["fig1_cross_dataset", "fig3_accuracy", "fig4_ece", "fig5_differences", "fig6_ksweep",
           "fig8_outliers", "fig9_rewards", "reliability"]


def figure_files(base):
    return expand("results/figures/{base}/{name}.{ext}", base=base, name=FIGURES, ext=["png", "pdf"])


def figure(name):
    """A figure's PNG (in the HTML report, with its caption from report/{name}.rst) and PDF."""
    return [report(f"results/figures/{{base}}/{name}.png", caption=f"../report/{name}.rst",
                   category="Figures", subcategory="{base}", labels={"base": "{base}", "figure": name}),
            f"results/figures/{{base}}/{name}.pdf"]


def base_scores(schemes, sources=SOURCES):
    return expand("results/scores/{{base}}/{scheme}/{source}.parquet", scheme=schemes, source=sources)


SINGLES = [f"single-{s}" for s in SOURCES]


rule figures:
    input:
        [figure_files(base) for base in config["bases"]],


rule fig_cross_dataset:
    input:
        scores=base_scores(["raw", *SINGLES]),
        code=code("fig_cross_dataset.py", "plotting"),
    output:
        figure("fig1_cross_dataset"),
    params:
        prefix="results/figures/{base}/fig1_cross_dataset",
        focus=ANALYSIS["focus"][-1],  # the paper's middle panel shows the harmless test set
    log:
        "results/logs/figures/{base}/fig1_cross_dataset.log",
    shell:
        "python {SCRIPTS}/fig_cross_dataset.py --scores-dir results/scores/{wildcards.base} --sources {SOURCES}"
        " --focus {params.focus} --output {params.prefix} > {log} 2>&1"


rule fig_schemes:
    input:
        metrics="results/metrics/{base}.csv",
        code=code("fig_schemes.py", "plotting"),
    output:
        figure("fig3_accuracy"),
        figure("fig4_ece"),
    params:
        mix=TABLE2["mix"],
        ece_bins=TABLE2["ece_bins"],
        prefix="results/figures/{base}/",
    log:
        "results/logs/figures/{base}/fig_schemes.log",
    shell:
        "python {SCRIPTS}/fig_schemes.py --metrics {input.metrics} --sources {SOURCES} --mix {params.mix}"
        " --ece-bins {params.ece_bins} --accuracy-output {params.prefix}fig3_accuracy"
        " --ece-output {params.prefix}fig4_ece > {log} 2>&1"


rule fig_reward_differences:
    input:
        scores=base_scores(["raw", *SINGLES, f"multitask-{TABLE2['mix']}", f"more-{TABLE2['mix']}"]),
        code=code("fig_reward_differences.py", "plotting"),
    output:
        figure("fig5_differences"),
        figure("fig8_outliers"),
        figure("fig9_rewards"),
    params:
        mix=TABLE2["mix"],
        focus=ANALYSIS["focus"],
        factor=ANALYSIS["outlier_iqr"],
        prefix="results/figures/{base}/",
    log:
        "results/logs/figures/{base}/fig_reward_differences.log",
    shell:
        "python {SCRIPTS}/fig_reward_differences.py --scores-dir results/scores/{wildcards.base} --sources {SOURCES}"
        " --mix {params.mix} --focus {params.focus} --iqr-factor {params.factor} --fig5-output {params.prefix}fig5_differences"
        " --fig8-output {params.prefix}fig8_outliers --fig9-output {params.prefix}fig9_rewards > {log} 2>&1"


rule fig_ksweep:
    input:
        table="results/ksweep/{base}.csv",
        code=code("fig_ksweep.py", "plotting"),
    output:
        figure("fig6_ksweep"),
    params:
        prefix="results/figures/{base}/fig6_ksweep",
    log:
        "results/logs/figures/{base}/fig6_ksweep.log",
    shell:
        "python {SCRIPTS}/fig_ksweep.py --ksweep {input.table} --output {params.prefix} > {log} 2>&1"


rule fig_reliability:
    input:
        scores=base_scores(reward_schemes()),
        code=code("fig_reliability.py", "plotting", "metrics"),
    output:
        figure("reliability"),
    params:
        schemes=reward_schemes(),
        bins=TABLE2["ece_bins"],
        prefix="results/figures/{base}/reliability",
    log:
        "results/logs/figures/{base}/reliability.log",
    shell:
        "python {SCRIPTS}/fig_reliability.py --scores-dir results/scores/{wildcards.base} --schemes {params.schemes}"
        " --sources {SOURCES} --bins {params.bins} --output {params.prefix} > {log} 2>&1"
