"""A scikit-learn estimator that learns a points formula from any numeric table of indicators.

:class:`PointsFormulaClassifier` wraps the project's formula fitting (:mod:`innopoints.models.learning.candidates`,
:mod:`innopoints.models.learning.fit`) in scikit-learn's contract, so a bank's own loan-level table can be fitted,
cross-validated, grid-searched and put in a ``Pipeline`` like any classifier, and the result exported as the
same formula file the pipeline writes. Only the table's columns are indicators.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import roc_auc_score
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from innopoints.features.catalog import CATALOG, GROUPS, Indicator, check_metadata, list_indicators
from innopoints.features.errors import ModelInputError
from innopoints.features.stage import STAGE_NAMES_ZH, STAGES, StageRule
from innopoints.models.formula.schema import Formula, MissingZero, Provenance, StageFractions
from innopoints.models.learning.candidates import (
    CURVE_KINDS,
    FLAVOURS,
    FitSettings,
    Spec,
    assemble,
    fitted_points,
    learn_curves,
)
from innopoints.models.learning.directions import band_directions

DEFAULT_GROUP = "financial"
"""Group of a column whose metadata names none (groups matter only with ``group_bounds``)."""

DEFAULT_CAP = 25.0
"""The cap on one indicator's points when there are enough indicators to share the total (eight or more)."""

RESERVED_IDS = ("base", "bonus", "stage")
"""Column ids that would collide with the scored table's own columns (``points_base``, ``stage``, ...)."""

_STAGE_CODES = {**{s: c for c, s in enumerate(STAGES)}, **{STAGE_NAMES_ZH[s]: c for c, s in enumerate(STAGES)}}


def default_cap(total: float, n_scoring: int) -> float:
    """The default per-indicator cap: ``min(total, max(25, ceil(2 · total / n)))`` for ``n`` scoring indicators.

    25 points (the pipeline's rule) when eight or more indicators may score; with fewer, twice an equal share,
    so the cap can always be met and still leaves the fit room to weight them unequally (a cap of
    ``total / n`` would force equal points).
    """
    return float(min(total, max(DEFAULT_CAP, math.ceil(2.0 * total / max(n_scoring, 1)))))


def column_ids(names: Sequence[str]) -> list[str]:
    """Formula ids of table columns: lower-case identifiers (Chinese characters kept), other characters as ``_``.

    ``Credit.Amount`` becomes ``credit_amount``; a name starting with a digit or one of :data:`RESERVED_IDS`
    gets an ``x_`` prefix. Two columns that would get the same id are refused.
    """
    ids, seen = [], {}
    for name in names:
        ident = re.sub(r"\W+", "_", str(name).strip()).strip("_").lower() or "x"
        if ident[0].isdigit() or ident in RESERVED_IDS:
            ident = f"x_{ident}"
        if ident in seen:
            raise ModelInputError(f"columns {seen[ident]!r} and {name!r} both become indicator id {ident!r}; "
                                  "rename one")
        seen[ident] = name
        ids.append(ident)
    return ids


def column_indicator(column: str, ident: str, meta: Mapping | None, direction: int) -> Indicator:
    """The catalog entry of a column named like a built-in indicator, else a local indicator from ``meta``.

    ``meta`` may give ``name_zh``, ``name_en``, ``group``, ``unit`` and ``direction`` (the policy direction);
    without a policy direction the indicator is declared in ``direction``, the one it is scored in.
    """
    meta = dict(meta or {})
    list_indicators()  # loads the catalog
    if ident in CATALOG and not meta:
        return CATALOG[ident]
    ind = Indicator(id=ident, name_zh=str(meta.get("name_zh") or column), name_en=str(meta.get("name_en") or column),
                    group=str(meta.get("group") or DEFAULT_GROUP), unit=str(meta.get("unit") or "-"),
                    direction=int(meta.get("direction") or direction), status="local", inputs=(ident,),
                    description=f"column {column!r} of the fitted table")
    check_metadata(ind)
    return ind


def local_declaration(ind: Indicator) -> dict:
    """The ``local_indicators`` entry of a formula for a table column (scored from the column of that id)."""
    return {"id": ind.id, "name_zh": ind.name_zh, "name_en": ind.name_en, "group": ind.group, "unit": ind.unit,
            "direction": int(ind.direction), "column": ind.id}


