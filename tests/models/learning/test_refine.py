"""Tests for models/learning/refine.py: who may score, twins' carriers, and verdicts that agree with the
recommended formula's points. The evidence is written by hand, so every rule is checked on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from innopoints.features.catalog import get
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024
from innopoints.models.learning.evidence import Evidence, EvidenceSettings
from innopoints.models.learning.refine import eligibility, refinement_table

R = 10
IDS = ["invention_patents_granted", "rd_productivity", "rd_intensity", "leverage", "vc_raised", "utility_models",
       "revenue_growth_2y"]


def make_evidence(rows: dict[str, dict], per_refit: dict[str, list[float]], clusters: dict[int, dict]) -> Evidence:
    base = {"importance_lo": 0.0, "importance_hi": 1.0, "importance_share": 0.1, "incremental": 0.0,
            "incremental_lo": -0.01, "incremental_hi": 0.01, "missing_share": 0.05, "direction_mode": 1,
            "direction_share": 1.0, "direction_opposite": 0.0, "rank": 1}
    ind = pd.DataFrame({i: {**base, **r} for i, r in rows.items()}).T
    ind.index.name = "id"
    cl = pd.DataFrame({c: {"importance": 1.0, "importance_lo": 0.5, "importance_hi": 1.5, "importance_share": 0.1,
                           "incremental": 0.0, "incremental_lo": 0.0, "incremental_hi": 0.0, "rank": c, **v}
                       for c, v in clusters.items()}).T
    cl.index.name = "cluster"
    per = {"importance": np.array([per_refit[i] for i in ind.index]).T}
    return Evidence(indicators=ind, clusters=cl, groups=pd.DataFrame(), stage_importance=pd.DataFrame(),
                    shadow={}, per_refit=per, resamples=[], settings=EvidenceSettings(refits=R))


@pytest.fixture
def evidence() -> Evidence:
    rows = {
        # A twin pair: neither beats the shadows on its own, the cluster does; rd_productivity is a bit ahead.
        "invention_patents_granted": dict(cluster=1, importance=0.20, beats_noise=0.3, link="uncertain",
                                          direction=1, missing_share=0.02),
        "rd_productivity": dict(cluster=1, importance=0.22, beats_noise=0.4, link="uncertain", direction=1,
                                missing_share=0.05),
        "rd_intensity": dict(cluster=2, importance=0.3, beats_noise=1.0, link="yes", direction=-1),
        "leverage": dict(cluster=3, importance=0.5, beats_noise=1.0, link="yes", direction=-1),
        "vc_raised": dict(cluster=4, importance=0.02, beats_noise=0.0, link="no", direction=0),
        "utility_models": dict(cluster=5, importance=0.1, beats_noise=0.5, link="uncertain", direction=1),
        "revenue_growth_2y": dict(cluster=6, importance=0.25, beats_noise=0.9, link="yes", direction=0,
                                  direction_mode=1, direction_share=0.6),
    }
    # Per refit, rd_productivity is ahead of its twin in 6 of 10: not reliably (rule: 80%).
    per = {i: [r["importance"]] * R for i, r in rows.items()}
    per["rd_productivity"] = [0.25] * 6 + [0.15] * 4
    per["invention_patents_granted"] = [0.20] * R
    clusters = {1: {"members": ["invention_patents_granted", "rd_productivity"], "beats_noise": 0.9, "link": "yes"},
                2: {"members": ["rd_intensity"], "beats_noise": 1.0, "link": "yes"},
                3: {"members": ["leverage"], "beats_noise": 1.0, "link": "yes"},
                4: {"members": ["vc_raised"], "beats_noise": 0.0, "link": "no"},
                5: {"members": ["utility_models"], "beats_noise": 0.5, "link": "uncertain"},
                6: {"members": ["revenue_growth_2y"], "beats_noise": 0.9, "link": "yes"}}
    return make_evidence(rows, per, clusters)


INDICATORS = [get(i) for i in IDS]


def test_a_twin_pair_is_carried_by_one_member_never_called_unrelated(evidence):
    el = eligibility(evidence, INDICATORS)
    # Neither twin is reliably ahead, so the preference decides: fewer missing values (2% vs 5%).
    assert el.loc["invention_patents_granted", "carrier"] == "invention_patents_granted"
    assert "fewer missing values" in el.loc["invention_patents_granted", "carrier_reason"]
    assert el.loc["invention_patents_granted", "eligible"]
    assert el.loc["rd_productivity", "status"] == "redundant"
    assert "invention_patents_granted carries the cluster" in el.loc["rd_productivity", "note"]


def test_a_twin_reliably_ahead_carries_its_cluster(evidence):
    evidence.per_refit["importance"][:, IDS.index("rd_productivity")] = 0.3  # ahead in every refit
    evidence.indicators.loc["rd_productivity", "importance"] = 0.3
    el = eligibility(evidence, INDICATORS)
    assert el.loc["rd_productivity", "carrier"] == "rd_productivity"
    assert el.loc["invention_patents_granted", "status"] == "redundant"


def test_statuses_follow_the_shadow_and_direction_rules(evidence):
    el = eligibility(evidence, INDICATORS)
    assert el.loc["vc_raised", "status"] == "no_link" and not el.loc["vc_raised", "eligible"]
    assert el.loc["utility_models", "status"] == "uncertain" and "5 of 10" in el.loc["utility_models", "note"]
    # A link but a direction learned in only 60% of refits: not scored, and said why.
    assert el.loc["revenue_growth_2y", "status"] == "uncertain"
    assert "60%" in el.loc["revenue_growth_2y", "note"]
    # R&D intensity: a link, learned -1 against policy +1.
    assert el.loc["rd_intensity", "sign_conflict"] and el.loc["leverage", "eligible"]
    assert not el.loc["leverage", "sign_conflict"]  # leverage's policy direction is -1 too


def _formula_with(points: dict[str, tuple[float, float, float]], reversed_ids=()):
    """The baseline's file with other points: every id of ``points`` scored (reversed where asked)."""
    base = official_2024()
    items = []
    template = base.indicators[0]
    for i, pts in points.items():
        direction = -get(i).direction if i in reversed_ids else None
        curve = template.curve.model_copy(update={"direction": direction or get(i).direction})
        items.append(template.model_copy(update={
            "id": i, "direction": direction, "curve": curve,
            "points": template.points.model_copy(update=dict(zip(STAGES, pts, strict=True)))}))
    return base.model_copy(update={"name": "candidate", "indicators": items, "provenance": None})


