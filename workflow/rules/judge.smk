# Pairwise judging (Appendix D): MORE's policy against MultiTask's (Table 1), each K-sweep RJS
# policy against SFT (Fig. 7); the oracle in the synthetic world, an OpenAI-compatible model in
# the paper's. The API key is read from the environment by the judge script only: a dry run needs none.
JUDGE = config["judge"]
TASKS = list(JUDGE["tasks"])
MIX = config["evaluation"]["table2"]["mix"]
TABLE1_COMPARISONS = {base: (f"rjs-{base}-more-{MIX}", f"rjs-{base}-multitask-{MIX}") for base in config["bases"]}
FIG7_POLICIES = [f"rjs-{base}-{kind}-{mix}" for base in ALIGN["ksweep"]["bases"] for mix in KSWEEP.values()
                 for kind in ALIGN["ksweep"]["schemes"]]
COMPARISONS = list(dict.fromkeys([*TABLE1_COMPARISONS.values(), *((p, "sft") for p in FIG7_POLICIES)]))


def judgment_files(comparisons, root="results/judgments", ext="jsonl"):
    """Per comparison and task: its judgments, or (root, ext of the ledger) its ledger row."""
    return [f"{root}/{a}_vs_{b}/{task}.{ext}" for a, b in comparisons for task in TASKS]


def judge_spec(wildcards):
    return json.dumps(JUDGE, sort_keys=True)


def judged_drift(wildcards):
    """The oracle judges a task by the reward of the source `judge.tasks` names for it."""
    return json.dumps(config["sources"][JUDGE["tasks"][wildcards.task]].get("drift", {}), sort_keys=True)


wildcard_constraints:
    a="|".join(re.escape(p) for p in POLICIES),
    b="|".join(re.escape(p) for p in POLICIES),
    task="|".join(TASKS),


rule judge:
    input:
        a="results/generations/{a}/{task}.jsonl",
        b="results/generations/{b}/{task}.jsonl",
        code=code("judge_pairs.py", "judge", "judge_api", "synthetic"),
    output:
        judgments="results/judgments/{a}_vs_{b}/{task}.jsonl",
        ledger="results/judge/ledger/{a}_vs_{b}/{task}.csv",
    params:
        judge=judge_spec,
        world=json.dumps(config.get("synthetic", {}), sort_keys=True),
        drift=judged_drift,
    log:
        "results/logs/judge/{a}_vs_{b}/{task}.log",
    benchmark:
        "results/benchmarks/judge/{a}_vs_{b}/{task}.tsv"
    shell:
        "python {SCRIPTS}/judge_pairs.py --a {input.a} --b {input.b} --names {wildcards.a} {wildcards.b}"
        " --task {wildcards.task} --judge {params.judge:q} --world {params.world:q} --drift {params.drift:q}"
        " --output {output.judgments} --ledger {output.ledger} > {log} 2>&1"


rule judge_ledger:
    input:
        rows=judgment_files(COMPARISONS, root="results/judge/ledger", ext="csv"),
        code=code("concat_csv.py"),
    output:
        report("results/judge/ledger.csv", caption="../report/ledger.rst", category="Alignment"),
    log:
        "results/logs/judge/ledger.log",
    shell:
        "python {SCRIPTS}/concat_csv.py {input.rows} --output {output} > {log} 2>&1"


rule table1:
    input:
        metrics=expand("results/metrics/{base}.csv", base=list(config["bases"])),
        ppl="results/ppl.csv",
        judgments=judgment_files(TABLE1_COMPARISONS.values()),
        code=code("make_table1.py", "tables", "judge"),
    output:
        csv=report("results/table1.csv", caption="../report/table1.rst", category="Tables"),
        markdown="results/table1.md",
    params:
        mix=MIX,
        sources=ALIGN["sources"],
        ece_bins=config["evaluation"]["table2"]["ece_bins"],
    log:
        "results/logs/table1.log",
    shell:
        "python {SCRIPTS}/make_table1.py --metrics {input.metrics} --ppl {input.ppl} --judgments {input.judgments}"
        " --mix {params.mix} --sources {params.sources} --ece-bins {params.ece_bins}"
        " --output {output.csv} --markdown {output.markdown} > {log} 2>&1"


rule fig7:
    input:
        ksweep=expand("results/ksweep/{base}.csv", base=ALIGN["ksweep"]["bases"]),
        judgments=judgment_files((p, "sft") for p in FIG7_POLICIES),
        code=code("make_fig7.py", "tables", "metrics", "judge", "plotting"),
    output:
        png=report("results/figures/fig7_correlation.png", caption="../report/fig7_correlation.rst",
                   category="Figures", labels={"figure": "fig7_correlation"}),
        pdf="results/figures/fig7_correlation.pdf",
        points="results/fig7_points.csv",
        correlation="results/fig7_correlation.csv",
    params:
        mixes=[f"{k}={mix}" for k, mix in KSWEEP.items()],
        schemes=ALIGN["ksweep"]["schemes"],
        resamples=config["analysis"]["bootstrap"],
        seed=config["seed"],
    log:
        "results/logs/fig7.log",
    shell:
        "python {SCRIPTS}/make_fig7.py --ksweep {input.ksweep} --judgments {input.judgments} --mixes {params.mixes}"
        " --schemes {params.schemes} --resamples {params.resamples} --seed {params.seed}"
        " --points {output.points} --correlation {output.correlation} --figure results/figures/fig7_correlation"
        " > {log} 2>&1"


rule judgments:
    input:
        judgment_files(COMPARISONS),
        "results/judge/ledger.csv",
