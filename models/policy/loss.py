"""Policy simulation: what a points formula means for lending, defaults and who carries the loss.

An official choosing a formula asks: *with this formula and this threshold, how much lending do we unlock,
how many loans go bad, and who carries the loss?* This module answers it from four ingredients, all
aggregated by **points band** (money in CNY 10k throughout):

1. **Bands and default probabilities** (:class:`BandCalibrator`): band edges are quantiles of the points of
   loans with an observed outcome; the default rate per band is made non-increasing in points by pooling
   adjacent violators (weighted by loans), floored, and given a Wilson interval on the pooled counts. A
   monotone map is what makes "a higher threshold never raises the expected default rate" true by
   construction (a top set loses its riskiest members first).
2. **Take-up and loan size** (:func:`lending_by_band`): share of the firms in a band that borrowed in one
   year, and the mean yearly amount a borrowing firm took.
3. **Qualification** (:func:`qualify`): top share or points cut-off, nationally or per province.
4. **Terms** (:class:`Terms`): loss given default, tenor, guarantee share and cap, compensation funds,
   refinancing, default correlation.

Expected values are exact sums over (province, band) **cells** (:func:`expected_cells`); the split of the
expected loss between banks, the guarantee system and the provincial funds is computed per loan and adds up
to the expected loss by construction. The loss *distribution* (:func:`simulate_losses`) uses a one-factor
Gaussian copula (Vasicek): given the common factor ``Z`` every firm defaults independently with
``p(Z) = Φ((Φ⁻¹(p) − √ρ·Z) / √(1 − ρ))``. All firms of a cell share take-up ``u`` and ``p``, so the number of
defaulted loans in a cell given ``Z`` is **exactly** ``Binomial(firms, u·p(Z))`` (a firm defaults on a loan
only if it borrowed; borrowing is independent of ``Z``), and the number of those loans that carry a
guarantee is ``Binomial(defaults, guaranteed share)``. Draws are made per cell, in chunks of draws, so
memory grows with draws × cells (a few hundred cells), never with draws × firms.

No files, no printing (docs/architecture.md): ``pipeline/policy.py`` reads the policy file and writes the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri
from sklearn.base import BaseEstimator
from sklearn.isotonic import isotonic_regression
from sklearn.utils.validation import check_is_fitted

from innopoints.features.errors import PolicyError
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE
from innopoints.models.formula.qualify import qualified_mask

PD_FLOOR = 0.0003
"""Lowest default probability a band gets: the Basel II IRB floor of 0.03%, so an empty band is not riskless."""

LOSS_QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99, 0.999)
# The totals a summary of a simulation shows (reports, MLflow metrics): lending, defaults, who pays, the tail.
SUMMARY_TOTALS: tuple[str, ...] = ("qualified_firms", "expected_volume", "expected_default_rate", "expected_loss",
                                   "loss_bank", "loss_guarantee", "loss_funds", "loss_p99",
                                   "fund_exhaustion_probability")
"""Quantiles of the simulated loss that are reported (``loss_p50`` ... ``loss_p999``)."""



# ------------------------------------------------------------------------------------------------ terms


@dataclass(frozen=True)
class Terms:
    """The lending terms a simulation needs besides the bands; money in CNY 10k, shares in [0, 1].

    The defaults and their sources are documented in ``docs/policy.md``; the validated policy file in
    ``pipeline/policy.py`` is the way users set them.
    """

    lgd: float = 0.6
    tenor_months: float = 12.0
    guaranteed_share: float = 0.33
    guarantee_cover: float = 0.8
    guarantee_cap: float = 3000.0
    fund_coverage: float = 0.3
    fund_cap_per_loan: float | None = None
    refinancing_share: float = 0.6
    refinancing_rate_advantage: float = 0.01
    correlation: float = 0.12

    def __post_init__(self) -> None:
        for name in ("lgd", "guaranteed_share", "guarantee_cover", "fund_coverage", "refinancing_share",
                     "refinancing_rate_advantage"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise PolicyError(f"terms.{name}: must be in [0, 1], got {value!r}")
        if not 0.0 <= self.correlation < 1.0:
            raise PolicyError(f"terms.correlation: must be in [0, 1), got {self.correlation!r}")
        if self.tenor_months <= 0 or self.guarantee_cap < 0:
            raise PolicyError(f"terms: tenor_months must be > 0 and guarantee_cap >= 0, got "
                              f"{self.tenor_months!r} and {self.guarantee_cap!r}")
        if self.fund_cap_per_loan is not None and self.fund_cap_per_loan < 0:
            raise PolicyError(f"terms.fund_cap_per_loan: must be >= 0, got {self.fund_cap_per_loan!r}")


def lifetime_pd(pd12: np.ndarray, tenor_months: float) -> np.ndarray:
    """Default probability over the tenor from the 12-month one, at a constant hazard (identity at 12)."""
    pd12 = np.asarray(pd12, dtype="float64")
    if tenor_months == 12:
        return pd12.copy()
    return -np.expm1(np.log1p(-np.minimum(pd12, 1.0)) * (tenor_months / 12.0))


# ---------------------------------------------------------------------------------- bands and calibration


def _inner_edges(points: np.ndarray, n_bands: int) -> np.ndarray:
    # method="lower" puts every edge on an observed value and edges above the minimum keep the lowest band
    # non-empty, so every band holds observed loans.
    inner = np.unique(np.quantile(points, np.linspace(0.0, 1.0, n_bands + 1)[1:-1], method="lower"))
    return inner[inner > points.min()]


def band_of(points, edges: np.ndarray) -> np.ndarray:
    """Band index (0 = lowest points) of each points value; band ``i`` is ``edges[i-1] <= x < edges[i]``."""
    return np.searchsorted(edges, np.asarray(points, dtype="float64"), side="right")


def wilson_interval(defaults, n, ci: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a default rate ``defaults / n`` (elementwise)."""
    d = np.asarray(defaults, dtype="float64")
    n = np.asarray(n, dtype="float64")
    z = float(ndtri(0.5 + ci / 2.0))
    p = d / n
    denom = 1.0 + z * z / n
    center = (p + z * z / (2.0 * n)) / denom
    half = z / denom * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return np.clip(center - half, 0.0, 1.0), np.clip(center + half, 0.0, 1.0)


