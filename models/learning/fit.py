"""Fitting points: choose per-stage max points so the formula score predicts default best, under rules.

The formula score of a firm in stage s is ``Σ_k w_sk · f_k(x_k)``, where ``f_k`` is the curve fraction in
[0, 1] and ``w_s`` the max points (non-negative, summing to the base points). We fit it through a logistic
link, ``logit P(default) = a_s − b_s · score / base``. With ``v = b · w / base`` the problem is convex:

    minimise  mean log-loss(y, a_s − F v_s) + ridge · ‖v_s‖²
    subject to v ≥ 0, v_k = 0 for inactive indicators,
               lo_g · Σv ≤ Σ_{k∈g} v_k ≤ hi_g · Σv             (group shares within bounds)
               v_k ≤ (max_points / base) · Σv                   (max points per indicator)
               ½ Σ_k |base · v_k − w0_k Σv| ≤ δ · Σv           (at most δ points moved from the baseline)
               Σv ≥ ε                                           (the score must carry information)

and the points are ``w = base · v / Σv``. Every constraint is linear in ``v`` (with slack variables for the
absolute values), so SLSQP finds the optimum; it is deterministic. Warm-starting each change limit from the
previous, tighter one makes the training loss of the frontier non-increasing in δ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

EPS_SCALE = 1e-3


@dataclass(frozen=True)
class PointsFit:
    """The fitted max points of one stage and the link that goes with them."""

    points: np.ndarray  # (k,) max points, sum = base
    intercept: float
    slope: float  # b: log-odds of default fall by `slope` per `base` points
    loss: float  # mean training log-loss at the optimum (without the ridge term)
    converged: bool


def _log_loss(y: np.ndarray, z: np.ndarray, w: np.ndarray | None = None) -> float:
    # log(1 + e^z) − y z, computed stably; ``w`` (mean 1) weights the rows.
    loss = np.logaddexp(0.0, z) - y * z
    return float(np.mean(loss if w is None else w * loss))


def fit_stage_points(
    fractions: np.ndarray,
    y: np.ndarray,
    *,
    base: float = 100.0,
    groups: list[str] | None = None,
    group_bounds: dict[str, tuple[float, float]] | None = None,
    max_points: float | np.ndarray | None = None,
    active: np.ndarray | None = None,
    baseline: np.ndarray | None = None,
    max_change: float | None = None,
    ridge: float = 1e-5,
    init: np.ndarray | None = None,
    max_iter: int = 500,
    sample_weight: np.ndarray | None = None,
) -> PointsFit:
    """Fit one stage's max points (see the module docstring for the problem).

    Args:
        fractions: (n, k) curve fractions in [0, 1], missing values already replaced by the missing policy.
        y: (n,) 1 = defaulted.
        base: points the stage's indicators sum to.
        groups: (k,) group of each indicator, for ``group_bounds``.
        group_bounds: group → (min share, max share) of the base points.
        max_points: cap on any one indicator's points, or (k,) caps (``inf`` for none).
        active: (k,) bool; inactive indicators get 0 points (e.g. a sign conflict under policy).
        baseline: (k,) the baseline's points, for ``max_change``.
        max_change: points that may move away from the baseline (½ L1 distance), or None for no limit.
        ridge: L2 penalty on the scaled weights; keeps rare-default stages stable.
        init: (k + 1,) warm start ``[a, v...]``.
        sample_weight: (n,) non-negative row weights (e.g. inverse propensities), rescaled to mean 1; the
            log loss becomes their weighted mean. ``y`` may be fractional (an expected default).
    Returns:
        The fitted points and link.
    """
    F = np.asarray(fractions, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n, k = F.shape
    if np.isnan(F).any():
        raise ValueError("fractions contain NaN: apply the missing-value policy first")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype="float64")
        if w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("sample_weight: need one finite, non-negative weight per row, not all zero")
        w = w * (n / w.sum())
    active = np.ones(k, bool) if active is None else np.asarray(active, bool)
    if not active.any():
        raise ValueError("no active indicator to give points to")
    _check_feasible(active, base, groups, group_bounds, max_points)
    use_change = max_change is not None and baseline is not None
    w0 = np.asarray(baseline, dtype="float64") if use_change else np.zeros(k)
    on = np.flatnonzero(active)  # inactive indicators are fixed at 0: they are not variables at all
    m = on.size
    A, b = _constraints(k, base, groups, group_bounds, max_points, max_change if use_change else None, w0)
    A = np.hstack([A[:, [0]], A[:, 1 + on], A[:, 1 + k:]])  # drop inactive columns (of v)
    n_slack = A.shape[1] - 1 - m

    theta0 = _start(F, y, active, init, ridge)  # [a, v_active...]
    D = np.hstack([np.ones((n, 1)), -F[:, on]])  # the linear predictor is z = D @ [a, v]
    # Precondition: in φ with [a, v] = M φ and Mᵀ H M = I (H the Hessian at the start), SLSQP's quasi-Newton
    # model starts right and the solve takes about ten iterations instead of two hundred.
    M = _preconditioner(D, theta0, ridge)
    DM = D @ M
    T = np.eye(1 + m + n_slack)
    T[:1 + m, :1 + m] = M  # θ = T ψ; slacks are left as they are
    AT = A @ T

    def objective(psi: np.ndarray) -> tuple[float, np.ndarray]:
        z = DM @ psi[:1 + m]
        v = M[1:] @ psi[:1 + m]
        loss = _log_loss(y, z, w) + ridge * float(v @ v)
        g_theta = np.zeros(1 + m)
        g_theta[1:] = 2.0 * ridge * v
        grad = np.zeros_like(psi)
        resid = expit(z) - y
        grad[:1 + m] = DM.T @ ((resid if w is None else w * resid) / n) + M.T @ g_theta
        return loss, grad

    psi0 = np.zeros(1 + m + n_slack)
    psi0[:1 + m] = np.linalg.solve(M, theta0)
    if use_change:
        v0 = theta0[1:]
        full = np.zeros(k)
        full[on] = v0
        psi0[1 + m:] = np.abs(full - w0 / base * v0.sum())
    cons = [{"type": "ineq", "fun": lambda psi: AT @ psi + b, "jac": lambda psi: AT}]
    res = minimize(objective, psi0, jac=True, method="SLSQP", constraints=cons,
                   options={"maxiter": max_iter, "ftol": 1e-12})
    theta = M @ res.x[:1 + m]
    a = float(theta[0])
    v = np.zeros(k)
    v[on] = np.maximum(theta[1:], 0.0)
    total = v.sum()
    points = base * v / total if total > 0 else np.where(active, base / active.sum(), 0.0)
    return PointsFit(points=points, intercept=a, slope=float(total),
                     loss=_log_loss(y, a - F @ v, w), converged=bool(res.success))


def _constraints(k: int, base: float, groups: list[str] | None, group_bounds: dict[str, tuple[float, float]] | None,
                 max_points: float | np.ndarray | None, max_change: float | None,
                 w0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every rule as rows of ``A θ + b ≥ 0`` over θ = [a, v_1..v_k, t_1..t_k (only with a change limit)]."""
    n_slack = k if max_change is not None else 0
    rows: list[np.ndarray] = []
    consts: list[float] = []
    ones = np.ones(k)

    def add(row_v: np.ndarray, row_t: np.ndarray | None = None, const: float = 0.0) -> None:
        row = np.zeros(1 + k + n_slack)
        row[1:k + 1] = row_v
        if row_t is not None:
            row[k + 1:] = row_t
        rows.append(row)
        consts.append(const)

    add(ones, const=-EPS_SCALE)
    for j in range(k):
        add(np.eye(k)[j])  # v_j ≥ 0
    if group_bounds and groups is not None:
        g_arr = np.asarray(groups)
        for g, (lo, hi) in sorted(group_bounds.items()):
            member = (g_arr == g).astype("float64")
            if not member.any():
                continue
            add(member - lo * ones)
            add(hi * ones - member)
    if max_points is not None:
        caps = np.broadcast_to(np.asarray(max_points, dtype="float64"), (k,))
        for j in np.flatnonzero(np.isfinite(caps)):
            row = (caps[j] / base) * ones
            row[j] -= 1.0
            add(row)
    if max_change is not None:
        # Slacks in the units of v (not points), so the solver sees one scale: t_j ≥ |v_j − (w0_j/base) Σv|.
        for j in range(k):
            row = -(w0[j] / base) * ones
            row[j] += 1.0
            t_row = np.eye(k)[j]
            add(-row, t_row)  # t_j ≥ v_j − (w0_j/base) Σv
            add(row, t_row)  # t_j ≥ −(v_j − (w0_j/base) Σv)
            add(np.zeros(k), t_row)  # t_j ≥ 0
        add((2.0 * max_change / base) * ones, -np.ones(k))  # Σ t ≤ (2δ/base) Σv
    return np.vstack(rows), np.asarray(consts)


