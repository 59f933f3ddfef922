"""Multiple imputation by chained equations (MICE) for one task's predictors.

How it imputes. Every incomplete predictor gets its own conditional model given all the
other predictors (and, at development, the outcome); the models are visited in turn,
fewest missing values first, and each visit replaces the missing values by draws from its
model fitted to the current completed data; ``n_iterations`` sweeps make one chain, and
each of the ``m`` imputations is its own chain with its own seed (van Buuren &
Groothuis-Oudshoorn 2011, the R ``mice`` algorithm).

Proper draws. Each visit fits its model on a bootstrap resample of the rows where the
variable was observed, so the parameters vary between imputations as their posterior
would (the approximate Bayesian bootstrap, Rubin & Schenker 1986; ``mice``'s
``norm.boot`` and ``logreg.boot``), then draws values from that model:

* numbers (``numeric``, and ``integer`` with more than :data:`MAX_LEVELS` values): a
  normal linear model, draw ``x'b + s z`` truncated to the observed 0.5%-99.5% quantile
  range (a drawn value is then always a plausible one; with fewer than 2,000 observed
  values the quantiles beyond 10 values, so no bound is one patient's value), rounded
  for integers;
* flags, categories and integer grades with at most :data:`MAX_LEVELS` observed values:
  sequential binary logistic models, ``P(level k | not an earlier level)`` with their own
  coefficients (any distribution over the levels factorises this way), drawn level by
  level; a drawn value is always one of the observed levels, so category codes, 0/1 flags
  and ordinal grades stay valid.

Which predictors. With many predictors (a spine task has about 90) each imputation
model uses the ``max_predictors`` other variables most correlated with the variable
(largest absolute pairwise correlation between their columns on the rows where both
are observed), as ``mice``'s ``quickpred`` advises for wide data (van Buuren 2018,
section 6.3); the outcome always enters at development.

The outcome at development. The imputation model of a development dataset includes the
outcome, as the literature recommends (Moons et al. 2006; Sterne et al. 2009): the binary
outcome, or for a time-to-event outcome the event indicator and the Nelson-Aalen
cumulative hazard at the row's time (White & Royston 2009). Leaving it out biases the
predictors' associations with the outcome towards zero.

Deployment (new patients, held-out rows). A new patient has no outcome. After each
development chain the imputer fits, on that completed dataset, a model for *every*
predictor given the other predictors only (no outcome), with its own parameter draw; the
``m`` sets of these models are what a fitted imputer keeps (coefficients, scales and
level lists: aggregates, no patient rows). :meth:`ChainedImputer.transform` completes new
rows with them, chain by chain, as they would be at deployment. Held-out rows of a
cross-validation fold are completed this way too, by the training fold's models and
without their outcome: using the outcome of held-out rows would let validation see
information a deployed model never has (Sisk et al. 2023; Hoogland et al. 2020). A row
with nothing missing is returned unchanged by every imputation.

References: van Buuren S, Groothuis-Oudshoorn K. mice. J Stat Softw 2011;45(3).
Rubin DB, Schenker N. JASA 1986;81:366-374. Moons KGM et al. J Clin Epidemiol
2006;59:1092-1101. White IR, Royston P. Stat Med 2009;28:1982-1998. Sisk R et al. Stat
Methods Med Res 2023;32:1461-1477. Hoogland J et al. Stat Med 2020;39:3591-3607.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from spinerisk.features.preprocess import level_text
from spinerisk.features.profile import SMALL_CELL
from spinerisk.features.variables import TaskSpec, Variable, numeric_task

#: an integer variable with at most this many observed values is imputed level by level
MAX_LEVELS = 12
#: quantiles that bound a drawn number (a plausible value, not an extreme one)
DRAW_RANGE = (0.005, 0.995)
#: ridge penalty per row on the imputation models' coefficients (collinear predictors,
#: rare levels and complete separation stay estimable, as ``mice``'s ridge)
RIDGE = 1e-4


@dataclass
class _Column:
    """How one variable is held internally and fed to the others' models: text
    categories as level codes, everything else as its value."""

    name: str
    discrete: bool
    levels: np.ndarray          # discrete: the observed levels (the values drawn)
    text: bool                  # a category with text levels
    integer: bool               # rounded when drawn as a number
    centre: float
    scale: float
    bounds: tuple[float, float]
    start: float                # start value of a deployment chain (internal)
    one_hot: bool               # enters other models as level indicators

    def width(self) -> int:
        return len(self.levels) - 1 if self.one_hot else 1

    def block(self, values: np.ndarray) -> np.ndarray:
        """This variable as predictor columns of the other variables' models."""
        if self.one_hot:
            return (values[:, None] == np.arange(1, len(self.levels))[None, :]).astype(float)
        return ((values - self.centre) / self.scale)[:, None]

    def level_codes(self, values: np.ndarray) -> np.ndarray:
        """Observed values as level indices (the target of a discrete model)."""
        return values if self.text else np.searchsorted(self.levels, values).astype(float)

    def level_values(self, codes: np.ndarray) -> np.ndarray:
        """Drawn level indices as internal values."""
        return codes if self.text else self.levels[codes.astype(int)].astype(float)


