"""The synthetic preference world: a known shared reward, known per-source drift, sampled labels.

Texts are whitespace-separated words from a fixed vocabulary. A response's features come from
its text alone (marker-word counts per attribute, relevance to the prompt's topics, length), so
the oracle can score ANY text, including text a policy writes later. Source k's annotators prefer
y1 over y2 with probability sigmoid(beta_k * (r_k(y1) - r_k(y2))), r_k = r* + drift_k, and the
label is sampled from that probability: label noise is real and calibration is measurable.
"""

import numpy as np

from more_lib.core.seeding import rng_for


def feature_names(world):
    return [*world["attributes"], "relevance", "length"]


def _lexicon(world):
    """word -> attribute index, and word -> topic."""
    attribute_of = {w: i for i, a in enumerate(world["attributes"].values()) for w in a["words"]}
    topic_of = {w: topic for topic, words in world["topics"].items() for w in words}
    return attribute_of, topic_of


def features(prompt, response, world):
    """Feature vector of `response` to `prompt`, in the order of `feature_names(world)`."""
    attribute_of, topic_of = _lexicon(world)
    prompt_topics = {topic_of[w] for w in prompt.split() if w in topic_of}
    words = response.split()
    counts = np.zeros(len(world["attributes"]))
    for w in words:
        if w in attribute_of:
            counts[attribute_of[w]] += 1
    relevance = sum(topic_of.get(w) in prompt_topics for w in words)
    return np.array([*counts, relevance, len(words) / 10.0])


def shared_weights(world):
    return np.array(
        [a["weight"] for a in world["attributes"].values()]
        + [world["relevance_weight"], world["length_weight"]]
    )


def drift_weights(world, drift):
    names = feature_names(world)
    unknown = set(drift) - set(names)
    if unknown:
        raise ValueError(f"drift names unknown feature(s) {sorted(unknown)}; known: {names}")
    return np.array([drift.get(name, 0.0) for name in names])


def oracle_reward(prompt, response, world, drift=None):
    """True reward: the shared reward r*, or source reward r* + drift when `drift` is given."""
    weights = shared_weights(world)
    if drift is not None:
        weights = weights + drift_weights(world, drift)
    return float(features(prompt, response, world) @ weights)


def _draw(rng, words, size):
    return [words[i] for i in rng.integers(len(words), size=size)]


def _prompt(rng, style, world):
    topic = style["topics"][rng.integers(len(style["topics"]))]
    length = rng.integers(style["prompt_words"][0], style["prompt_words"][1] + 1)
    topical = rng.random(length) < 0.4
    topical[0] = True  # every prompt names its topic at least once
    topic_words = iter(_draw(rng, world["topics"][topic], topical.sum()))
    filler = iter(_draw(rng, world["filler"], length - topical.sum()))
    words = [next(topic_words) if t else next(filler) for t in topical]
    return f"{style['prompt_prefix']} {' '.join(words)} {style['prompt_suffix']} ", topic


def _response(rng, style, world, topic):
    words = []
    for name, attribute in world["attributes"].items():
        words += _draw(rng, attribute["words"], rng.poisson(style["marker_rates"].get(name, 0.0)))
    words += _draw(rng, world["topics"][topic], rng.poisson(style["relevance_rate"]))
    off_topic = [w for t, ws in world["topics"].items() if t != topic for w in ws]
    words += _draw(rng, off_topic, rng.poisson(0.5))
    length = rng.integers(style["response_words"][0], style["response_words"][1] + 1)
    words += _draw(rng, world["filler"], max(0, length - len(words)))
    return " ".join(words[i] for i in rng.permutation(len(words)))


def _pair(rng, index, name, spec, world, split):
    prompt, topic = _prompt(rng, spec["style"], world)
    first, second = (_response(rng, spec["style"], world, topic) for _ in range(2))
    r_first, r_second = (oracle_reward(prompt, y, world, spec["drift"]) for y in (first, second))
    p_first = 1.0 / (1.0 + np.exp(-spec["beta"] * (r_first - r_second)))
    first_wins = rng.random() < p_first
    chosen, rejected = (first, second) if first_wins else (second, first)
    r_chosen, r_rejected = (r_first, r_second) if first_wins else (r_second, r_first)
    return {
        "id": f"{name}-{split}-{index:06d}",
        "source": name,
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "meta": {
            "reward_chosen": r_chosen,
            "reward_rejected": r_rejected,
            "shared_chosen": oracle_reward(prompt, chosen, world),
            "shared_rejected": oracle_reward(prompt, rejected, world),
            "p_chosen": float(p_first if first_wins else 1.0 - p_first),
        },
    }


def generate_split(name, spec, world, seed, split):
    """The `split` ("train" or "test") of synthetic source `name`; deterministic in `seed`."""
    drift_weights(world, spec["drift"])  # fail early on a misspelt drift feature
    rng = rng_for(seed, "synthetic", name, split)
    return [_pair(rng, i, name, spec, world, split) for i in range(spec[f"n_{split}"])]
