# Ablations, built only when asked for (`snakemake ablations`, not in `all`). MORE's momentum α:
# the MORE RM of Table 2's mix trained with each α of `ablations.alpha`, on the bases
# `ablations.bases` names (every base when it names none). The α a base's reward block already has
# is Table 2's MORE RM itself, reused; every other α is an RM of its own under
# results/ablations/rm/{base}/more-{mix}/alpha-{α} (names.alpha_variant), scored like any RM. The
# {rep} prefix is train_rm's (a seed replicate); the table reads the primary run ("").
from types import SimpleNamespace

ALPHAS = config["ablations"]["alpha"]
ABLATION_BASES = config["ablations"].get("bases", BASES)
ABLATED = names.more(MIX)
VARIANTS = [names.alpha_variant(alpha) for alpha in ALPHAS]
ABLATION_RM = "results/{rep}ablations/rm/{base}/{scheme}/{variant}"
ABLATION_SCORES = "results/{rep}ablations/scores/{base}/{scheme}/{variant}"


def table2_alpha(base):
    """The momentum of a base's Table 2 MORE RM (the reward block with the base's overrides)."""
    return json.loads(reward_settings(SimpleNamespace(base=base, scheme=ABLATED)))["more"]["alpha"]


def ablation_rm(base, alpha):
    if alpha == table2_alpha(base):
        return f"results/rm/{base}/{ABLATED}"
    return ABLATION_RM.format(rep="", base=base, scheme=ABLATED, variant=names.alpha_variant(alpha))


def ablation_scores(base, alpha, source):
    folder = (
        f"results/scores/{base}/{ABLATED}"
        if alpha == table2_alpha(base)
        else ABLATION_SCORES.format(rep="", base=base, scheme=ABLATED, variant=names.alpha_variant(alpha))
    )
    return f"{folder}/{source}.parquet"


def ablation_settings(wildcards):
    """The MORE RM's reward settings with the variant's α."""
    settings = json.loads(reward_settings(wildcards))
    settings["more"] = {**settings["more"], "alpha": names.parse_alpha_variant(wildcards.variant)}
    return json.dumps(settings, sort_keys=True)


use rule train_rm as train_rm_ablation with:
    output:
        directory(ABLATION_RM),
    log:
        "results/logs/ablations/train_rm/{rep}{base}/{scheme}/{variant}.log",
    benchmark:
        "results/benchmarks/ablations/train_rm/{rep}{base}/{scheme}/{variant}.tsv"
    params:
        settings=ablation_settings,
        checkpoints="results/checkpoints/{rep}ablations/rm/{base}/{scheme}/{variant}",


use rule score_rm as score_rm_ablation with:
    input:
        rm=ABLATION_RM,
        tests=expand("results/data/{source}/test.jsonl", source=SOURCES),
        heldout=expand("results/data/{source}/heldout.jsonl", source=SOURCES),
        code=code("evaluate/score_rm.py"),
    output:
        tests=expand(f"{ABLATION_SCORES}/{{source}}.parquet", source=SOURCES, allow_missing=True),
        heldout=expand(
            "results/{rep}ablations/heldout_scores/{base}/{scheme}/{variant}/{source}.parquet",
            source=SOURCES,
            allow_missing=True,
        ),
    log:
        "results/logs/ablations/score_rm/{rep}{base}/{scheme}/{variant}.log",
    benchmark:
        "results/benchmarks/ablations/score_rm/{rep}{base}/{scheme}/{variant}.tsv"


rule ablations_table:
    input:
        rms=lambda wildcards: [ablation_rm(wildcards.base, alpha) for alpha in ALPHAS],  # their train_log.csv
        scores=lambda wildcards: [
            ablation_scores(wildcards.base, alpha, s) for alpha in ALPHAS for s in SOURCES
        ],
        code=code("ablations/make_ablations.py"),
    output:
        "results/ablations/{base}.csv",
    log:
        "results/logs/ablations/{base}.log",
    params:
        rms=keyed("rms", VARIANTS),
        scores=keyed("scores", [names.key(variant, s) for variant in VARIANTS for s in SOURCES]),
        ece_bins=TABLE2["ece_bins"],
        ece=TABLE2["ece"],
        tie_credit=TIE_CREDIT,
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/ablations/make_ablations.py --base {wildcards.base:q} --rms {params.rms:q} --scores {params.scores:q}"
        " --ece-bins {params.ece_bins} --ece {params.ece:q} --tie-credit {params.tie_credit} --output {output:q}"
        " > {log:q} 2>&1"


rule fig_ablations:
    input:
        table="results/ablations/{base}.csv",
        code=code("ablations/fig_ablations.py"),
    output:
        "results/ablations/{base}.png",
        "results/ablations/{base}.pdf",
    log:
        "results/logs/ablations/fig_{base}.log",
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/ablations/fig_ablations.py --table {input.table:q} --output {output:q} > {log:q} 2>&1"


rule ablations:
    input:
        expand("results/ablations/{base}.{ext}", base=ABLATION_BASES, ext=["csv", "png", "pdf"]),