class BandCalibrator(BaseEstimator):
    """Default probability per points band, non-increasing in points, with Wilson intervals.

    Parameters
    ----------
    n_bands : int, default 10
        Bands are the ``n_bands``-quantiles of the points of the training loans (fewer when quantiles
        coincide). Loans concentrate among qualified firms, so the bands are fine where the threshold lies.
    pd_floor : float, default :data:`PD_FLOOR`
        Lowest default probability (and lower bound) of a band.
    ci : float, default 0.95
        Coverage of the Wilson interval, computed on the pooled counts of the band's monotone block (the
        adjacent bands that share its monotone rate).

    Attributes
    ----------
    edges_ : ndarray
        Inner band edges (``n_bands_ - 1`` values); the lowest band is open below, the highest above.
    table_ : DataFrame
        One row per band, lowest points first: ``band``, ``lower``, ``upper``, ``n``, ``defaults``,
        ``default_rate`` (observed), ``pd`` (monotone, floored), ``pd_low``, ``pd_high``.
    n_bands_ : int
    """

    def __init__(self, n_bands: int = 10, pd_floor: float = PD_FLOOR, ci: float = 0.95):
        self.n_bands = n_bands
        self.pd_floor = pd_floor
        self.ci = ci

    def fit(self, points, defaulted) -> BandCalibrator:
        """Fit on the points and default flags of loans with an observed outcome; returns ``self``."""
        pts = np.asarray(points, dtype="float64")
        y = np.asarray(defaulted, dtype=bool)
        if pts.shape != y.shape or pts.ndim != 1:
            raise PolicyError(f"BandCalibrator.fit: need one default flag per points value, got {pts.shape} "
                              f"and {y.shape}")
        if len(pts) == 0 or not np.isfinite(pts).all():
            raise PolicyError("BandCalibrator.fit: no observed loans, or points that are not finite")
        if not y.any():
            raise PolicyError(f"BandCalibrator.fit: none of the {len(y)} observed loans defaulted, so default "
                              "probabilities cannot be calibrated")
        if self.n_bands < 1 or not 0.0 <= self.pd_floor < 1.0 or not 0.0 < self.ci < 1.0:
            raise PolicyError(f"BandCalibrator: need n_bands >= 1, 0 <= pd_floor < 1, 0 < ci < 1; got "
                              f"{self.n_bands}, {self.pd_floor}, {self.ci}")
        self.edges_ = _inner_edges(pts, self.n_bands)
        self.n_bands_ = len(self.edges_) + 1
        band = band_of(pts, self.edges_)
        n = np.bincount(band, minlength=self.n_bands_).astype("float64")
        d = np.bincount(band, weights=y, minlength=self.n_bands_)
        fitted = isotonic_regression(d / n, sample_weight=n, increasing=False)
        # A monotone block is a run of bands with the same fitted rate; its pooled counts give the interval.
        block = np.concatenate([[0], np.cumsum(fitted[1:] != fitted[:-1])])
        low, high = wilson_interval(np.bincount(block, weights=d)[block], np.bincount(block, weights=n)[block],
                                    self.ci)
        pd_ = np.maximum(fitted, self.pd_floor)
        self.table_ = pd.DataFrame({
            "band": np.arange(1, self.n_bands_ + 1),
            "lower": np.concatenate([[-np.inf], self.edges_]),
            "upper": np.concatenate([self.edges_, [np.inf]]),
            "n": n.astype("int64"),
            "defaults": d.astype("int64"),
            "default_rate": d / n,
            "pd": pd_,
            "pd_low": np.minimum(np.maximum(low, self.pd_floor), pd_),
            "pd_high": np.maximum(high, pd_),
        })
        return self

    def band(self, points) -> np.ndarray:
        """Band index (0 = lowest points) of each points value."""
        check_is_fitted(self, ("edges_", "table_"))
        return band_of(points, self.edges_)

    def predict_pd(self, points) -> np.ndarray:
        """12-month default probability of each points value (its band's monotone rate)."""
        band = self.band(points)  # checks that the calibrator is fitted
        return self.table_["pd"].to_numpy()[band]