def _table(evidence, formula, interval=None, available=None):
    el = eligibility(evidence, INDICATORS)
    available = np.ones((3, len(IDS)), bool) if available is None else available
    return refinement_table(indicators=INDICATORS, evidence=evidence, eligible=el, available=available,
                            baseline=official_2024(), recommended=formula, points_interval=interval,
                            unavailable_share=0.95).set_index("id")


def test_verdicts_agree_with_the_points_of_the_recommended_formula(evidence):
    formula = _formula_with({"invention_patents_granted": (50.0, 40.0, 30.0), "leverage": (50.0, 60.0, 70.0)})
    t = _table(evidence, formula)
    assert t.attrs["recommended"] == "candidate"
    for i, r in t.iterrows():
        if r["recommendation"] in ("drop", "leave out", "uncertain"):
            assert r["recommended_points"] == 0, i
    assert t.loc["leverage", "recommendation"] == "add"
    assert t.loc["leverage", "points"] == {"startup": 50.0, "growth": 60.0, "stable": 70.0}
    assert t.loc["rd_intensity", "recommendation"] == "drop" and "sign conflict" in t.loc["rd_intensity", "reason"]
    assert t.loc["vc_raised", "recommendation"] == "drop"  # in the baseline, no link
    assert t.loc["rd_productivity", "recommendation"] == "leave out"
    assert "no measurable link" not in t.loc["rd_productivity", "reason"]
    assert t.loc["utility_models", "recommendation"] == "uncertain"
    # Rows by cluster rank, then importance.
    assert list(t["cluster_rank"]) == sorted(t["cluster_rank"])


def test_a_reversed_direction_is_always_said(evidence):
    formula = _formula_with({"rd_intensity": (50.0, 50.0, 50.0), "leverage": (50.0, 50.0, 50.0)},
                            reversed_ids=("rd_intensity",))
    t = _table(evidence, formula)
    assert t.loc["rd_intensity", "reversed"] and t.loc["rd_intensity", "scored_direction"] == -1
    assert t.loc["rd_intensity", "reason"].startswith("SCORED AGAINST POLICY")
    assert not t.loc["leverage", "reversed"]


def test_an_interval_that_straddles_the_reweight_rule_is_uncertain(evidence):
    # rd_intensity is not eligible here; use the baseline's own leverage-free case: a kept official indicator.
    evidence.indicators.loc["rd_intensity", "direction"] = 1  # no conflict now
    formula = _formula_with({"rd_intensity": (20.0, 20.0, 20.0), "leverage": (80.0, 80.0, 80.0)})
    base_pts = np.mean([getattr(next(i for i in official_2024().indicators if i.id == "rd_intensity").points, s)
                        for s in STAGES])
    wide = np.zeros((2, 3, len(IDS)))
    wide[0, :, IDS.index("rd_intensity")] = base_pts - 1  # includes the baseline's points
    wide[1, :, IDS.index("rd_intensity")] = 25.0
    t = _table(evidence, formula, interval=wide)
    assert t.loc["rd_intensity", "recommendation"] == "uncertain"
    assert "includes the baseline" in t.loc["rd_intensity", "reason"]
    narrow = wide.copy()
    narrow[0, :, IDS.index("rd_intensity")] = 18.0
    assert _table(evidence, formula, interval=narrow).loc["rd_intensity", "recommendation"] == "reweight"


def test_stages_whose_firms_cannot_have_an_indicator_are_named(evidence):
    formula = _formula_with({"leverage": (0.0, 50.0, 50.0), "invention_patents_granted": (100.0, 50.0, 50.0)})
    available = np.ones((3, len(IDS)), bool)
    available[0, IDS.index("leverage")] = False
    t = _table(evidence, formula, available=available)
    assert t.loc["leverage", "unavailable_stages"] == ["startup"]
    assert "no points for startup firms" in t.loc["leverage", "reason"]


def test_a_stable_direction_against_policy_is_a_conflict_even_with_an_uncertain_link(evidence):
    # The planted R&D-intensity conflict can beat the shadows in only some refits while every refit that uses
    # it learns it against policy: reported, and never rewarded.
    evidence.indicators.loc["utility_models", "direction"] = -1
    el = eligibility(evidence, INDICATORS)
    assert el.loc["utility_models", "sign_conflict"] and not el.loc["utility_models", "eligible"]
    t = _table(evidence, _formula_with({"leverage": (100.0, 100.0, 100.0)}))
    assert t.loc["utility_models", "recommendation"] == "leave out"
    assert t.loc["utility_models", "reason"].startswith("sign conflict")
    assert "insufficient evidence" in t.loc["utility_models", "reason"]
    # No link at all: no conflict claimed.
    evidence.indicators.loc["vc_raised", "direction"] = -1
    assert not eligibility(evidence, INDICATORS).loc["vc_raised", "sign_conflict"]