def _start(F: np.ndarray, y: np.ndarray, active: np.ndarray, init: np.ndarray | None, ridge: float) -> np.ndarray:
    """``[a, v_active...]`` to start from: the warm start, or equal weights at the base rate."""
    on = np.flatnonzero(active)
    if init is not None:
        init = np.asarray(init, dtype="float64")
        v = np.maximum(init[1 + on], 0.0)
        if v.sum() > 0:
            return np.concatenate([[init[0]], v])
    rate = np.clip(y.mean(), 1e-6, 1 - 1e-6)
    v0 = np.full(on.size, 1.0 / on.size)
    return np.concatenate([[np.log(rate / (1 - rate)) + float(F[:, on].mean(axis=0) @ v0)], v0])


def _preconditioner(D: np.ndarray, theta: np.ndarray, ridge: float) -> np.ndarray:
    """``M`` with ``Mᵀ H M = I`` for the Hessian ``H`` of the penalised loss at ``theta`` (``M = L⁻ᵀ``)."""
    p = expit(D @ theta)
    H = (D * (p * (1.0 - p))[:, None]).T @ D / D.shape[0]
    H[1:, 1:] += 2.0 * ridge * np.eye(H.shape[0] - 1)
    H += 1e-12 * max(float(np.trace(H)), 1.0) * np.eye(H.shape[0])
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:  # not positive definite to working precision: plain variables
        return np.eye(H.shape[0])
    return np.linalg.inv(L).T