# ------------------------------------------------------------------------------------ take-up and size


def firm_year_lending(loans: pd.DataFrame) -> pd.DataFrame:
    """One row per firm and origination year: ``points`` (the first loan's) and the summed ``amount``.

    ``loans`` needs ``firm_id``, ``year``, ``points`` and ``amount``. A firm that borrows twice in a year
    is one borrower with the sum of both loans, so take-up counts firms and size counts yearly volume.
    """
    grouped = loans.groupby(["firm_id", "year"], sort=True, observed=True)
    return grouped.agg(points=("points", "first"), amount=("amount", "sum")).reset_index()


def lending_by_band(population_band: np.ndarray, borrower_band: np.ndarray, lending_band: np.ndarray,
                    lending_amount: np.ndarray, n_bands: int) -> pd.DataFrame:
    """Take-up and yearly amount per band, estimated from one year's population and the borrowing firms.

    Args:
        population_band: band of every firm scored in the estimation year.
        borrower_band: band of every firm that borrowed in that year (one entry per firm).
        lending_band, lending_amount: band and yearly amount of every borrowing firm-year (all years).
        n_bands: number of bands.
    Returns:
        ``band``, ``firms``, ``borrowers``, ``take_up`` (borrowers / firms, 0 for a band with no firms),
        ``firm_years`` and ``mean_amount`` (the overall mean for a band with no borrowing).
    """
    firms = np.bincount(population_band, minlength=n_bands)
    borrowers = np.bincount(borrower_band, minlength=n_bands)
    take_up = np.divide(borrowers, firms, out=np.zeros(n_bands), where=firms > 0)
    lent = np.bincount(lending_band, minlength=n_bands)
    total = np.bincount(lending_band, weights=lending_amount, minlength=n_bands)
    overall = float(np.mean(lending_amount)) if len(lending_amount) else 0.0
    mean_amount = np.divide(total, lent, out=np.full(n_bands, overall), where=lent > 0)
    return pd.DataFrame({"band": np.arange(1, n_bands + 1), "firms": firms, "borrowers": borrowers,
                         "take_up": np.minimum(take_up, 1.0), "firm_years": lent, "mean_amount": mean_amount})


def guaranteed_volume_share(guaranteed: np.ndarray, amount: np.ndarray) -> float:
    """Share of the lending volume under the guarantee system (0 when there is no volume)."""
    amount = np.asarray(amount, dtype="float64")
    total = float(amount.sum())
    return float(amount[np.asarray(guaranteed, dtype=bool)].sum()) / total if total > 0 else 0.0


# --------------------------------------------------------------------------------------- qualification


@dataclass(frozen=True)
class Qualification:
    """Who qualifies: a top ``share`` (nationally or per province) or a points ``cutoff``.

    ``province_cutoffs`` (province → cut-off) override the national rule in the provinces they name.
    """

    share: float | None = QUALIFIED_SHARE
    cutoff: float | None = None
    by_province: bool = False
    province_cutoffs: Mapping[str, float] = field(default_factory=dict)


