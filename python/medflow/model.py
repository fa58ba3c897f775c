"""The user-facing model: :class:`CausalFlow` (specification) → :class:`FittedFlow`.

``CausalFlow(model, data).fit()`` checks the data, fits one monotone flow per
node and returns a :class:`FittedFlow` that answers causal questions:
``sample`` (observational and interventional draws), ``abduct`` (noise per
unit), ``counterfactual`` (abduction–action–prediction), ``log_prob`` and
the effect queries of :mod:`medflow.effects`. Everything public is in the
data's original units.

Example:
    >>> import numpy as np, pandas as pd
    >>> import medflow as mf
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=300); y = 2 * x + rng.normal(size=300)
    >>> fit = mf.CausalFlow("Y ~ X", pd.DataFrame({"X": x, "Y": y})).fit(epochs=5, verbose=False)
    >>> fit.counterfactual(pd.DataFrame({"X": [0.0], "Y": [1.0]}), do={"X": 1.0}).shape
    (1, 2)
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from medflow.dag import DAG, as_dag, require_equation
from medflow.data import Encoding, prepare
from medflow.flow import FlowConfig, NodeFlows, normal_scores
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from medflow.training import TrainSettings, log_interval_mass, truncated_normal

__all__ = ["CausalFlow", "FittedFlow", "load", "FORMAT_VERSION", "DIVERGED_GAIN"]

_FORMAT = "medflow-flow"
#: Version of the saved-model format written by :meth:`FittedFlow.save` (3: the fold of every
#: row, ``fit_info["folds_of_rows"]``, is stored in ``weights.pt`` instead of ``model.json``;
#: :func:`load` reads versions 2 and 3).
FORMAT_VERSION = 3
#: How the fit summary names what the conditioners read (``FlowConfig`` ``inputs``).
_INPUT_TEXT = {"both": "standardized values and normal scores", "normal_scores": "normal scores",
               "standardized": "standardized values"}


class CausalFlow:
    """A causal-graphical normalizing flow for a DAG and a data set (not yet fitted).

    Args:
        model: lavaan-style syntax (``"U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X"``),
            a list of ``(parent, child)`` edges, an adjacency DataFrame or a :class:`DAG`.
        data: a DataFrame with one numeric column per model variable.
        discrete: variables to treat as discrete (default: every few-valued column, whatever
            its coding; see :mod:`medflow.data`).
        continuous: few-valued variables to treat as continuous.
        missing: ``"error"`` (default) or ``"drop"``.
        **flow_config: architecture (``hidden=16, depth=2, bins=8, layers=1, bound=5.0,
            learn_linear=True, inputs="both"``: the conditioners read the standardized parents and
            their normal scores; ``inputs="normal_scores"`` or ``"standardized"`` feeds one of the
            two; see :mod:`medflow.flow`).
    """

    def __init__(self, model, data: pd.DataFrame, *, discrete: Iterable[str] | None = None,
                 continuous: Iterable[str] | None = None, missing: str = "error", **flow_config):
        self.dag = require_equation(as_dag(model))
        self.flow_dag = self.dag.with_correlations_as_edges()
        self.config = FlowConfig(**flow_config)
        self.encoding, self.data = prepare(self.flow_dag, data, discrete=discrete,
                                           continuous=continuous, missing=missing)

    def fit(self, *, seed: int = 0, members: int | None = None, epochs: int | None = None,
            batch_size: int | None = None, lr: float | None = None, weight_decay: float | None = None,
            patience: int | None = None, average: float | None = None, linear_nodes: str | Iterable[str] = "auto",
            device: str = "cpu", dtype: str = "float32", discrete_likelihood: str = "interval",
            verbose: bool = True) -> FittedFlow:
        """Fit the flow: a cross-fitted ensemble of ``members`` flows (:mod:`medflow.crossfit`).

        Every setting left at ``None`` is chosen from the data by
        :meth:`medflow.training.TrainSettings.auto` (the one source of the defaults; the
        chosen values are in ``fit_info["settings"]``). Member ``m`` of ``K`` is trained on
        every row except fold ``m`` and keeps its best epoch on that fold; effects average
        over the members.

        Args:
            seed: seeds every random choice (folds, initial weights, minibatch order).
            members: ``K``, flows in the ensemble (default 5, 10 below 5,000 rows); ``1`` fits a single flow
                with a fifth of the rows held out (faster, but its effects move with ``seed``).
            epochs: passes over the data (the cosine learning-rate schedule spans them).
            batch_size: rows per minibatch. lr: AdamW learning rate.
            weight_decay: AdamW weight decay of the conditioner networks.
            patience: epochs without held-out improvement before a member stops (default:
                ``epochs``, every member runs the schedule and keeps its best epoch).
            average: share of the schedule, at its end, over which each member's weights are
                averaged (default 0.5; ``0``: off); a member keeps the average where it fits
                its held-out fold better than its best epoch (``fit_info["averaged"]``).
            linear_nodes: ``"auto"`` (default) replaces the flow of every node whose held-out
                log-likelihood is not higher than its linear-Gaussian equation's by more than
                two standard errors (the :meth:`FittedFlow.linearity` check) by that
                equation; ``"none"`` keeps every flow; a list of variable names makes those
                nodes linear.
            device: ``"cpu"`` or ``"cuda"``.
            dtype: ``"float32"`` (fast) or ``"float64"``.
            discrete_likelihood: how discrete nodes enter the likelihood: ``"interval"`` (the
                exact mass ``Phi(T(k + 1)) - Phi(T(k))`` of the monotone threshold model that
                abduction assumes) or ``"dequantize"`` (the density of ``k + u``,
                ``u ~ U[0, 1)``, a lower bound).
            verbose: show a progress bar.
        """
        from medflow.crossfit import assign_folds, linearity, linearize, member_weights, train_members

        settings = TrainSettings.auto(len(self.data), members=members, epochs=epochs,
                                      batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                                      patience=patience, average=average)
        if discrete_likelihood not in ("interval", "dequantize"):
            raise ValueError("discrete_likelihood must be 'interval' or 'dequantize', "
                             f"got {discrete_likelihood!r}.")
        if isinstance(seed, bool) or not float(seed).is_integer():
            raise ValueError(f"seed must be a whole number, got {seed!r}.")
        tdtype = _dtype(dtype)
        dev = _device(device)
        gen = torch.Generator().manual_seed(int(seed))
        fitted = FittedFlow(self.dag, self.encoding, self.config, tdtype)
        linear_set = _linear_nodes(linear_nodes, fitted)
        x = fitted._to_tensor(self.data.to_numpy())
        if fitted.config["inputs"] != "standardized":  # the conditioners' input map (flow.py)
            fitted.config = FlowConfig(**{**fitted.config, "input_map": normal_scores(x)})
        k = settings.members
        n_folds = max(k, 5) if k == 1 else k
        folds = assign_folds(x.shape[0], n_folds, gen)
        tw, vw = member_weights(folds, n_folds)
        interval = fitted._bounds() if discrete_likelihood == "interval" else None
        fit = train_members(x, fitted.disc_step, fitted.mask, dict(fitted.config), settings,
                            tw[:k], vw[:k], gen, interval=interval, device=dev, verbose=verbose)
        enc = self.encoding
        table = linearity(fit, x, fitted.disc_step, fitted.variables, self.flow_dag.parents,
                          enc.is_discrete, interval, np.asarray(enc.scale))
        auto = linear_set is None
        if auto:  # linear where the data show no departure from linearity
            linear_set = [str(v) for v in table.loc[~table["departs"], "node"]]
        table["equation"] = ["linear" if v in linear_set else "flow" for v in table["node"]]
        linearize(fit.flow, fit.linear, [fitted.variables.index(v) for v in linear_set])
        history = fit.history
        fitted.flow = fit.flow
        fitted.history = history
        fitted.data = self.data
        epochs_run = int(history["epoch"].max())
        fitted.fit_info = dict(
            seed=int(seed), members=k, folds=n_folds, fold_sizes=np.bincount(folds).tolist(),
            rows=int(x.shape[0]), epochs_run=epochs_run, best_epochs=fit.best_epochs,
            averaged=fit.averaged, averaged_epochs=_as_list(settings.average_window()),
            grad_norm=fit.grad_norm, converged=_converged(history, settings),
            settings=vars(settings), discrete_likelihood=discrete_likelihood,
            linear_choice="auto" if auto else "fixed", linear_nodes=list(linear_set),
            linearity=table.to_dict(orient="list"), folds_of_rows=folds.tolist())
        fitted.device = dev
        failed = table[(table["equation"] == "flow") & (table["gain"] < -DIVERGED_GAIN)]
        fitted.fit_info["diverged_nodes"] = [str(v) for v in failed["node"]]
        if not fitted.fit_info["converged"]:
            warnings.warn(_not_converged_message(history, settings), ConvergenceWarning, stacklevel=2)
        if len(failed):
            warnings.warn(_diverged_message(failed, settings), ConvergenceWarning, stacklevel=2)
        return fitted


class FittedFlow:
    """A fitted causal flow. Create it with :meth:`CausalFlow.fit` or :func:`load`.

    Attributes:
        dag: the causal graph (``~~`` pairs unconnected).
        encoding: variable types and standardization.
        history: training and validation NLL per epoch (standardized scale, nats per row).
        data: the rows the model was fitted on (original units).
    """

    def __init__(self, dag: DAG, encoding: Encoding, config: Mapping, dtype=torch.float32):
        self.dag = dag
        self.flow_dag = dag.with_correlations_as_edges()
        self.encoding = encoding
        self.config = FlowConfig(**config)
        self.dtype = dtype
        self.variables = encoding.variables
        d = len(self.variables)
        mask = torch.zeros(d, d, dtype=dtype)
        for j, child in enumerate(self.variables):
            for p in self.flow_dag.parents[child]:
                mask[j, self.variables.index(p)] = 1.0
        self.mask = mask
        self.disc_step = torch.as_tensor(
            np.asarray(encoding.step) / np.asarray(encoding.scale), dtype=dtype)
        self.flow: NodeFlows | None = None
        self.history = pd.DataFrame(columns=["epoch", "train_nll", "val_nll", "lr"])
        self.data = pd.DataFrame(columns=list(self.variables))
        self.fit_info: dict = {}
        self.device = torch.device("cpu")

    # ---------------------------------------------------------------- encoding helpers
    def _to_tensor(self, values: np.ndarray) -> Tensor:
        return torch.as_tensor(self.encoding.standardize(np.asarray(values, dtype=float)), dtype=self.dtype)

    def _frame(self, x: Tensor, index=None) -> pd.DataFrame:
        vals = self.encoding.snap(self.encoding.destandardize(x.detach().double().cpu().numpy()))
        return pd.DataFrame(vals, columns=list(self.variables), index=index)

    def _discretize(self, j: int, v: Tensor) -> Tensor:
        """Floor a generated value of a discrete node onto its grid (observed range)."""
        enc = self.encoding
        lo, step, hi = enc.internal_grid(j)
        loc, scale = enc.loc[j], enc.scale[j]
        k = torch.floor((v * scale + loc - lo) / step + 1e-6)
        value = (lo + k * step).clamp(lo, hi)
        return (value - loc) / scale

    def _in_units(self, j: int, v: Tensor) -> Tensor:
        """Standardized values of node ``j`` → the data's units (float64; mapped levels →
        the data's values, so means of the result are means in the data's units)."""
        enc = self.encoding
        out = v.double() * enc.scale[j] + enc.loc[j]
        levels = enc.levels[j]
        if not levels:
            return out
        k = torch.round(out).clamp(0, len(levels) - 1).long()
        return torch.as_tensor(levels, dtype=torch.float64, device=k.device)[k]

    def _rows(self, data: pd.DataFrame, what: str = "data") -> Tensor:
        values = self.encoding.check_frame(data, what=what)
        bad = self.encoding.off_grid(values)
        if bad:
            grids = "; ".join(f"{b} takes {self.encoding.grid_text(b)}" for b in bad)
            raise ValueError(f"The {what} have values off the grid of the discrete variable(s) "
                             f"{', '.join(bad)} ({grids}).")
        return self._to_tensor(values)

    def _index(self, name: str) -> int:
        if name not in self.variables:
            raise ValueError(f"'{name}' is not a variable of the model; its variables are "
                             f"{', '.join(self.variables)}.")
        return self.variables.index(name)

    def _do(self, do: Mapping[str, float] | None, extrapolate: bool = True,
            arg: str = "do") -> dict[int, float]:
        """Interventions ``{name: value}`` (original units) → ``{index: standardized value}``.

        Raises:
            ValueError: for an unknown variable, a value that is not a finite number, a value
                outside the observed range (unless ``extrapolate``) or off a discrete grid.
        """
        if do is None:
            return {}
        if not isinstance(do, Mapping):
            raise ValueError(f"{arg}= must be a dict of variable names and values, e.g. "
                             f"{{'{self.variables[0]}': 1}}; got {type(do).__name__}.")
        out = {}
        for name, value in do.items():
            j = self._index(name)
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{arg}= gives {name} the value {value!r}; it must be a "
                                 "number.") from None
            if not math.isfinite(value):
                raise ValueError(f"{arg}= gives {name} the value {value:g}; it must be a finite "
                                 "number.")
            lo, hi = self.encoding.lower[j], self.encoding.upper[j]
            if not extrapolate and not lo <= value <= hi:
                raise ValueError(f"{arg}= sets {name} = {value:g}, outside its observed range "
                                 f"[{lo:g}, {hi:g}]; pass extrapolate=True to allow it.")
            if self.encoding.off_grid(np.array([value]), [name]):
                raise ValueError(f"{name} is discrete and takes {self.encoding.grid_text(name)}: "
                                 f"{arg}= cannot set it to {value:g}.")
            out[j] = float(self.encoding.standardize(np.array([[value]]), [name])[0, 0])
        return out

    def _require_fitted(self) -> NodeFlows:
        if self.flow is None:
            raise RuntimeError("This model has not been fitted.")
        return self.flow

    # ---------------------------------------------------------------- core machinery
    @torch.no_grad()
    def _abduct(self, x: Tensor, flow: NodeFlows | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Noise ``(E, N, d)`` of standardized rows ``x`` (``(N, d)`` or ``(E, N, d)``).

        Continuous nodes: ``eps = T(v)``. Discrete nodes: a draw from the standard normal
        truncated to ``[T(k), T(k + 1))``, the noise posterior of a monotone threshold model.
        """
        flow = flow or self._require_fitted()
        xe = x.expand(flow.E, *x.shape[-2:]) if x.dim() == 2 else x
        eps, _ = flow(xe, xe)
        disc = self.disc_step > 0
        if disc.any():
            lo, hi = self._interval(flow, xe, eps)
            w = torch.rand(lo.shape, generator=generator, dtype=torch.float64)
            draw = truncated_normal(lo, hi, w).to(eps.dtype)
            eps = torch.where(disc, draw, eps)
        return eps

    def _bounds(self) -> tuple[Tensor, Tensor]:
        """Lowest and highest observed value of every variable on the standardized scale."""
        enc = self.encoding
        lo = enc.standardize(np.asarray(enc.lower)[None])[0]
        hi = enc.standardize(np.asarray(enc.upper)[None])[0]
        return torch.as_tensor(lo, dtype=self.dtype), torch.as_tensor(hi, dtype=self.dtype)

    def _interval(self, flow: NodeFlows, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """Noise interval ``[T(k), T(k + 1))`` of each discrete value (float64).

        The lowest and highest observed values take the tails (``-inf`` / ``+inf``), as
        generation clips to the observed range: the threshold model's masses sum to one.
        """
        hi, _ = flow(x + self.disc_step, x)
        lo, hi = eps.double(), hi.double()
        std_lower, std_upper = self._bounds()
        tol = 1e-4 * self.disc_step
        lo = torch.where(x <= std_lower + tol, -torch.inf, lo)
        hi = torch.where(x >= std_upper - tol, torch.inf, hi)
        return lo, hi

    @torch.no_grad()
    def _generate(self, eps: Tensor, x: Tensor, do: Mapping[int, Tensor | float],
                  recompute: Iterable[int], flow: NodeFlows | None = None,
                  fixed: Mapping[int, Tensor] | None = None) -> Tensor:
        """Recompute nodes ``recompute`` (in topological order) from noise ``eps``.

        ``x``: ``(E, N, d)`` current values; ``do``: node → value (standardized);
        ``fixed``: node → ``(E, N)`` values held fixed (e.g. randomized mediator draws).
        """
        flow = flow or self._require_fitted()
        x = x.expand(eps.shape[0], *x.shape[-2:]).clone()
        for j, value in do.items():
            x[..., j] = value
        for j, value in (fixed or {}).items():
            x[..., j] = value
        todo = set(recompute) - set(do) - set(fixed or {})
        for j in range(len(self.variables)):
            if j in todo:
                v = flow.inverse_node(j, eps[..., j], x)
                x[..., j] = self._discretize(j, v) if self.disc_step[j] > 0 else v
        return x

    def _causal_descendants(self, nodes: Iterable[int]) -> set[int]:
        out: set[int] = set()
        for j in nodes:
            out |= {self.variables.index(n) for n in self.dag.descendants(self.variables[j])}
        return out

    # ---------------------------------------------------------------- public API
    @torch.no_grad()
    def log_prob(self, data: pd.DataFrame) -> np.ndarray:
        """Log-likelihood of each row (original units).

        Continuous nodes contribute their log-density; discrete nodes their exact
        probability mass ``Phi(T(k + 1)) - Phi(T(k))``. An ensemble's likelihood is that of
        the equal-weight mixture of its members.
        """
        flow = self._require_fitted()
        x = self._rows(data).unsqueeze(0).expand(flow.E, -1, -1)
        eps, ladj = flow(x, x)
        dens = (-0.5 * eps**2 - 0.5 * math.log(2 * math.pi) + ladj).double()
        dens = dens - torch.log(torch.as_tensor(self.encoding.scale, dtype=torch.float64))
        disc = self.disc_step > 0
        if disc.any():
            mass = log_interval_mass(*self._interval(flow, x, eps))
            dens = torch.where(disc, mass, dens)
        # the ensemble's density: the equal-weight mixture of its members
        return (torch.logsumexp(dens.sum(-1), 0) - math.log(flow.E)).numpy()

    def abduct(self, data: pd.DataFrame, seed: int | None = 0) -> pd.DataFrame:
        """The noise ``eps_j`` of every node for each row (standard-normal scale), averaged
        over the ensemble's members."""
        flow = self._require_fitted()
        gen = _generator(seed)
        eps = self._abduct(self._rows(data), flow, gen).mean(0)
        return pd.DataFrame(eps.double().numpy(), columns=list(self.variables), index=data.index)

    def sample(self, n: int, do: Mapping[str, float] | None = None, seed: int | None = 0,
               extrapolate: bool = False) -> pd.DataFrame:
        """Draw ``n`` units from the fitted model, optionally under ``do={"X": value}``.

        Under an intervention every unit is first drawn from the observational model and
        then intervened on, so correlated roots (``~~``) keep their marginal law. A fitted
        ensemble pools its members' draws (unit ``i`` comes from member ``i mod E``).

        Args:
            n: number of units.
            do: interventions, e.g. ``{"X": 1}``.
            seed: seed of the draws; ``None`` for torch's global generator.
            extrapolate: allow ``do`` values outside the observed range.
        """
        flow = self._require_fitted()
        n = _count(n, "n", 1)
        gen = _generator(seed)
        dj = self._do(do, extrapolate=extrapolate)
        d, E = len(self.variables), flow.E
        per_member = -(-n // E)  # draws pooled across ensemble members, unit i from member i % E
        eps = torch.randn(E, per_member, d, generator=gen, dtype=self.dtype)
        x = self._generate(eps, torch.zeros_like(eps), {}, range(d), flow)
        if do:
            x = self._generate(eps, x, dj, self._causal_descendants(dj), flow)
        return self._frame(x.transpose(0, 1).reshape(-1, d)[:n])

    def counterfactual(self, data: pd.DataFrame, do: Mapping[str, float], seed: int | None = 0,
                       extrapolate: bool = False) -> pd.DataFrame:
        """Unit-level counterfactuals by abduction, action and prediction.

        Args:
            data: observed rows (all model variables).
            do: interventions, e.g. ``{"X": 60}``.
            seed: for the interval abduction of discrete nodes (``None``: torch's global generator).
            extrapolate: allow ``do`` values outside the observed range.

        Returns:
            The rows as they would have been under ``do`` (same index as ``data``). For a
            fitted ensemble each continuous value is the average over the members and each
            discrete value the most frequent one (the smallest on a tie).
        """
        flow = self._require_fitted()
        if not do:
            raise ValueError("counterfactual() needs at least one intervention, e.g. do={'X': 1}.")
        dj = self._do(do, extrapolate=extrapolate)
        gen = _generator(seed)
        x = self._rows(data).unsqueeze(0).expand(flow.E, -1, -1)
        eps = self._abduct(x, flow, gen)
        out = self._generate(eps, x, dj, self._causal_descendants(dj), flow)
        frame = self._frame(out.mean(0), index=data.index)
        if flow.E > 1 and self.encoding.discrete:
            from scipy import stats

            values = self.encoding.destandardize(out.double().numpy())  # (E, N, d)
            for name in self.encoding.discrete:
                j = self.variables.index(name)
                frame[name] = self.encoding.snap(stats.mode(values[..., j], axis=0).mode[:, None],
                                                 [name])[:, 0]
        return frame

    # effect queries live in medflow.effects; thin delegates keep the fitted-model API flat.
    def effects(self, treatment: str, outcome: str, mediators=None, **kwargs):
        """Total, natural and interventional effects; see :func:`medflow.effects.effects`."""
        from medflow.effects import effects
        return effects(self, treatment, outcome, mediators=mediators, **kwargs)

    def path_effects(self, treatment: str, outcome: str, paths, **kwargs):
        """Effect along a set of paths; see :func:`medflow.effects.path_effects`."""
        from medflow.effects import path_effects
        return path_effects(self, treatment, outcome, paths, **kwargs)

    def decompose(self, treatment: str, outcome: str, order, **kwargs):
        """Sequential path decomposition; see :func:`medflow.effects.decompose`."""
        from medflow.effects import decompose
        return decompose(self, treatment, outcome, order, **kwargs)

    def cde(self, treatment: str, outcome: str, m, **kwargs):
        """Controlled direct effect with mediators held at ``m``; see :func:`medflow.effects.cde`."""
        from medflow.effects import cde
        return cde(self, treatment, outcome, m, **kwargs)

    def dose_response(self, treatment: str, outcome: str, grid=None, **kwargs):
        """E[Y(a)] over a grid; see :func:`medflow.effects.dose_response`."""
        from medflow.effects import dose_response
        return dose_response(self, treatment, outcome, grid, **kwargs)

    def distributional_effects(self, treatment: str, outcome: str, mediators=None, **kwargs):
        """Quantile and threshold effects; see :func:`medflow.distributional.distributional_effects`."""
        from medflow.distributional import distributional_effects
        return distributional_effects(self, treatment, outcome, mediators=mediators, **kwargs)

    def mobility_table(self, origin: str, destination: str, bins: int = 5, mediators=None, a_ref=None,
                       **kwargs):
        """Observed and counterfactual mobility tables; see :func:`medflow.distributional.mobility_table`."""
        from medflow.distributional import mobility_table
        return mobility_table(self, origin, destination, bins=bins, mediators=mediators, a_ref=a_ref,
                              **kwargs)

    def fair(self, sensitive: str, outcome: str, paths=None, **kwargs):
        """Refit with a path-specific effect within bounds; see :func:`medflow.fairness.fair`."""
        from medflow.fairness import fair
        return fair(self, sensitive, outcome, paths, **kwargs)

    def predict(self, new_data: pd.DataFrame, outcome: str, keep=None, **kwargs) -> np.ndarray:
        """``E[Y | keep]`` for new rows (default ``keep``: the outcome's parents); see
        :func:`medflow.fairness.predict`."""
        from medflow.fairness import predict
        return predict(self, new_data, outcome, keep=keep, **kwargs)

    # ---------------------------------------------------------------- persistence
    def save(self, path: str | Path, include_data: bool = False) -> Path:
        """Save to a folder: ``weights.pt`` (tensors only) and ``model.json`` (metadata).

        ``weights.pt`` also holds the fold of every row (``fit_info["folds_of_rows"]``, one
        small integer per row and no data), which later steps such as
        :func:`medflow.sensitivity.sensitivity` use to hold out the rows the fit held out.
        Like the encoding's means, SDs and observed ranges, the conditioners' input map in
        ``model.json`` summarizes each variable's distribution: at most 64 of its observed
        values (at evenly spaced ranks, including the lowest and highest) with their normal
        scores, never a row.

        The metadata record the format version and a SHA-256 checksum over the weights
        file and the metadata; :func:`load` checks both.

        Args:
            path: the folder (created if needed; ``weights.pt`` and ``model.json`` in it are
                replaced).
            include_data: also store the rows the model was fitted on. By default they are
                not stored (microdata often may not be redistributed); a model loaded without
                them answers effect queries given ``data=``, or given ``n_mc=`` (it then
                averages over draws from the fitted model, which also give the default
                contrast and SD(Y)).
        """
        import io

        import medflow
        import zuko

        flow = self._require_fitted()
        if not isinstance(include_data, bool):
            raise ValueError(f"include_data must be True or False, got {include_data!r}.")
        if include_data and self.data is None:
            raise ValueError("include_data=True, but this model holds no data (it was loaded from "
                             "a folder saved without them).")
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"Cannot save the model to '{path}': it is a file, not a folder.")
        # Everything is prepared in memory first: nothing is written if a step fails.
        state = {k: v.detach().cpu().clone() for k, v in flow.state_dict().items()}
        if include_data:
            state["__data__"] = torch.tensor(self.data.to_numpy(dtype=float), dtype=torch.float64)
        # The fold of every row (one small integer per row, no data) goes into the weights file,
        # not model.json, which it would swell to the size of the data.
        fit_info = dict(self.fit_info)
        folds = fit_info.pop("folds_of_rows", None)
        if folds is not None:
            state["__folds__"] = torch.as_tensor(np.asarray(folds, dtype=np.int64)).to(torch.int16)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        weights = buffer.getvalue()
        meta = _jsonable(dict(
            format=_FORMAT, format_version=FORMAT_VERSION, model=self.dag.to_syntax(),
            encoding=self.encoding.to_dict(), config=dict(self.config),
            dtype=str(self.dtype).replace("torch.", ""), ensemble=int(flow.E),
            includes_data=include_data, n_rows=None if self.data is None else int(len(self.data)),
            history=self.history.to_dict(orient="list"), fit_info=fit_info,
            versions=dict(medflow=medflow.__version__, torch=torch.__version__,
                          zuko=getattr(zuko, "__version__", "unknown"),
                          numpy=np.__version__, pandas=pd.__version__),
            weights_sha256=hashlib.sha256(weights).hexdigest(),
        ))
        meta["checksum"] = _checksum(weights, meta)
        text = json.dumps(meta, indent=2)
        path.mkdir(parents=True, exist_ok=True)
        (path / "weights.pt").write_bytes(weights)
        (path / "model.json").write_text(text + "\n", encoding="utf-8")
        return path

    # ---------------------------------------------------------------- reporting
    def linearity(self) -> pd.DataFrame:
        """The linearity check: per node with parents, the cross-validated held-out
        log-likelihood (nats per row, data units) of its flow and of its linear-Gaussian
        equation, the flow's ``gain`` with its standard error over folds, ``z``, whether the
        data support a departure from linearity (``departs``: ``z > 2``) and which
        ``equation`` the fit uses (by default ``"flow"`` exactly where the data depart; see
        ``linear_nodes=`` of :meth:`CausalFlow.fit`).
        """
        table = self.fit_info.get("linearity")
        if table is None:
            raise ValueError("This model has no linearity check (it was not fitted by this version "
                             "of medflow).")
        return pd.DataFrame(table)

    def summary(self) -> str:
        """How the fit ended (lavaan style), its settings and the linearity check, as text."""
        import medflow

        self._require_fitted()
        info = self.fit_info
        st = info["settings"]
        k = info["members"]
        best = info["best_epochs"]
        failed = info.get("diverged_nodes") or []
        head = (f"medflow {medflow.__version__} FAILED: the flow of {', '.join(failed)} fits held-out "
                f"rows far worse than its linear-Gaussian equation (training diverged; refit with "
                f"a smaller lr or linear_nodes='auto'); its effects are not to be trusted"
                if failed else
                f"medflow {medflow.__version__} ended normally after {info['epochs_run']} epochs"
                if info["converged"] else
                f"medflow {medflow.__version__} did NOT converge in {info['epochs_run']} epochs "
                f"(see the warning; refit with more epochs)")
        fold_text = (f"each leaves out one of {info['folds']} folds" if k > 1
                     else "one fifth of the rows held out")
        disc = ", ".join(self.encoding.discrete) or "none"
        lines = [
            head,
            f"  Estimator        cross-fitted ensemble of {k} flow(s), maximum likelihood",
            f"                   ({fold_text})",
            f"  Optimiser        AdamW, cosine schedule: batch {st['batch_size']}, lr {st['lr']:.3g}, "
            f"weight decay {st['weight_decay']:g}",
            "  Conditioners     read the parents' " + _INPUT_TEXT[self.config["inputs"]],
            f"  Kept weights     {_kept_text(best, info.get('averaged'))}",
            f"                   ({_kept_rule(info.get('averaged_epochs'))})",
            f"  Gradient norm    {min(info['grad_norm']):.3g} to {max(info['grad_norm']):.3g} "
            f"(full data, kept weights)",
            f"  Observations     {info['rows']:,}; seed {info['seed']}",
            f"  Discrete         {disc} ({info['discrete_likelihood']} likelihood)",
            "",
            "Linearity check: held-out log-likelihood per row, flow vs linear-Gaussian",
        ]
        table = self.linearity()
        if table.empty:
            lines.append("  (no variable has parents)")
        else:
            show = pd.DataFrame({
                "node": table["node"], "parents": table["parents"],
                "flow": table["flow_loglik"].map("{:.4f}".format),
                "linear": table["linear_loglik"].map("{:.4f}".format),
                "gain": table["gain"].map("{:.4f}".format), "s.e.": table["se"].map("{:.4f}".format),
                "z": table["z"].map("{:.1f}".format), "equation": table["equation"]})
            lines += ["  " + row for row in show.to_string(index=False).splitlines()]
            lines.append(f"  gain = flow - linear ({info['folds']}-fold cross-validation); z > 2: the "
                         "data depart from")
            lines.append("  linearity. 'linear': the fit uses that node's linear-Gaussian equation.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        state = "fitted" if self.flow is not None else "not fitted"
        rows = "data not stored" if self.data is None else f"n={len(self.data)}"
        return (f"<FittedFlow {state}: {'; '.join(self.dag.to_syntax().splitlines())}; "
                f"{rows}, discrete={list(self.encoding.discrete)}>")


def load(path: str | Path) -> FittedFlow:
    """Load a model saved with :meth:`FittedFlow.save` (no code is executed).

    The format version and the checksum over ``weights.pt`` and ``model.json`` are checked
    first, so a damaged, edited or newer-format model is refused with one error naming the
    file.

    Raises:
        FileNotFoundError: if the folder lacks ``model.json`` or ``weights.pt``.
        ValueError: for a damaged or edited file, a newer format or invalid weights.
    """
    path = Path(path)
    if not (path / "model.json").is_file() or not (path / "weights.pt").is_file():
        raise FileNotFoundError(f"{path} is not a saved medflow model (model.json and weights.pt expected).")
    meta_file, weights_file = path / "model.json", path / "weights.pt"
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{meta_file} is damaged: it is not valid JSON ({err}).") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_file} is damaged: it does not hold a model description.")
    version = meta.get("format_version")
    if meta.get("format") not in (_FORMAT, "medflow-flow/1") or (
            version is not None and not isinstance(version, int)):
        raise ValueError(f"{meta_file} is not a medflow model description (format "
                         f"{meta.get('format')!r}); this medflow reads {_FORMAT!r}.")
    if version is None:
        raise ValueError(f"{meta_file} was written by an older medflow (format "
                         f"{meta.get('format')!r}) without a checksum; refit the model and save it "
                         "again.")
    saved_by = (meta.get("versions") or {}).get("medflow", "unknown")
    if version > FORMAT_VERSION:
        import medflow
        raise ValueError(f"{meta_file} has format version {version} (written by medflow {saved_by}); "
                         f"this medflow {medflow.__version__} reads format versions up to "
                         f"{FORMAT_VERSION}. Update medflow to load it.")
    weights = weights_file.read_bytes()
    if hashlib.sha256(weights).hexdigest() != meta.get("weights_sha256"):
        raise ValueError(f"{weights_file} does not match the checksum recorded in model.json: the "
                         "weights were damaged or changed after saving.")
    if _checksum(weights, {k: v for k, v in meta.items() if k != "checksum"}) != meta.get("checksum"):
        raise ValueError(f"{meta_file} does not match its checksum: the model description was "
                         "edited or damaged after saving.")
    try:
        import io
        state = torch.load(io.BytesIO(weights), weights_only=True, map_location="cpu")
        dtype = _dtype(meta["dtype"])
        config = dict(meta["config"])
        config.setdefault("inputs", "standardized")  # saved before the input map existed
        fitted = FittedFlow(as_dag(meta["model"]), Encoding.from_dict(meta["encoding"]), config, dtype)
        data = state.pop("__data__", None)
        folds = state.pop("__folds__", None)
        flow = NodeFlows(fitted.mask, ensemble=int(meta["ensemble"]), dtype=dtype, **fitted.config)
        flow.load_state_dict(state)
        history = pd.DataFrame(meta["history"])
        fit_info = meta["fit_info"]
        if folds is not None:
            fit_info["folds_of_rows"] = folds.to(torch.int64).tolist()
    except Exception as err:  # noqa: BLE001 - any failure here means a damaged folder
        raise ValueError(f"The model in {path} could not be rebuilt from weights.pt and model.json "
                         f"({type(err).__name__}: {' '.join(str(err).split())[:300]}).") from None
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise ValueError(f"{weights_file} holds non-finite weights (NaN or infinity); the model "
                         "cannot be used.")
    _warn_if_newer(saved_by, meta_file)
    fitted.flow = flow
    fitted.data = None if data is None else pd.DataFrame(data.numpy(), columns=list(fitted.variables))
    fitted.history = history
    fitted.fit_info = fit_info
    return fitted


# -------------------------------------------------------------------- fitting helpers
#: Held-out NLL improvement (nats per row, all nodes) over the last fifth of the epochs below
#: which a fit counts as converged.
CONVERGENCE_TOL = 1e-2


def _converged(history: pd.DataFrame, settings: TrainSettings) -> bool:
    """Whether the held-out NLL had levelled off: over the last fifth of the epochs run it
    improved by less than :data:`CONVERGENCE_TOL` nats per row (or every member stopped early)."""
    if int(history["epoch"].max()) < settings.epochs:
        return True  # every member early-stopped: no held-out improvement for `patience` epochs
    val = history["val_nll"].to_numpy()
    if len(val) < 2:
        return False  # one epoch: nothing shows that the likelihood levelled off
    window = max(2, math.ceil(len(val) / 5))
    return bool(val[-window] - val[-window:].min() < CONVERGENCE_TOL)


#: Held-out log-likelihood (nats per row) by which a node's flow may fall short of its
#: linear-Gaussian equation before the fit counts as failed. The flow starts from that
#: equation and learns departures from it, so a well-trained flow is never far below it;
#: a shortfall this large means the optimiser threw the flow off (e.g. a learning rate far
#: too large), not overfitting (which costs hundredths of a nat).
DIVERGED_GAIN = 0.25


def _diverged_message(failed: pd.DataFrame, settings: TrainSettings) -> str:
    worst = ", ".join(f"{n} by {-g:.3g}" for n, g in zip(failed["node"], failed["gain"]))
    return (f"Training failed (diverged): the flow of {', '.join(map(str, failed['node']))} fits "
            f"the held-out rows far worse than the linear-Gaussian equation it started from "
            f"(held-out log-likelihood per row lower: {worst}; limit {DIVERGED_GAIN:g}), so the "
            f"effects are not to be trusted. Refit with a smaller learning rate (lr={settings.lr:g} "
            f"now; leave lr unset for the default) or with linear_nodes='auto'. "
            f"fit_info['diverged_nodes'] lists the nodes.")


def _not_converged_message(history: pd.DataFrame, settings: TrainSettings) -> str:
    val = history["val_nll"].to_numpy()
    if len(val) < 2:
        return ("The flow ran only 1 epoch, too few to tell whether it converged. Refit with more "
                "epochs (leave epochs= unset for the default) and compare the effects.")
    window = max(2, math.ceil(len(val) / 5))
    return (f"The flow may not have converged: its held-out negative log-likelihood still fell by "
            f"{val[-window] - val[-window:].min():.4f} nats per row over the last {window} of "
            f"{len(val)} epochs (tolerance {CONVERGENCE_TOL:g}). Refit with more epochs "
            f"(epochs={2 * settings.epochs}) and compare the effects.")


def _linear_nodes(spec, fitted: FittedFlow) -> list[str] | None:
    """``linear_nodes=`` as a list of variables (``None`` for ``"auto"``)."""
    if isinstance(spec, str):
        if spec == "auto":
            return None
        if spec == "none":
            return []
        spec = [spec]
    names = list(spec)
    bad = [v for v in names if v not in fitted.variables]
    if bad:
        raise ValueError(f"linear_nodes= names {', '.join(map(str, bad))}, which are not variables of "
                         f"the model; give 'auto', 'none' or some of {', '.join(fitted.variables)}.")
    roots = [v for v in names if not fitted.flow_dag.parents[v]]
    if roots:
        raise ValueError(f"linear_nodes= names {', '.join(roots)}, which have no parents: only "
                         "structural equations with parents can be made linear.")
    return list(dict.fromkeys(names))


def _warn_if_newer(saved_by: str, where: Path) -> None:
    """Warn when a model of a readable format was written by a newer medflow."""
    import warnings

    import medflow

    def parts(text):
        try:
            return tuple(int(p) for p in str(text).split("+")[0].split(".")[:3])
        except ValueError:
            return None

    saved, here = parts(saved_by), parts(medflow.__version__)
    if saved and here and saved > here:
        warnings.warn(f"{where} was written by medflow {saved_by}, newer than this medflow "
                      f"{medflow.__version__}; its format is readable, but results may differ "
                      "from the version that wrote it.", UserWarning, stacklevel=3)


def _jsonable(obj):
    """Plain JSON types for metadata (numpy scalars and arrays, tuples, paths, NaN kept)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def _checksum(weights: bytes, meta: Mapping) -> str:
    """SHA-256 over the weights file and the canonical JSON of the metadata (no checksum)."""
    canonical = json.dumps({k: v for k, v in meta.items() if k != "checksum"}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(weights + b"\n" + canonical.encode("ascii")).hexdigest()


# -------------------------------------------------------------------- numerics
def _count(value, arg: str, minimum: int) -> int:
    """A whole number of at least ``minimum``, or a ValueError naming the argument."""
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer, float, np.floating))
    if not ok or not float(value).is_integer() or value < minimum:
        raise ValueError(f"{arg} must be a whole number of at least {minimum}, got {value!r}.")
    return int(value)


def _generator(seed) -> torch.Generator | None:
    """A seeded generator, or None (torch's global generator) for ``seed=None``."""
    if seed is None:
        return None
    return torch.Generator().manual_seed(_count(seed, "seed", 0))


def _dtype(name: str) -> torch.dtype:
    table = {"float32": torch.float32, "float64": torch.float64}
    if name not in table:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {name!r}.")
    return table[name]


def _device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {name!r}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch sees no CUDA device; use device='cpu'.")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {name!r}.")
    return dev


def _kept_rule(window) -> str:
    """How a member's weights were chosen, for ``summary()``; ``window``: the averaged epochs
    (``fit_info["averaged_epochs"]``; absent from fits saved before averaging existed)."""
    if not window:
        return "each member's best epoch on its held-out fold"
    return (f"number: best epoch on the held-out fold; avg: weights averaged over epochs "
            f"{window[0]}-{window[1]},\n                   kept where they fit that fold better")


def _kept_text(best: list, averaged: list | None) -> str:
    """Per member: ``avg`` (averaged weights kept) or its best epoch.

    Example:
        >>> _kept_text([39, 12, 40], [True, False, True])
        'avg, 12, avg'
    """
    averaged = averaged or [False] * len(best)
    return ", ".join("avg" if a else str(e) for e, a in zip(best, averaged))


def _as_list(pair: tuple | None) -> list | None:
    """A tuple as a list (the form a saved model's JSON gives back), ``None`` as it is."""
    return None if pair is None else list(pair)
