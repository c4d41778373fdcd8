# Pairwise judging (Appendix D): MORE's policy against MultiTask's (Table 1), each K-sweep RJS
# policy against SFT (Fig. 7); the oracle in the synthetic world, an OpenAI-compatible model in
# the paper's. The API key is read from the environment by the judge script only: a dry run needs none.
from more_lib.judge.pairs import check_config as check_judge_config

# Before any job: a judge job would otherwise meet a bad key (a missing `model`, a cache outside
# results/) only after the policies it judges were trained.
check_judge_config(JUDGE)


def judge_spec(wildcards):
    return json.dumps(JUDGE, sort_keys=True)


def judged_drift(wildcards):
    """The oracle judges a task by the reward of the source `judge.tasks` names for it."""
    return json.dumps(config["sources"][JUDGE["tasks"][wildcards.task]].get("drift", {}), sort_keys=True)


rule judge:
    input:
        a="results/generations/{a}/{task}.jsonl",
        b="results/generations/{b}/{task}.jsonl",
        prompts=[JUDGE["prompts"]] if JUDGE["kind"] == "openai" else [],  # the templates it fills in; the oracle reads none
        code=code("judge/judge_pairs.py"),
    output:
        judgments=comparison_file("results/judgments", "jsonl"),
        ledger=comparison_file("results/judge/ledger", "csv"),
    log:
        comparison_file("results/logs/judge", "log"),
    benchmark:
        comparison_file("results/benchmarks/judge", "tsv")
    params:
        judge=judge_spec,
        world=json.dumps(config.get("synthetic", {}), sort_keys=True),
        drift=judged_drift,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/judge/judge_pairs.py --a {input.a:q} --b {input.b:q} --names {wildcards.a:q} {wildcards.b:q}"
        " --task {wildcards.task:q} --judge {params.judge:q} --world {params.world:q} --drift {params.drift:q}"
        " --output {output.judgments:q} --ledger {output.ledger:q} > {log:q} 2>&1"


rule judge_ledger:
    input:
        rows=judgment_files(COMPARISONS, root="results/judge/ledger", ext="csv"),
        code=code("concat_csv.py"),
    output:
        report("results/judge/ledger.csv", caption="../report/ledger.rst", category="Alignment"),
    log:
        "results/logs/judge/ledger.log",
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/concat_csv.py {input.rows:q} --output {output:q} > {log:q} 2>&1"


rule table1:
    input:
        metrics=expand("results/metrics/{base}.csv", base=BASES),
        ppl="results/ppl.csv",
        judgments=judgment_files(TABLE1_COMPARISONS[base] for base in BASES),
        code=code("judge/make_table1.py"),
    output:
        csv=report("results/table1.csv", caption="../report/table1.rst", category="Tables"),
        markdown="results/table1.md",
    log:
        "results/logs/table1.log",
    params:
        judgments=keyed("judgments", [names.key(base, task) for base in BASES for task in TASKS]),
        mix=MIX,
        sources=ALIGN["sources"],
        ece_bins=TABLE2["ece_bins"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/judge/make_table1.py --metrics {input.metrics:q} --ppl {input.ppl:q}"
        " --judgments {params.judgments:q} --mix {params.mix:q} --sources {params.sources:q} --ece-bins {params.ece_bins}"
        " --output {output.csv:q} --markdown {output.markdown:q} > {log:q} 2>&1"


rule fig7:
    input:
        ksweep=expand("results/ksweep/{base}.csv", base=ALIGN["ksweep"]["bases"]),
        judgments=judgment_files((p, "sft") for p in FIG7_POLICIES),
        code=code("judge/make_fig7.py"),
    output:
        figure=[
            report(
                "results/figures/fig7_correlation.png",
                caption="../report/fig7_correlation.rst",
                category="Figures",
                labels={"figure": "fig7_correlation"},
            ),
            "results/figures/fig7_correlation.pdf",
        ],
        points="results/fig7_points.csv",
        correlation="results/fig7_correlation.csv",
    log:
        "results/logs/fig7.log",
    params:
        judgments=keyed("judgments", [names.key(p, task) for p in FIG7_POLICIES for task in TASKS]),
        schemes=ALIGN["ksweep"]["schemes"],
        resamples=ANALYSIS["bootstrap"],
        seed=config["seed"],
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/judge/make_fig7.py --ksweep {input.ksweep:q} --judgments {params.judgments:q}"
        " --schemes {params.schemes:q} --resamples {params.resamples} --seed {params.seed}"
        " --points {output.points:q} --correlation {output.correlation:q} --figure {output.figure:q}"
        " > {log:q} 2>&1"


rule judgments:
    input:
        judgment_files(COMPARISONS),
        "results/judge/ledger.csv",