def qualify(points: np.ndarray, provinces: np.ndarray, rule: Qualification) -> np.ndarray:
    """Boolean mask of qualified firms under ``rule`` (ties at a cut-off all qualify)."""
    points = np.asarray(points, dtype="float64")
    provinces = np.asarray(provinces, dtype=object)
    if rule.cutoff is None and rule.share is None:
        raise PolicyError("qualification: give a share or a cutoff")
    if rule.cutoff is not None or not rule.by_province:
        mask = qualified_mask(points, share=rule.share, cutoff=rule.cutoff)
    else:
        mask = np.zeros(len(points), dtype=bool)
        for prov in pd.unique(provinces):
            rows = provinces == prov
            mask[rows] = qualified_mask(points[rows], share=rule.share)
    for prov, cut in rule.province_cutoffs.items():
        rows = provinces == prov
        mask[rows] = points[rows] >= cut
    return mask


# ------------------------------------------------------------------------------------- expected values


def cells(band: np.ndarray, provinces: np.ndarray, qualified: np.ndarray, bands: pd.DataFrame) -> pd.DataFrame:
    """Qualified firms counted per (province, band), with the band's ``take_up``, ``mean_amount`` and PDs.

    ``bands`` has one row per band in band order with ``take_up``, ``mean_amount``, ``pd``, ``pd_low`` and
    ``pd_high``. Empty cells are left out.
    """
    frame = pd.DataFrame({"province": np.asarray(provinces, dtype=object)[qualified],
                          "band": np.asarray(band)[qualified] + 1})
    counts = frame.groupby(["province", "band"], sort=True).size().rename("firms").reset_index()
    cols = ["band", "take_up", "mean_amount", "pd", "pd_low", "pd_high"]
    return counts.merge(bands[cols], on="band", how="left", validate="many_to_one")


def per_default(amount: np.ndarray, terms: Terms) -> dict[str, np.ndarray]:
    """Loss on one defaulted loan of ``amount`` and who carries it, averaged over guaranteed or not.

    The guarantee system pays ``guarantee_cover`` of the loss on the guaranteed principal
    (``min(amount, guarantee_cap)``) of a guaranteed loan; the provincial fund pays ``fund_coverage`` of the
    loss left with the bank (at most ``fund_cap_per_loan``); the bank keeps the rest. Returns per-default
    ``loss``, ``guarantee``, ``fund_guaranteed``, ``fund_unguaranteed``, ``fund`` and ``bank``
    (``guarantee + fund + bank == loss`` up to rounding).
    """
    amount = np.asarray(amount, dtype="float64")
    g = terms.guaranteed_share
    loss = amount * terms.lgd
    guarantee_g = terms.guarantee_cover * terms.lgd * np.minimum(amount, terms.guarantee_cap)
    fund_g = _fund(loss - guarantee_g, terms)
    fund_u = _fund(loss, terms)
    bank = g * (loss - guarantee_g - fund_g) + (1.0 - g) * (loss - fund_u)
    return {"loss": loss, "guarantee": g * guarantee_g, "fund_guaranteed": fund_g, "fund_unguaranteed": fund_u,
            "fund": g * fund_g + (1.0 - g) * fund_u, "bank": bank}


def _fund(bank_loss: np.ndarray, terms: Terms) -> np.ndarray:
    paid = terms.fund_coverage * bank_loss
    return paid if terms.fund_cap_per_loan is None else np.minimum(paid, terms.fund_cap_per_loan)


def expected_cells(cell_table: pd.DataFrame, terms: Terms) -> pd.DataFrame:
    """Expected loans, volume, defaults and the loss split of every cell (exact sums, no simulation).

    Adds ``pd_life`` (over the tenor), ``expected_loans``, ``expected_volume``, ``expected_defaults``,
    ``expected_loss`` (with ``_low`` / ``_high`` from the band interval), ``loss_guarantee``, ``fund_claims``
    and ``loss_bank``; ``loss_guarantee + fund_claims + loss_bank == expected_loss``.
    """
    out = cell_table.copy()
    loans = out["firms"].to_numpy("float64") * out["take_up"].to_numpy("float64")
    amount = out["mean_amount"].to_numpy("float64")
    split = per_default(amount, terms)
    out["pd_life"] = lifetime_pd(out["pd"].to_numpy(), terms.tenor_months)
    defaults = loans * out["pd_life"].to_numpy()
    out["expected_loans"] = loans
    out["expected_volume"] = loans * amount
    out["expected_defaults"] = defaults
    out["expected_loss"] = defaults * split["loss"]
    for side in ("low", "high"):
        out[f"expected_loss_{side}"] = loans * lifetime_pd(out[f"pd_{side}"].to_numpy(), terms.tenor_months) \
            * split["loss"]
        out[f"expected_defaults_{side}"] = loans * lifetime_pd(out[f"pd_{side}"].to_numpy(), terms.tenor_months)
    out["loss_guarantee"] = defaults * split["guarantee"]
    out["fund_claims"] = defaults * split["fund"]
    out["loss_bank"] = defaults * split["bank"]
    return out


