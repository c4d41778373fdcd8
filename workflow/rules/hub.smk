# Hub stage: the only jobs that touch the network, local rules run by the submitting node. Each hub
# repository the config names is fetched once into its snapshot folder under `hub.dir` (outside
# results/, so cleaning results never downloads again); the lock gathers the resolved commits.
# `snakemake hub` fetches everything; `snakemake hub_refresh` re-resolves every revision on purpose.


def hub_plan_entry(wildcards):
    return json.dumps(HUB_REPOS[wildcards.repo], sort_keys=True)


def hub_pin(wildcards):
    return hub.pin(
        HUB_REPOS[wildcards.repo],
        HUB_LOCKED.get(wildcards.repo),
        hub.read_manifest(hub_manifest(wildcards.repo)),
    )


# Every snapshot by name, not only the lock: Snakemake does not look behind a present lock for a
# manifest that is missing.
rule hub:
    input:
        [HUB_LOCK, *(hub_manifest(repo) for repo in HUB_REPOS)] if HUB_REPOS else [],


# No code input: a change to the fetching code must not refetch tens of GB nor retrain what reads
# them; the pin (the lock's commit, else the configured revision) decides what is fetched.
rule hub_fetch:
    output:
        hub_manifest("{repo}"),
    log:
        "results/logs/hub_fetch/{repo}.log",
    params:
        repo=hub_plan_entry,
        pin=hub_pin,
        folder=lambda wildcards: f"{HUB_DIR}/{wildcards.repo}",
    shell:
        "HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 python {SCRIPTS:q}/launch.py {SCRIPTS:q}/hub/hub_fetch.py --repo {params.repo:q}"
        " --pin {params.pin:q} --folder {params.folder:q} --manifest {output:q} > {log:q} 2>&1"


rule hub_lock:
    input:
        manifests=[hub_manifest(repo) for repo in HUB_REPOS],
        code=code("hub/hub_lock.py"),
    output:
        HUB_LOCK,
    log:
        "results/logs/hub_lock.log",
    shell:
        "python {SCRIPTS:q}/launch.py {SCRIPTS:q}/hub/hub_lock.py --manifests {input.manifests:q} --output {output:q} > {log:q} 2>&1"


# No output: it runs whenever it is named, and writes the lock the next build fetches from.
rule hub_refresh:
    params:
        plan=json.dumps(HUB_REPOS, sort_keys=True),
        lock=HUB_LOCK,
    shell:
        "HF_HUB_OFFLINE=0 python {SCRIPTS:q}/launch.py {SCRIPTS:q}/hub/hub_lock.py --refresh {params.plan:q} --output {params.lock:q}"