@dataclass
class ConditionalModel:
    """One variable's imputation model with one parameter draw.

    ``coef`` is ``(p,)`` for a number (with residual SD ``sigma``) and ``(K - 1, p)`` for
    the sequential logistic models of a variable with ``K`` levels.
    """

    coef: np.ndarray
    sigma: float = 0.0

    def sample(self, column: _Column, design: np.ndarray,
               uniform: Callable[[int], np.ndarray]) -> np.ndarray:
        """Draw internal values for the rows of ``design``; ``uniform(step)`` gives the
        step's uniform random numbers, one per row."""
        if column.discrete:
            return column.level_values(_sequential_draw(self.coef, design, uniform))
        mean = design @ self.coef
        lo, hi = column.bounds
        a = norm.cdf((lo - mean) / self.sigma)
        b = norm.cdf((hi - mean) / self.sigma)
        u = a + uniform(0) * (b - a)
        x = mean + self.sigma * norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
        x = np.clip(x, lo, hi)  # numerical safety only: the draw is already in range
        return np.round(x) if column.integer else x


def _sequential_draw(coef: np.ndarray, design: np.ndarray,
                     uniform: Callable[[int], np.ndarray]) -> np.ndarray:
    n = len(design)
    codes = np.full(n, len(coef), dtype=float)
    open_ = np.ones(n, dtype=bool)
    for k, beta in enumerate(coef):
        stop = open_ & (uniform(k) < expit(design @ beta))
        codes[stop] = k
        open_ &= ~stop
    return codes


def _logistic(design: np.ndarray, y: np.ndarray, ridge: float,
              max_iter: int = 30) -> np.ndarray:
    """Ridge-penalised logistic regression by Newton's method (intercept unpenalised)."""
    p = design.shape[1]
    penalty = np.full(p, ridge * len(y))
    penalty[0] = 0.0
    beta = np.zeros(p)
    for _ in range(max_iter):
        prob = expit(design @ beta)
        gradient = design.T @ (y - prob) - penalty * beta
        hessian = (design * (prob * (1 - prob))[:, None]).T @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-10 * np.eye(p), gradient)
        beta += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return beta