SUM_COLUMNS = ("firms", "expected_loans", "expected_volume", "expected_defaults", "expected_defaults_low",
               "expected_defaults_high", "expected_loss", "expected_loss_low", "expected_loss_high",
               "loss_guarantee", "fund_claims", "loss_bank")


def summarise(expected: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Sums of the expected cells (per ``by`` column, or one row ``all``) and the expected default rate.

    ``expected_default_rate`` is expected defaults per expected loan (with ``_low`` / ``_high``).
    """
    key = expected[by] if by else pd.Series("all", index=expected.index)
    sums = expected[list(SUM_COLUMNS)].groupby(key.to_numpy(), sort=True).sum()
    sums = sums.rename(columns={"firms": "qualified_firms"})
    loans = sums["expected_loans"]
    for suffix in ("", "_low", "_high"):
        sums[f"expected_default_rate{suffix}"] = (sums[f"expected_defaults{suffix}"] / loans).where(loans > 0)
    return sums


# ---------------------------------------------------------------------------------- loss distribution


@dataclass
class LossDistribution:
    """What the one-factor Monte Carlo says: total loss quantiles and, per province, fund exhaustion.

    ``total`` holds the simulated total loss of every draw (for plots); ``provinces`` one row per province
    with ``loss_mean``, ``loss_p99``, ``fund_size``, ``fund_claims_mean``, ``fund_claims_p99``,
    ``fund_exhaustion_probability`` (claims above the fund), ``fund_expected_shortfall`` (mean claims the
    fund cannot pay) and ``fund_paid_share`` (mean paid / mean claimed).
    """

    total: np.ndarray
    quantiles: dict[str, float]
    provinces: pd.DataFrame
    any_fund_exhausted: float
    n_draws: int
    seed: int


def conditional_pd(pd_: np.ndarray, z: np.ndarray, correlation: float) -> np.ndarray:
    """Vasicek default probability given the common factor ``z`` (draws × cells); low ``z`` = bad times."""
    with np.errstate(divide="ignore"):
        threshold = ndtri(np.asarray(pd_, dtype="float64"))
    rho = correlation
    return ndtr((threshold[None, :] - np.sqrt(rho) * np.asarray(z)[:, None]) / np.sqrt(1.0 - rho))


def simulate_losses(expected: pd.DataFrame, terms: Terms, fund_sizes: Mapping[str, float], *,
                    n_draws: int = 100_000, seed: int = 1, chunk: int = 10_000) -> LossDistribution:
    """Loss distribution under a one-factor Gaussian copula, by exact binomial draws per cell.

    Args:
        expected: :func:`expected_cells` output (``province``, ``firms``, ``take_up``, ``mean_amount``,
            ``pd_life``).
        terms: correlation, loss given default, guarantee and fund terms.
        fund_sizes: province → fund size; a province not named has no fund (size 0).
        n_draws, seed, chunk: Monte Carlo draws, the seed of ``numpy.random.default_rng``, draws per chunk.
    """
    if n_draws < 1 or chunk < 1:
        raise PolicyError(f"monte carlo: need draws >= 1 and chunk >= 1, got {n_draws} and {chunk}")
    rng = np.random.default_rng(seed)
    provinces, cell_prov = np.unique(expected["province"].to_numpy(dtype=object), return_inverse=True)
    n_prov = len(provinces)
    firms = expected["firms"].to_numpy("int64")
    take_up = expected["take_up"].to_numpy("float64")
    pd_life = expected["pd_life"].to_numpy("float64")
    split = per_default(expected["mean_amount"].to_numpy("float64"), terms)
    onto = np.zeros((len(expected), n_prov))
    onto[np.arange(len(expected)), cell_prov] = 1.0  # cells → provinces, one matrix product per chunk
    sizes = np.array([float(fund_sizes.get(p, 0.0)) for p in provinces])
    total = np.empty(n_draws)
    prov_loss = np.empty((n_draws, n_prov))
    prov_claims = np.empty((n_draws, n_prov))
    for start in range(0, n_draws, chunk):
        m = min(chunk, n_draws - start)
        z = rng.standard_normal(m)
        q = take_up[None, :] * conditional_pd(pd_life, z, terms.correlation)
        defaults = rng.binomial(firms[None, :], q)
        guaranteed = rng.binomial(defaults, terms.guaranteed_share)
        loss = defaults * split["loss"][None, :]
        claims = guaranteed * split["fund_guaranteed"][None, :] + (defaults - guaranteed) * \
            split["fund_unguaranteed"][None, :]
        prov_loss[start:start + m] = loss @ onto
        prov_claims[start:start + m] = claims @ onto
        total[start:start + m] = loss.sum(axis=1)
    shortfall = np.maximum(prov_claims - sizes[None, :], 0.0)
    exhausted = prov_claims > sizes[None, :]
    table = pd.DataFrame({
        "province": provinces,
        "loss_mean": prov_loss.mean(axis=0),
        "loss_p99": np.quantile(prov_loss, 0.99, axis=0),
        "fund_size": sizes,
        "fund_claims_mean": prov_claims.mean(axis=0),
        "fund_claims_p99": np.quantile(prov_claims, 0.99, axis=0),
        "fund_exhaustion_probability": exhausted.mean(axis=0),
        "fund_expected_shortfall": shortfall.mean(axis=0),
        # Share of the claims a fund pays on average; 1 when no draw made a claim (nothing to fall short).
        "fund_paid_share": np.divide(np.minimum(prov_claims, sizes[None, :]).mean(axis=0), prov_claims.mean(axis=0),
                                     out=np.ones(n_prov), where=prov_claims.mean(axis=0) > 0),
    })
    quantiles = {_quantile_key(q): float(v) for q, v in zip(LOSS_QUANTILES, np.quantile(total, LOSS_QUANTILES),
                                                            strict=True)}
    return LossDistribution(total=total, quantiles=quantiles, provinces=table,
                            any_fund_exhausted=float(exhausted.any(axis=1).mean()), n_draws=n_draws, seed=seed)


def _quantile_key(q: float) -> str:
    return "loss_p" + f"{q * 100:g}".replace(".", "")


def fund_sizes(volume_by_province: Mapping[str, float], ratio: float,
               overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Fund size per province: ``ratio`` × the province's lending volume, unless given explicitly."""
    sizes = {p: ratio * float(v) for p, v in volume_by_province.items()}
    sizes.update({p: float(v) for p, v in (overrides or {}).items()})
    return sizes


# ----------------------------------------------------------------------------------- threshold search


def firm_contributions(band: np.ndarray, bands: pd.DataFrame, terms: Terms) -> tuple[np.ndarray, np.ndarray]:
    """Expected loss and expected volume each firm adds when it qualifies (by its band)."""
    take_up = bands["take_up"].to_numpy("float64")
    amount = bands["mean_amount"].to_numpy("float64")
    pd_life = lifetime_pd(bands["pd"].to_numpy(), terms.tenor_months)
    loss = take_up * pd_life * amount * terms.lgd
    volume = take_up * amount
    return loss[band], volume[band]


def threshold_curve(points: np.ndarray, band: np.ndarray, bands: pd.DataFrame, terms: Terms) -> pd.DataFrame:
    """Expected loss, volume and qualified firms for every national cut-off, highest cut-off first.

    Row ``k`` is the cut-off ``points`` = the ``k``-th highest distinct points value: everyone at or above it
    qualifies, so ties enter together and both cumulative columns are non-decreasing down the table.
    """
    loss, volume = firm_contributions(band, bands, terms)
    values, inverse = np.unique(-np.asarray(points, dtype="float64"), return_inverse=True)
    return pd.DataFrame({
        "cutoff": -values,
        "qualified_firms": np.cumsum(np.bincount(inverse, minlength=len(values))),
        "expected_loss": np.cumsum(np.bincount(inverse, weights=loss, minlength=len(values))),
        "expected_volume": np.cumsum(np.bincount(inverse, weights=volume, minlength=len(values))),
    })


def match_expected_loss(points: np.ndarray, band: np.ndarray, bands: pd.DataFrame, terms: Terms,
                        target: float) -> dict:
    """The lowest national cut-off whose expected loss does not exceed ``target``, and what it lends.

    Expected loss only grows as the cut-off falls, so a binary search (``numpy.searchsorted``) over the
    cumulative loss of the distinct points values, highest first, finds it exactly.
    """
    curve = threshold_curve(points, band, bands, terms)
    cum = curve["expected_loss"].to_numpy()
    # A relative tolerance so that a formula matched against itself lands on its own threshold.
    k = int(np.searchsorted(cum, target * (1.0 + 1e-12) + 1e-12, side="right")) - 1
    if k < 0:
        return {"cutoff": None, "qualified_firms": 0, "expected_loss": 0.0, "expected_volume": 0.0}
    row = curve.iloc[k]
    return {"cutoff": float(row["cutoff"]), "qualified_firms": int(row["qualified_firms"]),
            "expected_loss": float(row["expected_loss"]), "expected_volume": float(row["expected_volume"])}


# ----------------------------------------------------------------------------------------- assessment


@dataclass
class Assessment:
    """One formula under one policy: cells, sums, the loss split, the loss distribution."""

    bands: pd.DataFrame
    cells: pd.DataFrame
    total: dict
    by_province: pd.DataFrame
    distribution: LossDistribution


def assess(points: np.ndarray, provinces: np.ndarray, band: np.ndarray, bands: pd.DataFrame, terms: Terms,
           rule: Qualification, funds: Mapping[str, float], *, n_draws: int, seed: int,
           chunk: int = 10_000) -> Assessment:
    """Qualify, take expectations per cell, simulate the loss distribution, and split the loss.

    The expected split ``loss_bank + loss_guarantee + loss_funds == expected_loss`` holds exactly. A fund
    pays its exact expected claims times the share of claims it could pay in the simulation (a ratio
    estimator: it stays within ``[0, claims]`` and the fund's size whatever the Monte Carlo noise); what it
    cannot pay stays with the banks.
    """
    mask = qualify(points, provinces, rule)
    expected = expected_cells(cells(band, provinces, mask, bands), terms)
    dist = simulate_losses(expected, terms, funds, n_draws=n_draws, seed=seed, chunk=chunk)
    mc = dist.provinces.set_index("province")
    by_prov = summarise(expected, "province").join(mc.drop(columns="fund_expected_shortfall"), how="left")
    claims = by_prov["fund_claims"]
    by_prov["loss_funds"] = np.minimum(claims * by_prov["fund_paid_share"], by_prov["fund_size"])
    by_prov["fund_expected_shortfall"] = claims - by_prov["loss_funds"]
    by_prov["loss_bank"] = by_prov["loss_bank"] + by_prov["fund_expected_shortfall"]
    total = summarise(expected).iloc[0].to_dict() if len(expected) else _empty_total()
    shortfall = float(by_prov["fund_expected_shortfall"].sum())
    total.update({
        "loss_funds": float(by_prov["loss_funds"].sum()),
        "loss_bank": float(total["loss_bank"]) + shortfall,
        "fund_expected_shortfall": shortfall,
        "fund_size": float(by_prov["fund_size"].sum()),
        "fund_exhaustion_probability": dist.any_fund_exhausted,
        "refinancing_volume": float(total["expected_volume"]) * terms.refinancing_share,
        "refinancing_interest_saving": float(total["expected_volume"]) * terms.refinancing_share
        * terms.refinancing_rate_advantage * terms.tenor_months / 12.0,
        "simulated_loss_mean": float(dist.total.mean()),
        **dist.quantiles,
    })
    return Assessment(bands=bands, cells=expected, total=total, by_province=by_prov, distribution=dist)


def _empty_total() -> dict:
    total = {c: 0.0 for c in SUM_COLUMNS}
    total["qualified_firms"] = total.pop("firms")
    total.update({"expected_default_rate": None, "expected_default_rate_low": None,
                  "expected_default_rate_high": None})
    return total


# ----------------------------------------------------------------------------- headline under assumptions


MAX_MARGINAL_PD = 0.05
"""Default probability of the marginal band (the band of the lowest-scored qualified firm) above which a
cut-off is flagged: 2.5 times the 2 % default rate of the loans the bands are calibrated on in the synthetic
cohort; a bank lending at such a threshold lends to its marginal firms at a rate no points policy intends."""


def match_qualified_firms(points: np.ndarray, band: np.ndarray, bands: pd.DataFrame, terms: Terms,
                          n_firms: int) -> dict:
    """The lowest national cut-off qualifying at most ``n_firms`` firms (ties enter together), and what it lends."""
    curve = threshold_curve(points, band, bands, terms)
    k = int(np.searchsorted(curve["qualified_firms"].to_numpy(), n_firms, side="right")) - 1
    if k < 0:
        return {"cutoff": None, "qualified_firms": 0, "expected_loss": 0.0, "expected_volume": 0.0}
    row = curve.iloc[k]
    return {"cutoff": float(row["cutoff"]), "qualified_firms": int(row["qualified_firms"]),
            "expected_loss": float(row["expected_loss"]), "expected_volume": float(row["expected_volume"])}


def marginal_pd(points: np.ndarray, qualified: np.ndarray, band: np.ndarray, bands: pd.DataFrame) -> dict:
    """The band of the lowest-scored qualified firm, its points and its 12-month default probability."""
    qualified = np.asarray(qualified, bool)
    if not qualified.any():
        return {"band": None, "points": None, "pd": None}
    pts = np.asarray(points, dtype="float64")
    i = int(np.flatnonzero(qualified)[np.argmin(pts[qualified])])
    b = int(band[i])
    return {"band": b + 1, "points": float(pts[i]), "pd": float(bands["pd"].to_numpy()[b])}


def cutoff_marginal_pd(points: np.ndarray, band: np.ndarray, bands: pd.DataFrame, cutoff: float | None) -> dict:
    """:func:`marginal_pd` of a national points cut-off (everyone at or above it qualifies)."""
    if cutoff is None:
        return {"band": None, "points": None, "pd": None}
    return marginal_pd(points, np.asarray(points, dtype="float64") >= cutoff, band, bands)


def with_take_up(bands: pd.DataFrame, rate: float | None) -> pd.DataFrame:
    """The bands with one take-up in every band (``None``: the per-band estimate, ``take_up_estimated``)."""
    column = "take_up_estimated" if "take_up_estimated" in bands else "take_up"
    return bands.assign(take_up=bands[column] if rate is None else float(rate))


def sensitivity_grid(reference: tuple, candidate: tuple, terms: Terms, shares, take_up_rates) -> list[dict]:
    """The headline over a grid of qualification shares and take-up settings, by expectation (no simulation).

    ``reference`` and ``candidate`` are ``(points, band, bands)``. For each share the reference qualifies its top
    share of firms; the candidate is matched twice: at the same number of qualified firms, and at the
    reference's expected loss. Each row holds both, with the lending difference as a ratio (−1 … ∞).
    """
    rows = []
    for rate in take_up_rates:
        ref_bands = with_take_up(reference[2], rate)
        cand_bands = with_take_up(candidate[2], rate)
        loss, volume = firm_contributions(reference[1], ref_bands, terms)  # per firm: the same for every share
        for share in shares:
            mask = qualified_mask(np.asarray(reference[0], dtype="float64"), share=share)
            ref = {"qualified_firms": int(mask.sum()), "expected_loss": float(loss[mask].sum()),
                   "expected_volume": float(volume[mask].sum()),
                   "marginal_pd": marginal_pd(reference[0], mask, reference[1], ref_bands)["pd"]}
            firms = match_qualified_firms(candidate[0], candidate[1], cand_bands, terms, ref["qualified_firms"])
            loss_m = match_expected_loss(candidate[0], candidate[1], cand_bands, terms, ref["expected_loss"])
            for m in (firms, loss_m):
                m["marginal_pd"] = cutoff_marginal_pd(candidate[0], candidate[1], cand_bands, m["cutoff"])["pd"]
                m["volume_ratio"] = (m["expected_volume"] / ref["expected_volume"] - 1.0
                                     if ref["expected_volume"] else None)
            firms["loss_ratio"] = firms["expected_loss"] / ref["expected_loss"] - 1.0 if ref["expected_loss"] else None
            rows.append({"take_up": rate, "share": float(share), "reference": ref, "equal_firms": firms,
                         "equal_loss": loss_m})
    return rows


def calibration_check(calibrator: BandCalibrator, points, defaulted) -> dict:
    """Out-of-time check of a calibrator on loans it was not fitted on: per band and in total, the loans, the
    observed defaults and the defaults its PDs expect."""
    band = calibrator.band(points)
    y = np.asarray(defaulted, dtype="float64")
    n_bands = calibrator.n_bands_
    expected = calibrator.table_["pd"].to_numpy()[band]
    n = np.bincount(band, minlength=n_bands)
    d = np.bincount(band, weights=y, minlength=n_bands)
    e = np.bincount(band, weights=expected, minlength=n_bands)
    return {"loans": int(len(y)), "defaults": int(y.sum()), "expected_defaults": float(expected.sum()),
            "bands": [{"band": i + 1, "loans": int(n[i]), "defaults": int(d[i]), "expected_defaults": float(e[i])}
                      for i in range(n_bands)]}
