"""Small SHAP figures for reviewers: each function returns a matplotlib Figure and touches no global state.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so nothing is shown or kept
open; the caller saves or logs them.
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

DPI = 100
SHAP_AXIS = "mean |SHAP| (default log-odds)"
_PALETTE = matplotlib.colormaps["tab10"]


def _labels(df: pd.DataFrame) -> list[str]:
    """Row labels: the ``name`` column when present (catalog names), else the index."""
    return [str(v) for v in (df["name"] if "name" in df.columns else df.index)]


def _bars(df: pd.DataFrame, title: str, colors: list) -> Figure:
    """Horizontal bars of ``mean_abs_shap`` with ``lo``/``hi`` whiskers, first row on top."""
    n = len(df)
    fig = Figure(figsize=(7, 1.2 + 0.35 * max(n, 1)), dpi=DPI)
    ax = fig.subplots()
    y = np.arange(n)[::-1]
    point = df["mean_abs_shap"].to_numpy(dtype="float64")
    lo = df["lo"].to_numpy(dtype="float64") if "lo" in df.columns else point
    hi = df["hi"].to_numpy(dtype="float64") if "hi" in df.columns else point
    # Whisker lengths must be non-negative; a missing interval draws none.
    err = np.nan_to_num(np.vstack([point - lo, hi - point]).clip(min=0))
    ax.barh(y, point, xerr=err, color=colors, ecolor="0.2", capsize=3)
    ax.set_yticks(y, _labels(df))
    ax.set_xlabel(SHAP_AXIS)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def importance_bar(importance_df: pd.DataFrame, title: str = "Indicator importance") -> Figure:
    """Bar per indicator (rows of :func:`innopoints.models.learning.explain.global_importance`) with its 95 % interval.

    Bars are coloured by ``group`` when that column is present, with a legend.
    """
    if "group" in importance_df.columns:
        groups = sorted(importance_df["group"].astype(str).unique())
        color_of = {g: _PALETTE(i % 10) for i, g in enumerate(groups)}
        colors = [color_of[str(g)] for g in importance_df["group"]]
    else:
        color_of, colors = {}, [_PALETTE(0)] * len(importance_df)
    fig = _bars(importance_df, title, colors)
    if color_of:
        fig.axes[0].legend(handles=[Patch(color=c, label=g) for g, c in color_of.items()],
                           loc="lower right", fontsize="small", title="group")
    return fig


def group_bar(group_df: pd.DataFrame, title: str = "Group importance") -> Figure:
    """Bar per indicator group (rows of :func:`models.learning.explain.group_importance`) with its interval."""
    colors = [_PALETTE(i % 10) for i in range(len(group_df))]
    return _bars(group_df, title, colors)


def dependence_plot(curve_df: pd.DataFrame, feature: str, name: str | None = None) -> Figure:
    """Mean SHAP per value bin (rows of :func:`innopoints.models.learning.explain.dependence_curve`), missing bin apart.

    Points above zero raise the default risk. The missing-value bin is drawn as a separate marker at the
    right edge, because it has no position on the value axis.
    """
    fig = Figure(figsize=(6.5, 4), dpi=DPI)
    ax = fig.subplots()
    binned = curve_df[curve_df["bin"] >= 0]
    missing = curve_df[(curve_df["bin"] < 0) & (curve_df["n"] > 0)]
    ax.plot(binned["mean_value"], binned["mean_shap"], marker="o", color=_PALETTE(0), label="value bins")
    if not missing.empty:
        x = binned["mean_value"].max() if not binned.empty else 0.0
        ax.plot([x], missing["mean_shap"].to_numpy(), marker="s", linestyle="none", color=_PALETTE(3),
                label=f"missing (n={int(missing['n'].iloc[0])})")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel(f"{name or feature} (bin mean)")
    ax.set_ylabel("mean SHAP (default log-odds)")
    ax.set_title(f"Effect of {name or feature} on default risk")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def recalibration_frontier_plot(frontier: list[dict], title: str = "Accuracy vs change from the baseline") -> Figure:
    """Training AUC of the recalibrated baseline against the points it may move per stage."""
    fig = Figure(figsize=(6, 3.6), dpi=DPI)
    ax = fig.subplots()
    x = [row["max_change"] for row in frontier]
    ax.plot(x, [row["train_auc"] for row in frontier], marker="o", color=_PALETTE(0))
    ax.set_xlabel("max points moved per stage (of the base points)")
    ax.set_ylabel("training AUC")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