def fit_conditional(column: _Column, design: np.ndarray, target: np.ndarray,
                    rng: np.random.Generator, ridge: float = RIDGE) -> ConditionalModel:
    """Fit one variable's model on a bootstrap resample of its observed rows.

    Parameters
    ----------
    column : _Column
    design : ndarray of shape (n_observed, p)
        Intercept and the other predictors (and the outcome at development).
    target : ndarray of shape (n_observed,)
        The variable's observed values (internal).
    rng : numpy Generator
        Draws the resample.
    """
    rows = rng.integers(0, len(target), len(target))
    X, y = design[rows], target[rows]
    p = X.shape[1]
    if not column.discrete:
        penalty = np.full(p, ridge * len(y))
        penalty[0] = 0.0
        beta = np.linalg.solve(X.T @ X + np.diag(penalty) + 1e-10 * np.eye(p), X.T @ y)
        residual = y - X @ beta
        sigma = float(np.sqrt(residual @ residual / max(len(y) - p, 1)))
        return ConditionalModel(beta, max(sigma, 1e-6 * column.scale))
    y = column.level_codes(y)
    coefs = []
    for k in range(len(column.levels) - 1):
        at_risk = y >= k
        beta = np.zeros(p)
        if at_risk.any():
            beta = _logistic(X[at_risk], (y[at_risk] == k).astype(float), ridge)
        coefs.append(beta)
    return ConditionalModel(np.array(coefs).reshape(len(column.levels) - 1, p))