def _check_feasible(active: np.ndarray, base: float, groups: list[str] | None,
                    group_bounds: dict[str, tuple[float, float]] | None,
                    max_points: float | np.ndarray | None) -> None:
    """Refuse rules no set of points can meet, instead of returning a solver's failed last try."""
    n_active = int(active.sum())
    caps = None if max_points is None else np.broadcast_to(np.asarray(max_points, dtype="float64"), active.shape)
    if caps is not None and caps[active].sum() < base - 1e-9:
        raise ValueError(f"max points of the {n_active} active indicators ({caps[active].sum():g}) cannot reach "
                         f"{base:g} points")
    if not group_bounds or groups is None:
        return
    g_arr = np.asarray(groups)
    lows = 0.0
    his = 0.0
    for g, (lo, hi) in sorted(group_bounds.items()):
        if lo > hi:
            raise ValueError(f"group {g!r}: min share {lo} above max share {hi}")
        members = active & (g_arr == g)
        if lo > 0 and not members.any():
            raise ValueError(f"group {g!r} must get at least {lo:.0%} of the points but has no active indicator")
        if caps is not None and lo * base > caps[members].sum() + 1e-9:
            raise ValueError(f"group {g!r}: {lo:.0%} of {base:g} points cannot fit in {int(members.sum())} "
                             f"indicators of at most {caps[members].sum():g} points together")
        lows += lo
        his += hi if members.any() else 0.0
    bounded = np.isin(g_arr, list(group_bounds))
    if lows > 1 + 1e-9:
        raise ValueError(f"group min shares sum to {lows:.2f} > 1")
    if not (active & ~bounded).any() and his < 1 - 1e-9:
        raise ValueError(f"group max shares of the active groups sum to {his:.2f} < 1")


def scaled_init(fit: PointsFit, base: float = 100.0) -> np.ndarray:
    """Warm start ``[a, v...]`` from a previous fit."""
    return np.concatenate([[fit.intercept], fit.points / base * fit.slope])