class PointsFormulaClassifier(ClassifierMixin, BaseEstimator):
    """Learn a points formula (risk-band curves and constrained points) from a numeric table of indicators.

    Each column becomes an indicator: a monotone step curve fitted to default risk (or a percentile curve), a
    learned value for missing entries, and max points per lifecycle stage that sum to ``total``, fitted to
    maximise the likelihood of the outcomes under the rules (non-negative points, the per-indicator cap,
    optional group shares). The fitted formula is the same file ``innopoints train`` writes.

    Parameters
    ----------
    total : float, default=100.0
        Points the indicators sum to in every stage.
    max_points : float or None, default=None
        Cap on one indicator's points. ``None`` uses :func:`default_cap` of the indicators that may score:
        ``min(total, max(25, ceil(2 · total / n)))``, which the fit can always meet.
    directions : "auto", mapping or sequence of +1/-1, default="auto"
        Direction each column is scored in (+1: more of it, less default risk, more points). ``"auto"``
        chooses per column the direction whose monotone risk bands fit the training outcomes better
        (:func:`innopoints.models.learning.directions.band_directions`); a mapping is keyed by column name.
    curves : {"risk_bins", "percentile"}, default="risk_bins"
        Curve kind. ``risk_bins`` scores a missing value at the level matching the risk of the rows that lack
        it (``risk_matched``), ``percentile`` at the stage's median (``stage_median``).
    flavour : {"data", "policy"}, default="data"
        ``"policy"``: a column whose chosen direction contradicts the policy direction its metadata declares
        gets no points. ``"data"``: every column is scored in the direction chosen.
    indicators : mapping or None, default=None
        Column name to metadata: ``name_zh``, ``name_en``, ``group`` (one of input, output, growth,
        financial; default financial), ``unit`` and ``direction`` (the policy direction). A column named like a
        built-in indicator without metadata takes the catalog's.
    group_bounds : mapping or None, default=None
        Group to (min share, max share) of ``total``; ``None`` sets no group rule.
    stage : str, int or None, default=None
        Column (name for a DataFrame, position for an array) holding each row's lifecycle stage (``startup``,
        ``growth``, ``stable`` or 初创期, 成长期, 稳定期); it is not an indicator. Without it every stage gets
        the same points, fitted on all rows.
    evidence : bool, default=False
        Before fitting, refit a LightGBM model ``refits`` times on bootstrap resamples beside permuted shadow
        copies of every column (:func:`innopoints.models.learning.evidence.gather_evidence`); only columns with
        a measurable link (beating the best shadow in at least 80 % of the refits, with a stable direction,
        carrying their cluster of twins) may score (:func:`innopoints.models.learning.refine.eligibility`).
        Off by default for speed: then every column may score.
    refits : int, default=30
        Refits behind the evidence.
    random_state : int or None, default=None
        Seed of the evidence refits (everything else is deterministic).
    select : sequence of str or None, default=None
        Columns (names or ids) that may score; the others get no points. ``None``: every column. Applied
        before ``flavour`` and ``evidence``.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is the event (default) that points rank against.
    n_features_in_ : int
        Indicator columns seen in ``fit`` (the stage column excluded).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Their names, when ``X`` was a DataFrame with string column names.
    indicator_ids_ : list of str
        The formula id of every column (:func:`column_ids`).
    indicators_ : list of Indicator
        Their metadata as formula indicators.
    directions_ : ndarray of shape (n_features_in_,)
        Direction each column is scored in.
    active_ : ndarray of shape (n_features_in_,)
        Whether the column may score.
    max_points_ : float
        The cap used.
    curves_ : Curves
        Learned curves and missing-value policies; ``curves_.transform`` scores new rows' fractions.
    points_ : ndarray of shape (3, n_features_in_)
        Max points per stage (``STAGES`` order) and column, as rounded in the formula.
    intercept_, slope_ : ndarray of shape (3,)
        Per stage, ``log-odds(classes_[1]) = intercept_ - slope_ * points / total``.
    evidence_ : Evidence or None
        The refits, with ``evidence=True``.
    eligibility_ : DataFrame or None
        Who may score and why, with ``evidence=True``.
    notes_ : list of str
        Rules that were relaxed, and why.
    formula_ : Formula
        The fitted formula (see :meth:`to_formula`).

    Notes
    -----
    ``decision_function`` returns the log-odds of ``classes_[1]`` (scikit-learn's convention, so ``roc_auc``
    scoring and ``predict`` agree with it); it falls as the points rise. :meth:`points` returns the points.
    :meth:`score` is the ROC AUC, not accuracy: a default rate of a few per cent makes accuracy meaningless.

    Every check of scikit-learn's ``check_estimator`` applies and passes (binary classification only: a
    multiclass target is refused in ``fit``; no ``sample_weight`` in ``fit``).
    """

    def __init__(self, total: float = 100.0, max_points: float | None = None, directions="auto",
                 curves: str = "risk_bins", flavour: str = "data", indicators: Mapping | None = None,
                 group_bounds: Mapping | None = None, stage: str | int | None = None, evidence: bool = False,
                 refits: int = 30, random_state: int | None = None, select: Sequence[str] | None = None):
        self.total = total
        self.max_points = max_points
        self.directions = directions
        self.curves = curves
        self.flavour = flavour
        self.indicators = indicators
        self.group_bounds = group_bounds
        self.stage = stage
        self.evidence = evidence
        self.refits = refits
        self.random_state = random_state
        self.select = select

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------------------------------ fitting

    def fit(self, X, y):
        """Fit the curves and the points.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            Numeric indicator columns (NaN = missing), and the ``stage`` column if set.
        y : array-like of shape (n_samples,)
            Two classes; the larger label (``classes_[1]``, e.g. 1 = defaulted) is the event.

        Returns
        -------
        self : PointsFormulaClassifier
        """
        self._check_params()
        frame, codes = self._split_stage(X, fitting=True)
        values, y = validate_data(self, frame, y, ensure_all_finite="allow-nan", dtype="float64")
        check_classification_targets(y)
        if type_of_target(y) != "binary":
            raise ValueError(f"Only binary classification is supported. The type of the target is "
                             f"{type_of_target(y)}: PointsFormulaClassifier needs two classes (default and repaid)")
        self.classes_, y01 = np.unique(y, return_inverse=True)
        if self.classes_.size != 2:
            raise ValueError(f"PointsFormulaClassifier needs two classes (default and repaid); y has "
                             f"{self.classes_.size} class(es)")
        y01 = y01.astype("float64")
        staged = codes is not None
        codes = codes if staged else np.full(len(y01), STAGES.index("stable"), dtype=np.int64)
        names = ([str(c) for c in self.feature_names_in_] if hasattr(self, "feature_names_in_")
                 else [f"x{j}" for j in range(values.shape[1])])
        self.indicator_ids_ = ids = column_ids(names)
        Xf = pd.DataFrame(values, columns=ids)
        meta = dict(self.indicators or {})
        chosen = self._directions(Xf, y01, names, ids)
        inds = [column_indicator(n, i, meta.get(n, meta.get(i)), int(d))
                for n, i, d in zip(names, ids, chosen, strict=True)]
        policy = np.array([ind.direction for ind in inds])
        declared = np.array([bool((meta.get(n) or meta.get(i) or {}).get("direction")) or i in CATALOG
                             for n, i in zip(names, ids, strict=True)])
        active = np.ones(len(ids), dtype=bool)
        if self.select is not None:
            unknown = sorted(set(self.select) - set(names) - set(ids))
            if unknown:
                raise ValueError(f"select: unknown column(s) {unknown}")
            active = np.array([n in self.select or i in self.select for n, i in zip(names, ids, strict=True)])
        if self.flavour == "policy":
            active &= ~(declared & (chosen == -policy))
        self.evidence_ = self.eligibility_ = None
        if self.evidence:
            from innopoints.models.learning.evidence import EvidenceSettings, gather_evidence
            from innopoints.models.learning.refine import eligibility

            settings = EvidenceSettings(refits=int(self.refits), workers=1, seed=int(self.random_state or 0))
            self.evidence_ = gather_evidence(Xf, y01, np.arange(len(y01)), codes, settings,
                                             groups={ind.id: ind.group for ind in inds})
            self.eligibility_ = eligibility(self.evidence_, inds)
            active &= self.eligibility_["eligible"].to_numpy(dtype=bool)
        if not active.any():
            why = ("none is selected" if self.select is not None and not len(self.select) else
                   "none shows a measurable link to the outcome in the evidence refits" if self.evidence else
                   "every selected column's direction contradicts its policy direction")
            raise ModelInputError(f"no column may score: {why}")
        self.indicators_, self.directions_, self.active_ = inds, chosen, active
        self.max_points_ = (float(self.max_points) if self.max_points is not None
                            else default_cap(float(self.total), int(active.sum())))
        spec = Spec(ids=ids, directions=chosen, active=active)
        curves = learn_curves(Xf, y01, codes, spec, self.curves)
        if not staged:
            curves = _same_for_every_stage(curves, STAGES.index("stable"))
        fit_settings = FitSettings(base=float(self.total), group_bounds=_bounds(self.group_bounds),
                                   max_points=self.max_points_)
        points, fits, notes = fitted_points(curves.fractions, y01, codes, spec, [ind.group for ind in inds],
                                            fit_settings)
        if not staged:  # every stage is the same rows: one set of notes, no "pooled" remarks
            notes = [n.split(": ", 1)[1] for n in notes if n.startswith("stable: ") and "pooled" not in n]
        self.curves_, self.notes_ = curves, notes
        self.intercept_ = np.array([f.intercept for f in fits])
        self.slope_ = np.array([f.slope for f in fits])
        self.formula_ = assemble(
            name=f"fitted-{self.flavour}", version="1",
            title=f"拟合积分公式 Points formula fitted to a table ({self.flavour})",
            description=("Fitted by PointsFormulaClassifier: " + ("per lifecycle stage" if staged else
                                                                   "the same points in every stage")
                         + f", {self.curves} curves, at most {self.max_points_:g} points per indicator."),
            indicators=inds, curves=curves, points=points, stage_rule=StageRule(),
            provenance=Provenance(method=f"points-formula-classifier:{self.flavour}",
                                  seed=int(self.random_state) if self.random_state is not None else None,
                                  notes="; ".join(notes)),
            base=float(self.total), local_indicators=[local_declaration(i) for i in inds if i.status == "local"])
        by_id = {item.id: item.points.as_array() for item in self.formula_.indicators}
        self.points_ = np.column_stack([by_id.get(i, np.zeros(len(STAGES))) for i in ids])
        return self

    def _check_params(self) -> None:
        if not isinstance(self.total, Real) or not self.total > 0:
            raise ValueError(f"total must be a positive number, got {self.total!r}")
        if self.max_points is not None and (not isinstance(self.max_points, Real) or not self.max_points > 0):
            raise ValueError(f"max_points must be None or a positive number, got {self.max_points!r}")
        if self.curves not in CURVE_KINDS:
            raise ValueError(f"curves must be one of {CURVE_KINDS}, got {self.curves!r}")
        if self.flavour not in FLAVOURS:
            raise ValueError(f"flavour must be one of {FLAVOURS}, got {self.flavour!r}")
        if self.evidence and (not isinstance(self.refits, Integral) or self.refits < 2):
            raise ValueError(f"refits must be an integer of at least 2, got {self.refits!r}")

    def _directions(self, X: pd.DataFrame, y: np.ndarray, names: list[str], ids: list[str]) -> np.ndarray:
        if isinstance(self.directions, str):
            if self.directions != "auto":
                raise ValueError(f"directions must be 'auto', a mapping or a sequence of +1/-1, got "
                                 f"{self.directions!r}")
            return band_directions(X, y)
        if isinstance(self.directions, Mapping):
            unknown = sorted(set(self.directions) - set(names) - set(ids))
            if unknown:
                raise ValueError(f"directions: unknown column(s) {unknown}")
            out = np.array([self.directions.get(n, self.directions.get(i, 0)) for n, i in zip(names, ids,
                                                                                              strict=True)])
            auto = out == 0
            if auto.any():  # columns the mapping leaves out are chosen on the bands
                out[auto] = band_directions(X.loc[:, auto], y)
        else:
            out = np.asarray(self.directions)
            if out.shape != (len(ids),):
                raise ValueError(f"directions: {out.size} values for {len(ids)} columns")
        if not np.isin(out, (1, -1)).all():
            raise ValueError(f"directions must be +1 or -1, got {sorted(set(out.tolist()) - {1, -1})}")
        return out.astype(np.int64)

    def _split_stage(self, X, *, fitting: bool) -> tuple[object, np.ndarray | None]:
        """``X`` without the stage column, and each row's stage code (None without a stage column)."""
        if self.stage is None:
            return X, None
        if isinstance(X, pd.DataFrame):
            if self.stage not in X.columns:
                raise ValueError(f"stage column {self.stage!r} is not in X (columns {list(X.columns)[:8]})")
            stage, rest = X[self.stage], X.drop(columns=[self.stage])
        else:
            arr = np.asarray(X, dtype=object)
            if not isinstance(self.stage, Integral) or arr.ndim != 2 or not 0 <= self.stage < arr.shape[1]:
                raise ValueError(f"stage must be a column position of the array X, got {self.stage!r}")
            stage, rest = pd.Series(arr[:, self.stage]), np.delete(arr, self.stage, axis=1)
        codes = stage.astype(object).map(_STAGE_CODES)
        if codes.isna().any():
            bad = stage[codes.isna()].iloc[0]
            raise ValueError(f"stage column {self.stage!r}: {int(codes.isna().sum())} row(s) outside "
                             f"{list(STAGES)} (or {[STAGE_NAMES_ZH[s] for s in STAGES]}), e.g. {bad!r}")
        return rest, codes.to_numpy(dtype=np.int64)

    # ------------------------------------------------------------------------------------------ scoring

    def _fractions(self, X) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "formula_")
        frame, codes = self._split_stage(X, fitting=False)
        values = validate_data(self, frame, reset=False, ensure_all_finite="allow-nan", dtype="float64")
        if codes is None:
            codes = np.full(values.shape[0], STAGES.index("stable"), dtype=np.int64)
        return self.curves_.transform(values, codes), codes

    def _points(self, X) -> tuple[np.ndarray, np.ndarray]:
        F, codes = self._fractions(X)
        return (F * self.points_[codes]).sum(axis=1), codes

    def points(self, X) -> np.ndarray:
        """Points of every row (higher = lower risk of ``classes_[1]``), equal to the formula's.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._points(X)[0]

    def decision_function(self, X) -> np.ndarray:
        """Log-odds of ``classes_[1]``: ``intercept_[stage] - slope_[stage] * points / total``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        pts, codes = self._points(X)
        return self.intercept_[codes] - self.slope_[codes] * pts / float(self.total)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities of ``classes_[0]`` and ``classes_[1]`` from the points (the fitted logistic link).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """``classes_[1]`` where its probability exceeds one half, else ``classes_[0]``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        above = self.decision_function(X) > 0
        return self.classes_[above.astype(np.int64)]

    def score(self, X, y, sample_weight=None) -> float:
        """ROC AUC of the decision function for ``classes_[1]`` (the ranking the points make).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        return float(roc_auc_score(np.asarray(y) == self.classes_[1], self.decision_function(X),
                                   sample_weight=sample_weight))

    def to_formula(self, *, name: str | None = None, version: str | None = None, title: str | None = None) -> Formula:
        """The fitted formula (the file ``innopoints train`` and ``innopoints fit`` write), renamed if asked.

        Parameters
        ----------
        name, version, title : str, optional
            Replace the formula's own; the content hash is recomputed.

        Returns
        -------
        Formula
        """
        check_is_fitted(self, "formula_")
        update = {k: v for k, v in (("name", name), ("version", version), ("title", title)) if v is not None}
        if not update:
            return self.formula_
        return Formula.from_dict({**self.formula_.to_dict(), **update, "provenance": {
            **self.formula_.provenance.model_dump(), "content_hash": ""}}, allow_unhashed=True).with_hash()


def _same_for_every_stage(curves, code: int):
    """Curves fitted without a stage column: every stage's missing-value fraction is the fitted stage's."""
    missing = []
    for m in curves.missing:
        if isinstance(m, MissingZero) or not hasattr(m, "fraction"):
            missing.append(m)
            continue
        v = getattr(m.fraction, STAGES[code])
        missing.append(type(m)(fraction=StageFractions(**{s: v for s in STAGES})))
    return dataclasses.replace(curves, missing=missing)


def _bounds(group_bounds: Mapping | None) -> dict[str, tuple[float, float]] | None:
    if group_bounds is None:
        return None
    unknown = sorted(set(group_bounds) - set(GROUPS))
    if unknown:
        raise ValueError(f"group_bounds: unknown group(s) {unknown}; groups are {list(GROUPS)}")
    return {g: (float(lo), float(hi)) for g, (lo, hi) in group_bounds.items()}