def nelson_aalen(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Nelson-Aalen cumulative hazard at each row's own time (ties: all at risk)."""
    time, event = np.asarray(time, float), np.asarray(event, float)
    utimes, inverse = np.unique(time, return_inverse=True)
    deaths = np.bincount(inverse, weights=event, minlength=len(utimes))
    at_risk = np.cumsum(np.bincount(inverse, minlength=len(utimes))[::-1])[::-1]
    return np.cumsum(deaths / at_risk)[inverse]


class ChainedImputer(BaseEstimator):
    """Multiple imputation by chained equations (see the module docstring).

    Parameters
    ----------
    task : TaskSpec, optional
        The task's variables (kinds and levels); default: every column numeric.
    n_imputations : int
        Number of imputations ``m``.
    n_iterations : int
        Sweeps over the incomplete variables per chain.
    max_predictors : int
        Other variables in each imputation model (the most correlated ones).
    random_state : int
        Seed; imputation ``l`` uses the stream ``(random_state, l)``.

    Attributes
    ----------
    columns_ : list of _Column
        Per variable: levels, scales and draw range (aggregates).
    inputs_ : list of list of int
        Per variable, the other variables its imputation model uses.
    order_ : list of int
        Visiting order at development (incomplete variables, fewest missing first).
    models_ : list of dict
        Per imputation, variable name -> :class:`ConditionalModel` given the other
        predictors only (deployment, no outcome).
    missing_shares_ : dict
        Variable -> share missing in the development rows.
    n_features_in_ : int
    """

    def __init__(self, task: TaskSpec | None = None, n_imputations: int = 20,
                 n_iterations: int = 10, max_predictors: int = 15, random_state: int = 0):
        self.task = task
        self.n_imputations = n_imputations
        self.n_iterations = n_iterations
        self.max_predictors = max_predictors
        self.random_state = random_state

    # ------------------------------------------------------------------ fit
    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> ChainedImputer:
        """Fit the deployment models (see :meth:`fit_transform`)."""
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: np.ndarray | None = None
                      ) -> list[pd.DataFrame]:
        """Complete the development rows ``m`` times and fit the deployment models.

        Parameters
        ----------
        X : DataFrame
            The task's predictors (development rows only).
        y : ndarray of shape (n,) or (n, k), optional
            Columns that enter every imputation model at development only: the binary
            outcome, or the event indicator and the Nelson-Aalen cumulative hazard
            (:func:`outcome_columns`). No missing values.

        Returns
        -------
        list of DataFrame
            The ``m`` completed copies of ``X`` (not kept by the imputer).
        """
        # small matrices: threaded BLAS only adds contention (as RiskModel.fit)
        with threadpool_limits(limits=1, user_api="blas"):
            return self._fit_transform(X, y)

    def _fit_transform(self, X: pd.DataFrame, outcome) -> list[pd.DataFrame]:
        self._check_params()
        variables = self._variables(X)
        extra = self._outcome(outcome, len(X))
        codes, missing = self._fit_columns(X, variables)
        self.variables_ = variables
        self.missing_shares_ = {v.name: float(missing[:, j].mean())
                                for j, v in enumerate(variables)}
        self.inputs_ = self._select_inputs(codes, missing)
        incomplete = [j for j in range(len(variables)) if missing[:, j].any()]
        self.order_ = sorted(incomplete, key=lambda j: missing[:, j].sum())
        self.models_ = []
        completed = []
        for chain in range(self.n_imputations):
            rng = np.random.default_rng([self.random_state, chain])
            filled = self._start(codes, missing, rng)
            for _ in range(self.n_iterations if incomplete else 0):
                self._sweep(filled, missing, self.order_, rng, extra=extra)
            self.models_.append(self._deployment_models(filled, missing, rng))
            completed.append(self._frame(filled, X.index))
        self.n_features_in_ = len(variables)
        return completed

    def _check_params(self) -> None:
        for name in ("n_imputations", "n_iterations", "max_predictors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} not allowed; give a positive integer")

    def _variables(self, X) -> tuple[Variable, ...]:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"{type(self).__name__} needs a DataFrame of the task's "
                            f"predictors; got {type(X).__name__}")
        task = self.task or numeric_task(X.shape[1])
        variables = task.variables if self.task else tuple(
            Variable(str(c), "numeric", source="config") for c in X.columns)
        absent = [v.name for v in variables if v.name not in X.columns]
        if absent:
            raise ValueError("input is missing predictor columns: " + ", ".join(absent))
        return variables

    @staticmethod
    def _outcome(outcome, n: int) -> np.ndarray:
        if outcome is None:
            return np.empty((n, 0))
        extra = np.asarray(outcome, dtype=float).reshape(n, -1)
        if not np.isfinite(extra).all():
            raise ValueError("outcome columns for the imputation model have missing or "
                             "infinite values; exclude rows with a missing outcome first")
        sd = extra.std(axis=0)
        return (extra - extra.mean(axis=0)) / np.where(sd > 0, sd, 1.0)

    def _fit_columns(self, X: pd.DataFrame, variables) -> tuple[np.ndarray, np.ndarray]:
        """Learn each variable's internal coding from its observed values."""
        self.columns_ = []
        codes = np.empty((len(X), len(variables)))
        missing = np.empty((len(X), len(variables)), dtype=bool)
        for j, v in enumerate(variables):
            values = X[v.name]
            absent = values.isna().to_numpy()
            if absent.all():
                raise ValueError(f"predictor {v.name!r}: every development value is missing; "
                                 "drop it from the config's predictors or export its values")
            column = _describe(v, values[~absent])
            self.columns_.append(column)
            codes[:, j] = _internal(column, values, absent)
            missing[:, j] = absent
        return codes, missing

    # ------------------------------------------------------------------ chains
    def _start(self, codes: np.ndarray, missing: np.ndarray,
               rng: np.random.Generator) -> np.ndarray:
        """Missing values replaced by random observed values (``mice``'s start)."""
        filled = codes.copy()
        for j in np.flatnonzero(missing.any(axis=0)):
            observed = codes[~missing[:, j], j]
            filled[missing[:, j], j] = rng.choice(observed, int(missing[:, j].sum()))
        return filled

    def _select_inputs(self, codes: np.ndarray, missing: np.ndarray) -> list[list[int]]:
        """Per variable, the ``max_predictors`` others with the largest absolute pairwise
        correlation between any of their columns (rows where both are observed)."""
        blocks, owner = [], []
        for j, column in enumerate(self.columns_):
            block = column.block(np.where(missing[:, j], 0.0, codes[:, j]))
            block[missing[:, j]] = np.nan
            blocks.append(block)
            owner += [j] * block.shape[1]
        corr = pd.DataFrame(np.hstack(blocks)).corr().abs().fillna(0.0).to_numpy()
        owner = np.array(owner)
        k = len(self.columns_)
        strength = np.zeros((k, k))
        for a in range(k):
            rows = corr[owner == a]
            for b in range(k):
                strength[a, b] = rows[:, owner == b].max(initial=0.0)
        inputs = []
        for j in range(k):
            others = [b for b in np.argsort(-strength[j], kind="stable") if b != j]
            inputs.append(sorted(int(b) for b in others[:self.max_predictors]))
        return inputs

    def _design(self, filled: np.ndarray, target: int, extra: np.ndarray) -> np.ndarray:
        blocks = [np.ones((len(filled), 1))]
        blocks += [self.columns_[j].block(filled[:, j]) for j in self.inputs_[target]]
        blocks.append(extra)
        return np.hstack(blocks)

    def _sweep(self, filled, missing, order, rng, extra=None, models=None,
               keys=None, counter=()) -> None:
        """One pass over ``order``: refit (development, drawing from ``rng``) or reuse
        (deployment, drawing from each row's ``keys`` and the ``counter``) each model and
        redraw the variable's missing values in place."""
        extra = np.empty((len(filled), 0)) if extra is None else extra
        for j in order:
            rows = missing[:, j]
            column = self.columns_[j]
            design = self._design(filled, j, extra)
            if models is None:
                model = fit_conditional(column, design[~rows], filled[~rows, j], rng)
                n = int(rows.sum())

                def uniform(step, n=n):
                    return rng.random(n)
            else:
                model = models[column.name]
                uniform = partial(keyed_uniform, keys[rows], (*counter, j))
            filled[rows, j] = model.sample(column, design[rows], uniform)

    def _deployment_models(self, filled, missing, rng) -> dict[str, ConditionalModel]:
        """Every predictor's model given the other predictors (no outcome), fitted on
        this completed dataset's rows where the predictor was observed."""
        none = np.empty((len(filled), 0))
        out = {}
        for j, column in enumerate(self.columns_):
            rows = ~missing[:, j]
            design = self._design(filled, j, none)
            out[column.name] = fit_conditional(column, design[rows], filled[rows, j], rng)
        return out

    # ------------------------------------------------------------------ transform
    def transform(self, X: pd.DataFrame) -> list[pd.DataFrame]:
        """Complete new rows ``m`` times with the deployment models (no outcome).

        Each row is completed from its own values only: its random numbers are a hash of
        its observed values, ``random_state``, the imputation, the sweep, the variable and
        the step (:func:`keyed_uniform`), so a row gets the same completions alone, in any
        batch and in any order, and the same input always gives the same completions.

        Returns
        -------
        list of DataFrame
            ``m`` completed copies of ``X``; a row with nothing missing is unchanged.
        """
        check_is_fitted(self, "models_")
        with threadpool_limits(limits=1, user_api="blas"):
            return self._transform(X)

    def _transform(self, X: pd.DataFrame) -> list[pd.DataFrame]:
        variables = self._variables(X)
        if [v.name for v in variables] != [v.name for v in self.variables_]:
            raise ValueError("input predictors differ from those the imputer was fitted on")
        codes = np.empty((len(X), len(variables)))
        missing = np.empty((len(X), len(variables)), dtype=bool)
        for j, (v, column) in enumerate(zip(variables, self.columns_)):
            values = X[v.name]
            missing[:, j] = values.isna().to_numpy()
            codes[:, j] = _internal(column, values, missing[:, j])
        incomplete = np.flatnonzero(missing.any(axis=0))
        order = sorted(incomplete, key=lambda j: (self.missing_shares_[self.columns_[j].name], j))
        out = []
        keys = row_keys(codes, self.random_state)
        for chain, models in enumerate(self.models_):
            filled = codes.copy()
            for j in incomplete:  # start values: the commonest level, or the mean
                filled[missing[:, j], j] = self.columns_[j].start
            for sweep in range(self.n_iterations if len(incomplete) else 0):
                self._sweep(filled, missing, order, None, models=models, keys=keys,
                            counter=(chain, sweep))
            out.append(self._frame(filled, X.index))
        return out

    def _frame(self, filled: np.ndarray, index) -> pd.DataFrame:
        data = {}
        for j, (v, column) in enumerate(zip(self.variables_, self.columns_)):
            data[v.name] = _from_codes(column, filled[:, j])
        return pd.DataFrame(data, index=index)


