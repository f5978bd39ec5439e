"""Small SHAP figures for reviewers: each function returns a matplotlib Figure and touches no global state.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so nothing is shown or kept
open; the caller saves or logs them. Their words come from :data:`LABELS` (English) unless the caller passes
``labels`` (the reports' Chinese ones); Chinese text needs a CJK font while the figure is built and saved:
:func:`fonts_for`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.patches import Patch

DPI = 100
LABELS: dict[str, str] = {
    "shap_axis": "mean |SHAP| (default log-odds)",
    "group": "group",
    "importance_title": "Indicator importance",
    "group_title": "Group importance",
    "value_bins": "value bins",
    "missing": "missing (n={n})",
    "bin_mean": "{name} (bin mean)",
    "mean_shap": "mean SHAP (default log-odds)",
    "effect": "Effect of {name} on default risk",
    "frontier_title": "Accuracy vs change from the baseline",
    "frontier_x": "max points moved per stage (of the base points)",
    "frontier_y": "training AUC",
}
"""The figures' words, by key; a caller's ``labels`` override any of them (``{name}``/``{n}`` filled here)."""
SHAP_AXIS = LABELS["shap_axis"]
CJK_FONTS: tuple[str, ...] = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB",
)
"""Fonts with Chinese glyphs, in order of preference (Debian: fonts-noto-cjk gives the first two)."""
_PALETTE = matplotlib.colormaps["tab10"]


def _label(labels: Mapping[str, str] | None, key: str, **values) -> str:
    return ((labels or {}).get(key) or LABELS[key]).format(**values)


@functools.cache
def cjk_fonts() -> tuple[str, ...]:
    """The installed fonts of :data:`CJK_FONTS`. Matplotlib caches its font list per user, so a font installed
    after the cache was built is looked up on the system and added once."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    if not known.intersection(CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if any(k in Path(path).name for k in ("CJK", "SourceHan", "wqy", "msyh", "simhei")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):  # an unreadable font file is skipped
                    continue
        known = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(f for f in CJK_FONTS if f in known)


@contextmanager
def fonts_for(lang: str) -> Iterator[None]:
    """Build and save figures inside this block to draw ``lang``'s text: for ``zh`` the first installed CJK
    font leads the sans-serif list; without one, a single warning and boxes instead of glyphs (no failure)."""
    if lang != "zh":
        yield
        return
    found = cjk_fonts()
    if found:
        with matplotlib.rc_context({"font.family": "sans-serif",
                                    "font.sans-serif": [*found, *matplotlib.rcParams["font.sans-serif"]]}):
            yield
        return
    warnings.warn("no CJK font found (e.g. Debian's fonts-noto-cjk): Chinese labels in the plots show as boxes",
                  stacklevel=3)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield


def _labels(df: pd.DataFrame) -> list[str]:
    """Row labels: the ``name`` column when present (catalog names), else the index."""
    return [str(v) for v in (df["name"] if "name" in df.columns else df.index)]


def _bars(df: pd.DataFrame, title: str, colors: list, labels: Mapping[str, str] | None = None) -> Figure:
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
    ax.set_xlabel(_label(labels, "shap_axis"))
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def importance_bar(importance_df: pd.DataFrame, title: str | None = None,
                   labels: Mapping[str, str] | None = None) -> Figure:
    """Bar per indicator (rows of :func:`innopoints.models.learning.explain.global_importance`) with its 95 % interval.

    Bars are coloured by ``group`` when that column is present, with a legend.
    """
    if "group" in importance_df.columns:
        groups = sorted(importance_df["group"].astype(str).unique())
        color_of = {g: _PALETTE(i % 10) for i, g in enumerate(groups)}
        colors = [color_of[str(g)] for g in importance_df["group"]]
    else:
        color_of, colors = {}, [_PALETTE(0)] * len(importance_df)
    fig = _bars(importance_df, title or _label(labels, "importance_title"), colors, labels)
    if color_of:
        fig.axes[0].legend(handles=[Patch(color=c, label=g) for g, c in color_of.items()],
                           loc="lower right", fontsize="small", title=_label(labels, "group"))
    return fig


def group_bar(group_df: pd.DataFrame, title: str | None = None, labels: Mapping[str, str] | None = None) -> Figure:
    """Bar per indicator group (rows of :func:`models.learning.explain.group_importance`) with its interval."""
    colors = [_PALETTE(i % 10) for i in range(len(group_df))]
    return _bars(group_df, title or _label(labels, "group_title"), colors, labels)


def dependence_plot(curve_df: pd.DataFrame, feature: str, name: str | None = None,
                    labels: Mapping[str, str] | None = None) -> Figure:
    """Mean SHAP per value bin (rows of :func:`innopoints.models.learning.explain.dependence_curve`), missing bin apart.

    Points above zero raise the default risk. The missing-value bin is drawn as a separate marker at the
    right edge, because it has no position on the value axis.
    """
    fig = Figure(figsize=(6.5, 4), dpi=DPI)
    ax = fig.subplots()
    binned = curve_df[curve_df["bin"] >= 0]
    missing = curve_df[(curve_df["bin"] < 0) & (curve_df["n"] > 0)]
    ax.plot(binned["mean_value"], binned["mean_shap"], marker="o", color=_PALETTE(0),
            label=_label(labels, "value_bins"))
    if not missing.empty:
        x = binned["mean_value"].max() if not binned.empty else 0.0
        ax.plot([x], missing["mean_shap"].to_numpy(), marker="s", linestyle="none", color=_PALETTE(3),
                label=_label(labels, "missing", n=int(missing["n"].iloc[0])))
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel(_label(labels, "bin_mean", name=name or feature))
    ax.set_ylabel(_label(labels, "mean_shap"))
    ax.set_title(_label(labels, "effect", name=name or feature))
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def recalibration_frontier_plot(
    frontier: list[dict], title: str | None = None, labels: Mapping[str, str] | None = None
) -> Figure:
    """Training AUC of the recalibrated baseline against the points it may move per stage."""
    fig = Figure(figsize=(6, 3.6), dpi=DPI)
    ax = fig.subplots()
    x = [row["max_change"] for row in frontier]
    ax.plot(x, [row["train_auc"] for row in frontier], marker="o", color=_PALETTE(0))
    ax.set_xlabel(_label(labels, "frontier_x"))
    ax.set_ylabel(_label(labels, "frontier_y"))
    ax.set_title(title or _label(labels, "frontier_title"))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
