"""Tests for models/learning/evidence.py: firm resamples, twins, shadows and the refit summaries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from innopoints.models.learning.evidence import (
    EvidenceSettings,
    firm_resample,
    gather_evidence,
    link_status,
    twin_clusters,
)

FAST = EvidenceSettings(refits=12, n_estimators=60, shap_rows=600, workers=1, seed=3)


def make_loans(n_firms: int = 2500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Loans of firms with 1-3 loans each: ``strong`` lowers risk, ``risky`` raises it, ``twin`` is a noisy
    copy of ``strong``, ``noise_*`` do nothing."""
    rng = np.random.default_rng(seed)
    per_firm = rng.integers(1, 4, size=n_firms)
    firm = np.repeat(np.arange(n_firms), per_firm)
    n = firm.size
    strong = rng.normal(size=n_firms)[firm] + 0.3 * rng.normal(size=n)
    X = pd.DataFrame({
        "strong": strong,
        "twin": strong + 0.2 * rng.normal(size=n),
        "risky": rng.normal(size=n),
        "noise_a": rng.normal(size=n),
        "noise_b": rng.poisson(2.0, size=n).astype("float64"),
        "noise_c": rng.lognormal(size=n),
        "noise_d": rng.uniform(size=n),
    })
    X.loc[rng.random(n) < 0.1, "noise_a"] = np.nan
    logit = -3.2 - 1.1 * X["strong"] + 0.9 * X["risky"]
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("float64").to_numpy()
    stage = rng.integers(0, 3, size=n)
    return X, y, np.array([f"F{f:05d}" for f in firm]), stage


@pytest.fixture(scope="module")
def evidence():
    X, y, firms, stage = make_loans()
    return gather_evidence(X, y, firms, stage, FAST, groups={"strong": "output", "twin": "output"})


def test_a_drawn_firm_brings_all_its_loans_and_the_rest_is_out_of_bag():
    firm_codes = np.array([0, 0, 1, 2, 2, 2, 3])
    rows, oob = firm_resample(firm_codes, 4, np.random.default_rng(1))
    drawn = firm_codes[rows]
    for f in np.unique(drawn):
        # Every loan of a drawn firm, as often as the firm was drawn.
        times = (drawn == f).sum() // (firm_codes == f).sum()
        assert sorted(rows[drawn == f].tolist()) == sorted(np.flatnonzero(firm_codes == f).tolist() * times)
    assert set(np.flatnonzero(oob)) == {i for i, f in enumerate(firm_codes) if f not in set(drawn)}
    again, _ = firm_resample(firm_codes, 4, np.random.default_rng(1))
    assert rows.tolist() == again.tolist()


def test_twins_cluster_together_and_unrelated_indicators_stand_alone():
    X, *_ = make_loans(500)
    clusters = twin_clusters(X)
    assert clusters["strong"] == clusters["twin"]
    others = [clusters[c] for c in ("risky", "noise_a", "noise_b", "noise_c", "noise_d")]
    assert len(set(others)) == 5 and clusters["strong"] not in others
    # A threshold above the twins' correlation splits them.
    assert twin_clusters(X, threshold=0.999)["strong"] != twin_clusters(X, threshold=0.999)["twin"]


def test_link_status_follows_the_share_of_refits_that_beat_the_best_shadow():
    assert link_status(np.array([1.0, 0.8, 0.5, 0.2, 0.0])).tolist() == ["yes", "yes", "uncertain", "no", "no"]


def test_real_effects_beat_the_shadows_and_noise_does_not(evidence):
    ind = evidence.indicators
    assert ind.loc["risky", "link"] == "yes"
    noise = ind.loc[["noise_a", "noise_b", "noise_c", "noise_d"]]
    # Noise never has a measurable link; at most a minority of refits puts it above the best shadow. (A loan
    # drawn twice gets its shadow row twice: without that, continuous noise memorises duplicated outcomes.)
    assert (noise["link"] != "yes").all() and (noise["beats_noise"] <= 0.5).all()
    assert (noise["link"] == "no").sum() >= 2
    cluster = ind.loc["strong", "cluster"]
    assert evidence.clusters.loc[cluster, "link"] == "yes"
    assert sorted(evidence.clusters.loc[cluster, "members"]) == ["strong", "twin"]
    # Directions on the project's scale: +1 = more of it, less risk.
    assert ind.loc["risky", "direction"] == -1 and ind.loc["risky", "direction_share"] == 1.0
    assert ind.loc["noise_b", "direction"] == 0