_MASK = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrap-around arithmetic)."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def row_keys(values: np.ndarray, seed: int) -> np.ndarray:
    """One 64-bit key per row from its internal values (missing as infinity) and the seed."""
    bits = np.where(np.isnan(values), np.inf, values).astype(np.float64).view(np.uint64)
    keys = _mix(np.full(len(values), seed & _MASK, dtype=np.uint64))
    for column in bits.T:
        keys = _mix(keys ^ column)
    return keys


def keyed_uniform(keys: np.ndarray, counter: tuple[int, ...], step: int) -> np.ndarray:
    """Uniform numbers in [0, 1), one per key, determined by the key and the counter."""
    salt = 0
    for part in (*counter, step):
        salt = (salt * 1_000_003 + int(part) + 1) & _MASK
    z = _mix(_mix(keys ^ np.uint64(salt)) + np.uint64(0x9E3779B97F4A7C15))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def _describe(v: Variable, observed: pd.Series) -> _Column:
    """A variable's internal coding, from its observed development values."""
    if v.kind == "category":
        if v.source == "config":  # generic tables: levels are declared as text
            observed = observed.map(level_text)
        present = set(observed)
        declared = list(v.levels or sorted(present, key=str))
        levels = [level for level in declared if level in present]
        commonest = int(np.argmax(observed.value_counts().reindex(levels).to_numpy()))
        return _Column(v.name, True, np.array(levels, dtype=object), True, False, 0.0, 1.0,
                       (0.0, 0.0), float(commonest), True)
    x = pd.to_numeric(observed).to_numpy(float)
    distinct = np.unique(x)
    discrete = v.kind == "binary" or (v.kind == "integer" and len(distinct) <= MAX_LEVELS)
    centre = float(x.mean())
    scale = float(x.std()) or 1.0
    # a bound is a quantile beyond at least SMALL_CELL patients: no one patient's value
    tail = min(max(DRAW_RANGE[0], SMALL_CELL / len(x)), 0.5)
    lo, hi = np.quantile(x, (tail, 1 - tail))
    if discrete:  # the commonest value
        values, counts = np.unique(x, return_counts=True)
        start = float(values[np.argmax(counts)])
    else:
        start = float(np.clip(centre, lo, hi))
    return _Column(v.name, discrete, distinct if discrete else np.empty(0), False,
                   v.kind == "integer", centre, scale, (float(lo), float(hi)), start, False)


