"""The documented defaults of the model layer, in one light module (no numpy, pandas or scikit-learn).

The run config, the policy file and the command line read their defaults from here, so a command that only
checks its input (a bad config, a formula file refused up front) starts without loading the learning stack.
Each constant's home module re-exports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

QUALIFIED_SHARE = round(71_435 / 520_000, 4)
"""Share of evaluated firms that qualified in 2024: 71,435 of 520,000, i.e. 0.1374 (rounded to 4 places, so
every command, config default and policy file qualifies the same firms)."""

GROUP_BOUNDS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"input": (0.1, 0.5), "output": (0.1, 0.5), "growth": (0.1, 0.5), "financial": (0.0, 0.3)})
"""Default min and max share of the base points per indicator group in fitted formulas (the run config's
``train.group_bounds``); read-only, so pass ``dict(GROUP_BOUNDS)`` to change it."""

CAP_SHARE = 0.05
"""Share of each stage's points a capped or plateaued sign conflict keeps (5 of 100): enough to keep the policy
signal in the formula, small enough that the risk it adds stays a fraction of the formula's spread."""

PARCEL_UPLIFT = 1.5
"""Rejects' default rate in a points band = the approved loans' observed rate there × this factor (capped at 1).
1.0 would say the banks' refusals carried no information; 1.5 is a middle reading of the parcelling practice
of 1.5–2× (documented in docs/policy.md)."""

LOW_SUPPORT = 0.02
"""Propensity below which a segment has little support: firms like these got a loan in fewer than 1 of 50
firm-years (a third of the synthetic cohort's 6 % lending rate), so few of their outcomes were ever seen."""

MAX_WEIGHT = 10.0
"""Inverse-propensity weights are clipped to [1 / MAX_WEIGHT, MAX_WEIGHT] (stabilised weights have mean about
1): a handful of loans to very unlikely borrowers would otherwise carry the whole weighted fit."""
