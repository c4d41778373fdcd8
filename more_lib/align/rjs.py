"""Rejection sampling (the paper's eq. 3): S responses per prompt, keep the one a reward model
scores highest, fine-tune the policy on the kept responses.

Sampling, scoring and selection are separate steps with separate artifacts, so that changing a
reward model re-scores the same samples instead of drawing new ones.
"""

import numpy as np
import pandas as pd

from more_lib.data import synthetic


def unique_prompts(records, n):
    """The first `n` distinct prompts of a preference file, as (id, source, prompt) rows."""
    seen, rows = set(), []
    for r in records:
        if r["prompt"] not in seen:
            seen.add(r["prompt"])
            rows.append({"id": r["id"], "source": r["source"], "prompt": r["prompt"]})
        if len(rows) == n:
            break
    return rows


def best_of(samples, rewards):
    """Per prompt, the sample with the highest reward (the first of equals): the RJS training set."""
    scored = samples.assign(reward=np.asarray(rewards))
    best = scored.loc[scored.groupby("id", sort=False)["reward"].idxmax()]
    return best.reset_index(drop=True)


def oracle_rewards(samples, world, drifts):
    """True reward of every sample under its prompt's source (synthetic world only)."""
    return np.array([synthetic.oracle_reward(p, y, world, drifts[s])
                     for p, y, s in zip(samples["prompt"], samples["response"], samples["source"])])


def selection_summary(samples, rewards, oracle=None):
    """Per source: mean RM reward and (when an oracle is given) mean true reward of the selected
    responses against the mean over all S samples, which is what picking at random would give."""
    scored = samples.assign(reward=np.asarray(rewards))
    if oracle is not None:
        scored["oracle"] = oracle
    selected = best_of(scored.drop(columns="reward"), scored["reward"])
    rows = []
    for source, group in scored.groupby("source", sort=False):
        chosen = selected[selected["source"] == source]
        row = {"source": source, "prompts": chosen["id"].nunique(), "samples": len(group),
               "rm_selected": chosen["reward"].mean(), "rm_all": group["reward"].mean()}
        if oracle is not None:
            row.update(oracle_selected=chosen["oracle"].mean(), oracle_all=group["oracle"].mean(),
                       oracle_best=group.groupby("id")["oracle"].max().mean())
            row["oracle_gain"] = row["oracle_selected"] - row["oracle_all"]
        rows.append(row)
    return pd.DataFrame(rows)
