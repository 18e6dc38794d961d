from pathlib import Path

import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from sthlib.evaluate.metrics import corruption_table
from sthlib.evaluate.plots import figure_bytes, plot_corruptions, plot_curves, plot_spectra, save_figure
from sthlib.evaluate.results import CurvePoint, RobustnessCurve


def make_curve(model: str, accuracies: list[float], evaluator: str = "gaussian") -> RobustnessCurve:
    points = [CurvePoint(0.1 * i, a, 50, a) for i, a in enumerate(accuracies)]
    return RobustnessCurve(evaluator, {}, "sigma", "pixel value in [0, 1]", points, model=model)


@pytest.fixture
def curves_figure() -> Figure:
    curves = [make_curve("baseline", [0.9, 0.6, 0.3]), make_curve("sth", [0.88, 0.75, 0.6]), make_curve("", [0.5])]
    return plot_curves(curves, title="gaussian noise")


def test_plot_curves_one_labelled_line_per_curve(curves_figure: Figure) -> None:
    (ax,) = curves_figure.axes
    assert [line.get_label() for line in ax.get_lines()] == ["baseline", "sth", "gaussian"]  # no model: evaluator
    assert list(ax.get_lines()[1].get_ydata()) == [0.88, 0.75, 0.6]
    assert ax.get_xlabel() == "sigma (pixel value in [0, 1])"
    assert ax.get_ylim() == (0.0, 1.0)
    assert ax.get_title() == "gaussian noise"
    assert ax.get_legend() is not None
    with pytest.raises(ValueError):
        plot_curves([])


def test_plot_spectra_log_scale() -> None:
    frequency = [0.05, 0.15, 0.25, 0.35, 0.45]
    spectra = {
        "baseline": {"frequency": frequency, "power": [0.1, 0.2, 0.2, 0.2, 0.3]},
        "sth": {"frequency": frequency, "power": [0.5, 0.2, 0.1, 0.1, 0.1]},
    }
    (ax,) = plot_spectra(spectra).axes
    assert [line.get_label() for line in ax.get_lines()] == ["baseline", "sth"]
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="frequencies"):
        plot_spectra({"bad": {"frequency": frequency, "power": [1.0]}})


def corruption_curve(model: str, name: str, group: str, accuracy: float) -> RobustnessCurve:
    points = [CurvePoint(float(s), accuracy if s else 0.9, 10, accuracy) for s in range(6)]  # severity 0 is clean
    return RobustnessCurve("corruption", {"corruption": name}, "severity", "", points, model=model, group=group)


def test_plot_corruptions_grouped_bars() -> None:
    def table(model: str, high: float) -> dict[str, object]:
        groups = [("fog", "low", 0.7), ("snow", "mid", 0.6), ("shot_noise", "high", high)]
        return corruption_table([corruption_curve(model, name, group, acc) for name, group, acc in groups])

    (ax,) = plot_corruptions({"baseline": table("baseline", 0.3), "sth": table("sth", 0.5)}).axes
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == pytest.approx([0.7, 0.6, 0.3, 0.7, 0.6, 0.5])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["baseline", "sth"]


def test_save_figure_writes_png_and_svg(curves_figure: Figure, tmp_path: Path) -> None:
    paths = save_figure(curves_figure, tmp_path / "figs" / "noise.v1")
    assert [p.name for p in paths] == ["noise.v1.png", "noise.v1.svg"]
    assert paths[0].read_bytes().startswith(b"\x89PNG")
    assert "<svg" in paths[1].read_text()


def test_figure_bytes(curves_figure: Figure) -> None:
    assert figure_bytes(curves_figure, "png").startswith(b"\x89PNG")
    assert b"<svg" in figure_bytes(curves_figure, "svg")
    with pytest.raises(ValueError, match="png"):
        figure_bytes(curves_figure, "pdf")


def test_two_settings_that_share_a_colour_are_told_apart_by_line_style():
    from sthlib.evaluate.plots import color_for, plot_curve_groups, plot_spectra

    assert color_for("k1") == color_for("k12")  # 10 colours: two setting hashes may land on one
    point = {"strength": 0.0, "mean": 0.9, "low": None, "high": None}
    groups = [{"key": k, "label": k, "n": 1, "points": [point, {**point, "strength": 0.5}],
               "auc": {"mean": 0.9, "low": None, "high": None}} for k in ("k1", "k12")]  # fmt: skip
    lines = [line for line in plot_curve_groups(groups, "sigma").axes[0].get_lines() if line.get_label() != "_"]
    styles = {line.get_label().split(" ")[0]: (line.get_color(), line.get_linestyle()) for line in lines[:2]}
    assert styles["k1"][0] == styles["k12"][0] and styles["k1"][1] != styles["k12"][1]
    spectrum = {"frequency": [0.1, 0.3], "power": [0.6, 0.4]}
    fig = plot_spectra({"a": spectrum, "b": spectrum}, colors={"a": color_for("k1"), "b": color_for("k12")})
    assert len({line.get_linestyle() for line in fig.axes[0].get_lines()[:2]}) == 2


def test_plot_history_groups_a_panel_per_metric_bands_where_n_exceeds_one_and_n_in_the_legend():
    from matplotlib.collections import PolyCollection

    from sthlib.evaluate.aggregate import HISTORY_METRICS
    from sthlib.evaluate.plots import color_for, plot_history_groups

    def point(epoch, n):
        return {"epoch": epoch, "mean": 0.5, "low": 0.4 if n > 1 else None, "high": 0.6 if n > 1 else None, "n": n}

    reg = {"key": "s1", "label": "a1", "n": 3, "series": {"train_loss": [point(1, 3), point(2, 1)], "sim_corr": []}}
    base = {"key": "s2", "label": "a0", "n": 1, "series": {"train_loss": [point(1, 1), point(2, 1)]}}
    fig = plot_history_groups([reg, base], title="t")
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
    assert list(panels) == [m.axis for m in HISTORY_METRICS]
    loss = panels["train loss (nats)"]
    assert [line.get_color() for line in loss.get_lines()] == [color_for("s1"), color_for("s2")]
    (band,) = [c for c in loss.collections if isinstance(c, PolyCollection) and len(c.get_paths())]  # a1's only
    assert band.get_facecolor()[0][:3] == pytest.approx(to_rgb(color_for("s1")))
    assert "not recorded (unregularized)" in [t.get_text() for t in panels["similarity correlation"].texts]
    (legend,) = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    assert [t.get_text() for t in legend.get_texts()] == ["a1 (n=1-3)", "a0 (n=1)", "95% t interval over the models"]
    many = [{**base, "key": f"k{i}", "label": f"setting {i}"} for i in range(40)]
    assert plot_history_groups(many).get_figheight() > fig.get_figheight()  # the legend's panel holds every group
    with pytest.raises(ValueError):
        plot_history_groups([])
