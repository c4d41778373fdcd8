"""Paper tables from tidy score and metric files (never from models)."""

import pandas as pd

from more_lib.core import artifacts, io, names
from more_lib.core.errors import DataError
from more_lib.evaluate import length_bias, metrics, outliers, temperature


def read_scores(paths, test_ids=None):
    """{(scheme, test source): frame id, r_chosen, r_rejected} from {(scheme, test source): path}, each
    file as artifacts.ARTIFACTS["scores"] promises it, one row per pair of its test source: those of `test_ids`
    ({test source: ids}) where the reader has the test set, else those of the first file read on the
    same test source (one RM's cut or stale file fails naming itself)."""
    scores, first = {}, {}
    for (scheme, source), path in paths.items():
        if not path.exists():
            raise DataError(f"{path}: no such scores file (score {scheme} on {source} first)")
        frame = artifacts.read_table(path, "scores")
        if test_ids is not None and source in test_ids:
            artifacts.check_ids(frame, test_ids[source], path, f"the {source} test set")
        else:
            reference, ids = first.setdefault(source, (path, frame["id"].tolist()))
            artifacts.check_ids(frame, ids, path, reference)
        scores[(scheme, source)] = frame
    return scores


def keyed_sources(paths):
    """The test sources of {(scheme, test source): path}, in argument order."""
    return list(dict.fromkeys(source for _, source in paths))


def with_labels(table):
    """`table` with a display label beside each scheme id (its `scheme` column)."""
    return table.assign(label=table["scheme"].map(names.label))


def derived_scores(scores, sources):
    """Top (each test source scored by the single-source RM trained on it) and Averaging (per
    pair, the mean reward of the single-source RMs) from the single-source RMs' scores."""
    derived = {("top", s): scores[(names.single(s), s)] for s in sources}
    for test in sources:
        singles = [scores[(names.single(s), test)] for s in sources]
        mean = sum(frame[["r_chosen", "r_rejected"]] for frame in singles) / len(singles)
        derived[("averaging", test)] = singles[0][["id"]].join(mean)
    return derived


def metrics_table(base, scores, sources, bins, tie_credit=0.0, lengths=None):
    """Tidy metrics: one row per (scheme, test source), plus a test source "all" pooling every pair.
    With `lengths` ({test source: length_bias.pair_lengths}), the length-bias columns too."""
    scores = {**scores, **derived_scores(scores, sources)}
    if lengths is not None:
        lengths = {**lengths, "all": pd.concat(lengths[test] for test in sources)}
    rows = []
    for scheme in dict.fromkeys(scheme for scheme, _ in scores):
        frames = {test: scores[(scheme, test)] for test in sources}
        frames["all"] = pd.concat(frames.values())
        for test, frame in frames.items():
            rows.append({"base": base, "scheme": scheme, "test_source": test,
                         **metrics.pair_metrics(frame["r_chosen"].to_numpy(), frame["r_rejected"].to_numpy(), bins,
                                                 tie_credit),
                         **(length_bias.columns(frame, lengths[test]) if lengths is not None else {})})
    return pd.DataFrame(rows)


def table2(metric_tables, sources, mix, ece_bins, ece):
    """Table 2: per base, rows Raw, Top, Averaging, MultiTask, MORE; accuracy per test source,
    their mean (Avg) and one ECE: the mean over test sources ("mean") or over all pairs ("pooled")."""
    rows = []
    for frame in metric_tables:
        for scheme in names.table2_schemes(mix):
            part = frame[frame["scheme"] == scheme].set_index("test_source")
            accuracy = part.loc[sources, "accuracy"]
            ece_value = part.loc[sources, f"ece_{ece_bins}"].mean() if ece == "mean" else part.loc["all", f"ece_{ece_bins}"]
            rows.append({"base": frame["base"].iloc[0], "scheme": scheme, **accuracy.to_dict(),
                         "avg": accuracy.mean(), "ece": ece_value})
    return with_labels(pd.DataFrame(rows))


def table2_seeds(metric_tables, sources, mix, ece_bins, ece):
    """Table 2 over training seeds: per base and row, the mean and standard deviation (ddof 1) of
    each column across the seeds `metric_tables` holds ({replicate name: [one metrics table per base]})."""
    runs = pd.concat([table2(frames, sources, mix, ece_bins, ece).assign(replicate=name)
                      for name, frames in metric_tables.items()])
    columns = [*sources, "avg", "ece"]
    grouped = runs.groupby(["base", "scheme", "label"], sort=False)[columns]
    table = grouped.mean().add_suffix("_mean").join(grouped.std(ddof=1).add_suffix("_std"))
    table.insert(0, "n_seeds", grouped.size())
    return table.reset_index()


def outlier_table(base, scores, focus, mix, factor, ece_bins):
    """Tables 4–6: on each focus test source, rows Top, MultiTask, MORE; ECE and the outliers of the
    positive and of the negative reward differences (`more_lib.evaluate.outliers`)."""
    rows = []
    for test in focus:
        for scheme, scored_by in (("top", names.single(test)), *((s, s) for s in (names.multitask(mix), names.more(mix)))):
            frame = scores[(scored_by, test)]
            rows.append({"base": base, "test_source": test, "scheme": scheme,
                         **outliers.outlier_row(frame["r_chosen"], frame["r_rejected"], factor, ece_bins)})
    return with_labels(pd.DataFrame(rows))