def _internal(column: _Column, values: pd.Series, absent: np.ndarray) -> np.ndarray:
    """A column's internal values: level codes of a text category, else the numbers (an
    observed number outside the development levels is fine: it is only a predictor)."""
    codes = np.full(len(values), np.nan)
    present = values[~absent]
    if column.text:
        index = {level: k for k, level in enumerate(column.levels)}
        found = [index.get(level_text(x)) for x in present]
        unknown = [x for x, k in zip(present, found) if k is None]
        if unknown:
            raise ValueError(f"predictor {column.name!r}: level {unknown[0]!r} was not observed "
                             f"in the development rows; allowed: {', '.join(column.levels)}")
        codes[~absent] = found
    else:
        codes[~absent] = pd.to_numeric(present).to_numpy(float)
    return codes


def _from_codes(column: _Column, codes: np.ndarray) -> np.ndarray:
    return column.levels[codes.astype(int)] if column.text else codes


def outcome_columns(task: TaskSpec, y) -> np.ndarray:
    """The outcome as the development imputation models use it.

    Binary: the 0/1 outcome. Time-to-event: the event indicator and the Nelson-Aalen
    cumulative hazard at the row's time (White & Royston 2009).
    """
    if task.is_survival:
        from spinerisk.models.cox import survival_arrays

        time, event = survival_arrays(y)
        return np.column_stack([event, nelson_aalen(time, event)])
    return np.asarray(y, dtype=float)
