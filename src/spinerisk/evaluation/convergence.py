"""One convergence contract for every likelihood fit (logistic / Poisson GLM, Cox).

Each fit returns a :class:`FitDiagnostics`: did Newton-Raphson converge, does the
likelihood lack a finite maximum (separation for the logistic model, monotone partial
likelihood for Cox, an unbounded Poisson likelihood), and how well conditioned is the
information matrix. Callers decide from :attr:`FitDiagnostics.reason` whether a value is
reported or replaced by NA with that reason; the fit itself never raises on such data.

Detection is exact, not a heuristic on the size of the coefficients:

* logistic: separation (complete or quasi-complete) exists iff some non-zero direction
  ``b`` has ``(2y_i - 1) x_i'b >= 0`` for every row; found by a linear programme
  (Konis 2007, as R ``detectseparation``);
* Poisson: the maximum is infinite iff some non-zero ``b`` has ``x_i'b <= 0`` for rows
  with y = 0 and ``x_i'b = 0`` for rows with y > 0 (Haberman 1974), also a linear programme;
* Cox: the partial likelihood is monotone along ``d`` iff every event's score ``x_i'd`` is
  the largest in its risk set and some risk set holds a smaller one; checked exactly for one
  covariate (both directions) and along the direction of the diverging estimate otherwise.

The linear programmes run only when the fit shows a symptom (no convergence, a fitted value
at the boundary, a near-singular information matrix), so ordinary fits pay nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CONDITION_LIMIT", "FitDiagnostics", "cox_monotone", "glm_infinite_mle", "information_condition"]

#: Information matrices with a larger condition number are treated as singular: beyond
#: this, standard errors keep fewer than about 4 reliable digits in double precision.
CONDITION_LIMIT = 1e12


@dataclass(frozen=True)
class FitDiagnostics:
    """Convergence report of one likelihood fit.

    Attributes
    ----------
    converged : Newton-Raphson met its tolerance within the iteration limit.
    separation : the likelihood has no finite maximum (logistic separation, Poisson
        unbounded likelihood, Cox monotone likelihood).
    condition : condition number of the information matrix at the estimate (inf if singular).
    n_iter : iterations used.
    kind : "separation", "infinite_estimate" or "monotone_likelihood" (the reason code
        used when ``separation`` is true).
    """

    converged: bool
    separation: bool
    condition: float
    n_iter: int
    kind: str = "separation"

    @property
    def reason(self) -> str | None:
        """NA reason code, or None when the estimates and their covariance can be reported."""
        if self.separation:
            return self.kind
        if not np.isfinite(self.condition) or self.condition > CONDITION_LIMIT:
            return "ill_conditioned"
        if not self.converged:
            return "not_converged"
        return None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict:
        return {"converged": self.converged, "separation": self.separation,
                "condition": float(self.condition), "n_iter": self.n_iter, "reason": self.reason}


def information_condition(info: np.ndarray) -> float:
    """Condition number of a symmetric information matrix (inf when singular or non-finite)."""
    if not np.all(np.isfinite(info)):
        return float("inf")
    eig = np.linalg.eigvalsh(info)
    if eig[0] <= 0:
        return float("inf")
    return float(eig[-1] / eig[0])


def _lp_has_direction(A_ub, A_eq, c) -> bool:
    """Is max c'b > 0 over -1 <= b <= 1 with A_ub b <= 0 and A_eq b = 0 (b = 0 gives 0)?"""
    from scipy.optimize import linprog

    p = c.size
    res = linprog(-c, A_ub=A_ub if A_ub.size else None, b_ub=np.zeros(A_ub.shape[0]) if A_ub.size else None,
                  A_eq=A_eq if A_eq.size else None, b_eq=np.zeros(A_eq.shape[0]) if A_eq.size else None,
                  bounds=[(-1.0, 1.0)] * p, method="highs")
    scale = float(np.abs(c).sum()) or 1.0
    return bool(res.status == 0 and -res.fun > 1e-7 * scale)


def glm_infinite_mle(X: np.ndarray, y: np.ndarray, w: np.ndarray, family: str) -> bool:
    """Exact check that the GLM likelihood has no finite maximum (see module docstring)."""
    keep = w > 0
    X, y = X[keep], y[keep]
    if family == "binomial":
        S = X * (2.0 * y - 1.0)[:, None]  # rows s_i x_i; need S b >= 0
        return _lp_has_direction(-S, np.empty((0, X.shape[1])), S.sum(axis=0))
    zero = y == 0
    # rows with y = 0 may go to mu -> 0 (x'b <= 0); rows with events must stay put (x'b = 0)
    return _lp_has_direction(X[zero], X[~zero], -X[zero].sum(axis=0))


def _risk_set_max(z: np.ndarray, time: np.ndarray) -> np.ndarray:
    """For each row, the largest z among rows with time >= its time."""
    order = np.argsort(time, kind="mergesort")
    zs, ts = z[order], time[order]
    suffix_max = np.maximum.accumulate(zs[::-1])[::-1]
    first = np.searchsorted(ts, ts, side="left")  # risk set starts at the first tied time
    out = np.empty_like(z)
    out[order] = suffix_max[first]
    return out


def _monotone_along(z: np.ndarray, time: np.ndarray, event: np.ndarray) -> bool:
    spread = float(np.ptp(z)) or 1.0
    tol = 1e-9 * spread
    rmax = _risk_set_max(z, time)
    ev = event == 1
    if not np.all(z[ev] >= rmax[ev] - tol):
        return False
    # strictly increasing somewhere: some event's risk set holds a lower score
    order = np.argsort(time, kind="mergesort")
    zs, ts = z[order], time[order]
    suffix_min = np.minimum.accumulate(zs[::-1])[::-1]
    rmin = np.empty_like(z)
    rmin[order] = suffix_min[np.searchsorted(ts, ts, side="left")]
    return bool(np.any(rmin[ev] < z[ev] - tol))


def cox_monotone(X: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray) -> bool:
    """Monotone partial likelihood: exact for one covariate, along ``beta`` otherwise."""
    if X.shape[1] == 1:
        x = X[:, 0]
        return _monotone_along(x, time, event) or _monotone_along(-x, time, event)
    norm = float(np.linalg.norm(beta))
    if norm == 0 or not np.isfinite(norm):
        return False
    return _monotone_along(X @ (beta / norm), time, event)