def test_every_summary_has_an_interval_around_its_mean(evidence):
    ind = evidence.indicators
    assert (ind["importance_lo"] <= ind["importance"]).all() and (ind["importance"] <= ind["importance_hi"]).all()
    assert (ind["incremental_lo"] <= ind["incremental_hi"]).all()
    # Losing the risky indicator out of bag costs AUC; losing noise costs about nothing.
    assert ind.loc["risky", "incremental_lo"] > 0
    assert abs(ind.loc["noise_b", "incremental"]) < ind.loc["risky", "incremental"]
    assert sorted(ind["rank"]) == list(range(1, len(ind) + 1))
    # Ranked by importance above each column's own shadow, clusters likewise.
    assert list(ind.sort_values("rank")["importance_excess"]) == sorted(ind["importance_excess"], reverse=True)
    cl = evidence.clusters.sort_values("rank")
    assert list(cl["importance_excess"]) == sorted(cl["importance_excess"], reverse=True)
    per = evidence.per_refit
    assert ind["importance_excess"].to_numpy() == pytest.approx(
        (per["importance"] - per["shadow_importance"]).mean(axis=0))
    assert evidence.per_refit["importance"].shape == (FAST.refits, len(ind))
    assert len(evidence.resamples) == FAST.refits
    lo, mid, hi = evidence.shadow["indicator"]
    assert 0 <= lo <= mid <= hi
    assert set(evidence.groups.index) == {"output", "other"}
    assert list(evidence.stage_importance.index) == ["startup", "growth", "stable"]


def test_refits_are_seeded_and_do_not_depend_on_the_workers(evidence):
    X, y, firms, stage = make_loans()
    two = gather_evidence(X, y, firms, stage, EvidenceSettings(**{**FAST.__dict__, "workers": 2}),
                          groups={"strong": "output", "twin": "output"})
    pd.testing.assert_frame_equal(two.indicators, evidence.indicators)
    pd.testing.assert_frame_equal(two.clusters, evidence.clusters)
    other = gather_evidence(X, y, firms, stage, EvidenceSettings(**{**FAST.__dict__, "seed": 4}))
    assert not np.allclose(other.indicators["importance"], evidence.indicators["importance"])


def test_a_row_cap_subsamples_firms():
    X, y, firms, stage = make_loans()
    capped = gather_evidence(X, y, firms, stage, EvidenceSettings(**{**FAST.__dict__, "refits": 2,
                                                                    "max_rows": 1500}))
    assert all(abs(len(rows) - 1500) < 300 for rows in capped.resamples)


def test_a_direction_is_learned_when_clear_refits_agree_and_silent_ones_do_not_veto():
    from innopoints.models.learning.evidence import _stable_direction

    runs = np.array([
        [-1] * 17 + [0] * 13,  # clear in 57% of refits, all of them -1: learned
        [-1] * 17 + [1] * 5 + [0] * 8,  # clear in 73%, but only 77% of those agree: not learned
        [-1] * 10 + [0] * 20,  # clear in a third of refits only: not learned
        [1] * 30,
    ]).T
    mode, share, opposite, learned = _stable_direction(runs)
    assert learned.tolist() == [-1, 0, 0, 1]
    assert mode.tolist() == [-1, -1, -1, 1]
    assert share.tolist() == pytest.approx([17 / 30, 17 / 30, 10 / 30, 1.0])
    assert opposite.tolist() == pytest.approx([0.0, 5 / 30, 0.0, 0.0])
