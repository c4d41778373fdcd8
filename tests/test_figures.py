"""Figure scripts: run as the workflow runs them on small tidy inputs of a known shape, each writes
a readable PNG and a PDF, and each draws the numbers of its inputs."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import PathPatch, StepPatch

from more_lib.core import names
from more_lib.evaluate import metrics, outliers, tables
from more_lib.figures import cross_dataset as fig_cross_dataset
from more_lib.figures import differences as fig_differences
from more_lib.figures import plotting

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["helpful", "harmless", "webgpt"]
FOCUS = ["helpful", "harmless"]
MIX = "all"
SINGLE_RMS = ["raw", *names.singles(SOURCES)]
SCHEMES = [*SINGLE_RMS, names.multitask(MIX), names.more(MIX)]
N_PAIRS = 150


def difference_shape(scheme, source):
    """Mean and spread of d: a raw RM near chance, single-source RMs good on their own source only,
    MultiTask accurate but spread out, MORE accurate with smaller differences."""
    if scheme == "raw":
        return 0.0, 0.2
    if scheme.startswith("single-"):
        return (1.5 if scheme == names.single(source) else 0.3), 1.0
    return (1.2, 2.0) if scheme.startswith("multitask") else (0.8, 0.8)


def write_scores(root):
    rng = np.random.default_rng(7)
    scores = {}
    for scheme in SCHEMES:
        for source in SOURCES:
            mean, spread = difference_shape(scheme, source)
            rejected = rng.normal(0.0, 1.0, N_PAIRS)
            frame = pd.DataFrame({"id": [f"{source}-test-{i:06d}" for i in range(N_PAIRS)],
                                  "r_chosen": rejected + rng.normal(mean, spread, N_PAIRS), "r_rejected": rejected})
            (root / scheme).mkdir(parents=True, exist_ok=True)
            frame.to_parquet(root / scheme / f"{source}.parquet", index=False)
            scores[(scheme, source)] = frame
    return scores


def ksweep_table():
    rows = [{"base": "toy", "k": np.nan, "scheme": "top", "test_source": s, "accuracy": 0.8, "ece": 0.09}
            for s in FOCUS]
    for source in FOCUS:
        for k in range(2, 6):
            rows.append({"base": "toy", "k": k, "scheme": names.multitask(f"k{k}"), "test_source": source,
                         "accuracy": 0.78, "ece": 0.12 - 0.005 * k})
            rows.append({"base": "toy", "k": k, "scheme": names.more(f"k{k}"), "test_source": source,
                         "accuracy": 0.77, "ece": 0.10 - 0.015 * k})
    return pd.DataFrame(rows)


def score_paths(root, schemes, sources=SOURCES):
    """{(scheme, test source): path} as the rules pass them."""
    return {(scheme, source): root / scheme / f"{source}.parquet" for scheme in schemes for source in sources}


def keyed_args(root, schemes, sources=SOURCES):
    return [f"{names.key(*key)}={path}" for key, path in score_paths(root, schemes, sources).items()]


def figure_paths(prefix):
    return [prefix.with_name(f"{prefix.name}.{ext}") for ext in ("png", "pdf")]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    scores = write_scores(root / "scores")
    # The metrics file as evaluate_rm writes it, derived rows (top, averaging) included.
    tables.metrics_table("toy", scores, SOURCES, [10]).to_csv(root / "metrics.csv", index=False)
    ksweep_table().to_csv(root / "ksweep.csv", index=False)
    return root


def command(name, *args):
    return [sys.executable, str(REPO / "scripts" / name), *map(str, args)]


def run_script(name, *args):
    return subprocess.run(command(name, *args), check=False, capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.fixture(scope="module")
def rendered(inputs):
    """Every figure written by its script; the output prefixes by figure name."""
    out = inputs / "out"
    scripts = [
        ("figures/fig_cross_dataset.py", "--scores", *keyed_args(inputs / "scores", SINGLE_RMS),
         "--focus", "harmless", "--output", *figure_paths(out / "fig1")),
        ("figures/fig_schemes.py", "--metrics", inputs / "metrics.csv", "--sources", *SOURCES, "--mix", MIX,
         "--ece-bins", 10, "--accuracy-output", *figure_paths(out / "fig3"), "--ece-output", *figure_paths(out / "fig4")),
        ("figures/fig_reward_differences.py", "--scores", *keyed_args(inputs / "scores", SCHEMES), "--mix", MIX,
         "--focus", *FOCUS, "--fig5-output", *figure_paths(out / "fig5"), "--fig8-output", *figure_paths(out / "fig8"),
         "--fig9-output", *figure_paths(out / "fig9")),
        ("figures/fig_reliability.py", "--scores", *keyed_args(inputs / "scores", SCHEMES),
         "--bins", 10, "--output", *figure_paths(out / "reliability")),
        ("figures/fig_ksweep.py", "--ksweep", f"primary={inputs / 'ksweep.csv'}", "--output", *figure_paths(out / "fig6")),
    ]
    # Started together: the scripts are independent, and their start-up dominates.
    processes = [subprocess.Popen(command(*script), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=REPO) for script in scripts]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-3000:]
    return {name: out / name for name in ("fig1", "fig3", "fig4", "fig5", "fig6", "fig8", "fig9", "reliability")}


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["fig1", "fig3", "fig4", "fig5", "fig6", "fig8", "fig9", "reliability"])
def test_every_figure_is_a_readable_png_and_a_pdf(rendered, name):
    png = rendered[name].with_name(f"{name}.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    ink = (pixels[..., :3] < 0.9).any(axis=-1).mean()  # share of pixels that are not white
    assert 0.01 < ink < 0.9
    pdf = rendered[name].with_name(f"{name}.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 2_000
    assert not list(pdf.parent.glob("*.tmp"))  # atomic writes leave no temporary file behind


def test_cross_dataset_heatmap_annotates_the_metric_accuracies(inputs):
    scores = plotting.load_scores(score_paths(inputs / "scores", SINGLE_RMS))
    fig = fig_cross_dataset.plot(scores, SOURCES, "harmless")
    shown = np.array([float(t.get_text()) for t in fig.axes[0].texts]).reshape(len(SOURCES) + 1, len(SOURCES))
    table = pd.read_csv(inputs / "metrics.csv").set_index(["scheme", "test_source"])["accuracy"]
    expected = np.array([[table[(scheme, source)] for source in SOURCES] for scheme in SINGLE_RMS])
    np.testing.assert_allclose(shown, expected, atol=0.005)
    # Each single-source RM is best on its own source in these inputs: the shape the heatmap must show.
    assert (shown[1:].argmax(axis=1) == np.arange(len(SOURCES))).all()


def test_scheme_bars_are_the_metric_values(inputs):
    module = load_script("figures/fig_schemes")
    frame = pd.read_csv(inputs / "metrics.csv")
    for column in ("accuracy", "ece_10"):
        values = module.scheme_values(frame, SOURCES, MIX, column, inputs / "metrics.csv")
        fig = module.plot(values, SOURCES, column)
        bars = fig.axes[0].patches
        assert len(bars) == len(names.table2_schemes(MIX)) * len(SOURCES)
        heights = np.array([bar.get_height() for bar in bars]).reshape(-1, len(SOURCES))
        expected = frame.set_index(["scheme", "test_source"])[column]
        np.testing.assert_allclose(heights, [[expected[(s, t)] for t in SOURCES] for s in names.table2_schemes(MIX)])


def test_scheme_bars_name_a_missing_row(inputs, tmp_path):
    frame = pd.read_csv(inputs / "metrics.csv")
    frame[~((frame.scheme == names.more(MIX)) & (frame.test_source == "webgpt"))].to_csv(tmp_path / "m.csv", index=False)
    result = run_script("figures/fig_schemes.py", "--metrics", tmp_path / "m.csv", "--sources", *SOURCES, "--mix", MIX,
                        "--accuracy-output", *figure_paths(tmp_path / "a"), "--ece-output", *figure_paths(tmp_path / "e"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{tmp_path / 'm.csv'}: no accuracy for scheme {names.more(MIX)} on test source webgpt" in result.stderr


def test_reward_difference_figures_draw_every_pair(inputs):
    scores = plotting.load_scores(score_paths(inputs / "scores", SCHEMES), derived=True)
    # Figure 5: per focus source, one histogram per compared RM holding all of its pairs.
    for ax in fig_differences.fig5(scores, SOURCES, FOCUS, MIX).axes:
        stairs = [p for p in ax.patches if isinstance(p, StepPatch)]
        assert len(stairs) == 3 and all(s.get_data().values.sum() == N_PAIRS for s in stairs)
    # Figure 8: a box for the positive and one for the negative differences of each compared RM.
    for ax in fig_differences.fig8(scores, SOURCES, FOCUS, MIX, 1.5).axes:
        assert sum(isinstance(p, PathPatch) for p in ax.patches) == 2 * 3
    # Figure 9: one histogram per RM (raw and single-source), each of every test pair.
    panels = [ax for ax in fig_differences.fig9(scores, SOURCES).axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [names.label(s) for s in SINGLE_RMS]
    assert all(ax.patches[0].get_data().values.sum() == N_PAIRS * len(SOURCES) for ax in panels)


def test_fig8_fliers_are_the_outlier_tables_outliers(inputs):
    scores = plotting.load_scores(score_paths(inputs / "scores", SCHEMES), derived=True)
    for whis in (0.5, 1.5):
        for ax, source in zip(fig_differences.fig8(scores, SOURCES, FOCUS, MIX, whis).axes, FOCUS):
            fliers = sum(len(line.get_ydata()) for line in ax.lines if line.get_marker() == ".")
            d = [plotting.differences(scores, scheme, source) for scheme in fig_differences.compared(MIX)]
            assert fliers == sum(len(outliers.box_outliers(x[x > 0], whis)) + len(outliers.box_outliers(x[x < 0], whis))
                                 for x in d)


def test_reliability_points_are_the_reliability_table(inputs):
    scores = plotting.load_scores(score_paths(inputs / "scores", SCHEMES))
    fig = load_script("figures/fig_reliability").plot(scores, SCHEMES, SOURCES, 10)
    assert len(fig.axes) == len(SCHEMES) * len(SOURCES)
    ece = pd.read_csv(inputs / "metrics.csv").set_index(["scheme", "test_source"])["ece_10"]
    for ax, (scheme, source) in zip(fig.axes, [(s, t) for s in SCHEMES for t in SOURCES]):
        frame = plotting.pairs(scores, scheme, source)
        table = metrics.reliability_table(*metrics.both_orientations(frame.r_chosen, frame.r_rejected), 10)
        points = next(c for c in ax.collections if isinstance(c, PathCollection)).get_offsets()
        filled = table[table["count"] > 0]
        np.testing.assert_allclose(points, filled[["confidence", "accuracy"]].to_numpy())
        assert ax.texts[0].get_text() == f"ECE {ece[(scheme, source)]:.3f}"


def test_ksweep_draws_top_as_a_constant_and_a_line_per_scheme(inputs):
    sweep = pd.read_csv(inputs / "ksweep.csv")
    fig = load_script("figures/fig_ksweep").plot(sweep, "ece", inputs / "ksweep.csv")
    assert [ax.get_title() for ax in fig.axes] == [names.source_label(s) for s in FOCUS]
    for ax, source in zip(fig.axes, FOCUS):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {"Top", "MultiTask", "MORE"}
        assert lines["Top"].get_linestyle() == "--" and set(lines["Top"].get_ydata()) == {0.09}
        for name in ("MultiTask", "MORE"):
            rows = sweep[sweep.scheme.str.startswith(name.lower()) & (sweep.test_source == source)]
            np.testing.assert_allclose(lines[name].get_xdata(), [2, 3, 4, 5])
            np.testing.assert_allclose(lines[name].get_ydata(), rows.ece)


def test_missing_scores_file_is_one_clear_line(inputs, tmp_path):
    scores = tmp_path / "scores"
    shutil.copytree(inputs / "scores", scores)
    (scores / "single-webgpt" / "harmless.parquet").unlink()
    result = run_script("figures/fig_cross_dataset.py", "--scores", *keyed_args(scores, SINGLE_RMS),
                        "--output", *figure_paths(tmp_path / "fig1"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith(f"error: {scores / 'single-webgpt' / 'harmless.parquet'}: ") and "\n" not in message
    assert not list(tmp_path.glob("fig1*"))