def ksweep_table(base, scores, focus, mixes_by_k, ece_bins, tie_credit=0.0):
    """Figure 6's data: accuracy and ECE of MultiTask and MORE trained on the first K sources, on
    each focus test source; Top (the source's own single RM) once, with no K."""
    rows = []
    for test in focus:
        runs = [(float("nan"), "top", names.single(test))]
        runs += [(k, scheme, scheme) for k, mix in mixes_by_k.items()
                 for scheme in (names.multitask(mix), names.more(mix))]
        for k, scheme, scored_by in runs:
            frame = scores[(scored_by, test)]
            result = metrics.pair_metrics(frame["r_chosen"], frame["r_rejected"], [ece_bins], tie_credit)
            rows.append({"base": base, "k": k, "scheme": scheme, "test_source": test,
                         "accuracy": result["accuracy"], "ece": result[f"ece_{ece_bins}"]})
    return with_labels(pd.DataFrame(rows).astype({"k": "Int64"}))


def calibration_table(base, scores, heldout_scores, fit_sources, sources, ece_bins, tie_credit=0.0):
    """Each RM before and after temperature scaling: T fitted on the held-out pairs of the sources
    it was trained on (`fit_sources[scheme]`), then ECE, Brier and NLL on every test source."""
    rows = []
    for scheme, fitted_on in fit_sources.items():
        held = pd.concat([heldout_scores[(scheme, s)] for s in fitted_on])
        t = temperature.fit_temperature(held["r_chosen"] - held["r_rejected"])
        for test in sources:
            frame = scores[(scheme, test)]
            before = metrics.pair_metrics(frame["r_chosen"], frame["r_rejected"], [ece_bins], tie_credit)
            after = metrics.pair_metrics(frame["r_chosen"] / t, frame["r_rejected"] / t, [ece_bins], tie_credit)
            rows.append({"base": base, "scheme": scheme, "test_source": test, "temperature": t,
                         "fitted_on": " ".join(fitted_on), "accuracy": before["accuracy"],
                         **{f"{name}{suffix}": result[key] for suffix, result in (("", before), ("_scaled", after))
                            for name, key in (("ece", f"ece_{ece_bins}"), ("brier", "brier"), ("nll", "nll"))}})
    return with_labels(pd.DataFrame(rows))


def to_markdown(table, digits=4):
    return table.to_markdown(index=False, floatfmt=f".{digits}f") + "\n"


def write_table(table, csv_path, markdown_path):
    """The table as CSV (for code) and markdown (for people), each written atomically."""
    with io.atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False)
    with io.atomic_path(markdown_path) as tmp:
        tmp.write_text(to_markdown(table))


def table1(metric_tables, ppl, outcomes, mix, sources, ece_bins):
    """Table 1: the base policy's perplexity row, then per base the MultiTask and MORE rows: RM
    accuracy and ECE on the alignment sources' test sets (pooled pairs), perplexity of the policy
    RJS-aligned with that RM per source, and, on the MORE row, Win/Tie/Lose (%) of MORE's policy
    over MultiTask's. Accuracy pools the sources' pairs; ECE is the mean of the sources' ECEs, as
    Table 2's ECE column. `outcomes` maps base -> judge.summarise(...) of MORE vs MultiTask."""
    ppl = ppl.pivot(index="policy", columns="source", values="ppl")
    rows = [{"base": "-", "scheme": "-", "label": "-", **{f"ppl_{s}": ppl.loc["base", s] for s in sources}}]
    for frame in metric_tables:
        base = frame["base"].iloc[0]
        for kind in names.MIXED_KINDS:
            scheme = names.mixed(kind, mix)
            part = frame[(frame["scheme"] == scheme) & frame["test_source"].isin(sources)]
            accuracy = (part["accuracy"] * part["n_pairs"]).sum() / part["n_pairs"].sum()
            row = {"base": base, "scheme": scheme, "label": names.label(scheme), "accuracy": accuracy,
                   "ece": part[f"ece_{ece_bins}"].mean(),
                   **{f"ppl_{s}": ppl.loc[names.rjs_policy(base, scheme), s] for s in sources}}
            if kind == "more":
                row.update({k: outcomes[base][k] for k in ("win", "tie", "lose")}, judged=outcomes[base]["n"])
            rows.append(row)
    return pd.DataFrame(rows)


def fig7_points(ksweep_tables, outcomes, kinds):
    """Fig. 7's points: per K-sweep RM of the `kinds` (more, multitask), its ECE (mean over the
    K-sweep's test sources) and the Win/Tie/Lose (%) over SFT of the policy RJS-aligned with it.
    `outcomes` maps (base, scheme) -> judge.summarise(...)."""
    rows = []
    for frame in ksweep_tables:
        swept = frame[frame["k"].notna() & frame["scheme"].map(lambda s: names.scheme_kind(s) in kinds)]
        for (base, scheme, k), part in swept.groupby(["base", "scheme", "k"], sort=False):
            outcome = outcomes[(base, scheme)]
            rows.append({"base": base, "scheme": scheme, "label": names.label(scheme), "k": int(k),
                         "ece": part["ece"].mean(), "accuracy": part["accuracy"].mean(),
                         **{key: outcome[key] for key in ("win", "tie", "lose", "n")}})
    return pd.DataFrame(rows)
