"""The causal-graphical flow: one monotone conditional transform per node.

For node ``j`` with parents ``pa_j`` the flow learns the inverse structural
equation ``eps_j = T_j(v_j; pa_j)`` with ``eps_j ~ N(0, 1)``:

    r_j   = (v_j - b_j . pa_j - c_j) / s_j                 (linear SEM part)
    eps_j = g_{j,L} o ... o g_{j,1}(r_j; pa_j)              (monotone corrections)

where each ``g`` is a monotonic rational-quadratic spline (zuko) whose knots
are produced by a small MLP of the *parents only*. The MLP reads each parent
twice: its standardized value and its normal scores, a fixed monotone map
fitted to the data (:func:`normal_scores`). The scores spread a skewed or heaped
parent such as an occupational score evenly over the MLP's input range, so a
curve that bends where the data are dense (``log(1 + X)`` near ``X = 0``) is as
easy to learn as one that bends in the middle; the standardized value keeps
curves that are simple on the original scale (``tanh(X)``, ``X * W``) simple.
The map only feeds the MLP; the linear part reads
the standardized parents, so the linear SEM is still nested. With the spline's final
layer at zero every ``g`` is the identity, so the linear SEM is the special
case the flow starts from and the flow learns departures from it. All nodes
(and, for the bootstrap, an ensemble of ``E`` independent flows) are
evaluated in one batched pass: every parameter has leading shape ``(E, d)``.

Tensors in this module live on the flow's standardized scale; see
:mod:`medflow.data` for the mapping to original units.

Example:
    >>> import torch
    >>> from medflow.flow import NodeFlows
    >>> mask = torch.tensor([[0., 0.], [1., 0.]])   # mask[j, k] = 1: k is a parent of j
    >>> f = NodeFlows(mask, ensemble=1, generator=torch.Generator().manual_seed(0))
    >>> v = torch.randn(1, 4, 2)
    >>> eps, logdet = f(v, v)
    >>> torch.allclose(f.inverse_node(1, eps[..., 1], v), v[..., 1], atol=1e-5)
    True
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Transform
from zuko.transforms import MonotonicRQSTransform

__all__ = ["NodeFlows", "FlowConfig", "normal_scores"]

#: what the conditioner MLPs may read (:meth:`NodeFlows.features`)
INPUTS = ("both", "normal_scores", "standardized")

#: at most this many knots per variable in the normal-score map of the conditioner inputs
MAX_KNOTS = 64


class Spline(MonotonicRQSTransform):
    """zuko's monotonic rational-quadratic spline with its knots built by exp / sum.

    Same arguments and the same spline as :class:`zuko.transforms.MonotonicRQSTransform`
    (the knots agree to float rounding; ``tests/python/test_flow.py``), so its
    forward map, inverse and log-Jacobian are zuko's. Only the construction of the knots
    differs: torch's CPU softmax over a last dimension as short as the bins (8) runs a
    scalar loop, about five times slower than exp / sum, and took a quarter of a fit's
    CPU (``benchmarks/spline_knots.py``).

    Example:
        >>> import torch
        >>> p = torch.randn(3, 23)
        >>> ours, zukos = Spline(p[:, :8], p[:, 8:16], p[:, 16:]), MonotonicRQSTransform(p[:, :8], p[:, 8:16], p[:, 16:])
        >>> x = torch.randn(3)
        >>> torch.allclose(ours(x), zukos(x), atol=1e-6)
        True
    """

    def __init__(self, widths: Tensor, heights: Tensor, derivatives: Tensor,
                 bound: float = 5.0, slope: float = 1e-3) -> None:
        Transform.__init__(self)
        log_slope = math.log(slope)
        self.horizontal = bound * (2 * _knot_shares(widths, log_slope) - 1)
        self.vertical = bound * (2 * _knot_shares(heights, log_slope) - 1)
        inner = derivatives / (1 + (derivatives / log_slope).abs())
        self.derivatives = torch.nn.functional.pad(inner, (1, 1)).exp()


def _knot_shares(raw: Tensor, log_slope: float) -> Tensor:
    """Cumulative shares ``0, s_1, s_1 + s_2, ..., 1`` of the bins, ``s`` the softmax of the
    bounded ``raw`` (zuko bounds a width to ``|w| < -log(slope) / 2``)."""
    bounded = raw / (1 + (2 * raw / log_slope).abs())
    e = (bounded - bounded.detach().amax(-1, keepdim=True)).exp()
    cum = e.cumsum(-1)
    return torch.nn.functional.pad(cum / cum[..., -1:], (1, 0))


class FlowConfig(dict):
    """Architecture settings (a plain dict, stored as JSON with a saved model)."""

    defaults = dict(hidden=16, depth=2, bins=8, layers=1, bound=5.0, learn_linear=True,
                    inputs="both", input_map=None)

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(self.defaults)
        if unknown:
            raise ValueError(f"Unknown flow setting(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(self.defaults)}.")
        super().__init__({**self.defaults, **kwargs})
        for name, least in (("hidden", 1), ("depth", 1), ("bins", 2), ("layers", 1)):
            value = self[name]
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not ok or not float(value).is_integer() or value < least:
                raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}.")
            self[name] = int(value)
        bound = self["bound"]
        if (isinstance(bound, bool) or not isinstance(bound, numbers.Real)
                or not math.isfinite(bound) or not bound > 0):
            raise ValueError(f"bound must be a positive number (the half-width of the splines' "
                             f"domain on the standardized scale; default 5.0, e.g. 3 to 10), got "
                             f"{bound!r}.")
        self["bound"] = float(bound)
        if not isinstance(self["learn_linear"], bool):
            raise ValueError(f"learn_linear must be True or False, got {self['learn_linear']!r}.")
        if self["inputs"] not in INPUTS:
            raise ValueError("inputs must be 'both' (the conditioners read each parent's "
                             "standardized value and its normal scores; default), 'normal_scores' "
                             f"or 'standardized', got {self['inputs']!r}.")
        if self["inputs"] == "standardized" and self["input_map"] is not None:
            raise ValueError("inputs='standardized' reads no normal scores; input_map must be None.")
        input_map = self["input_map"]
        if input_map is not None and (not isinstance(input_map, dict)
                                      or set(input_map) != {"knots", "scores"}):
            raise ValueError("input_map must be None or a dict with 'knots' and 'scores' "
                             "(made by medflow.flow.normal_scores), got "
                             f"{type(input_map).__name__}.")


class NodeFlows(nn.Module):
    """Batched per-node conditional monotone flows for ``E`` ensemble members.

    Args:
        mask: ``(d, d)`` 0/1 tensor, ``mask[j, k] = 1`` when ``k`` is a parent of ``j``
            (row = child; node order is the topological order of the data columns).
        ensemble: number of independent flows ``E`` trained together.
        generator: torch random generator for the initial weights.
        **config: see :class:`FlowConfig`.
    """

    def __init__(self, mask: Tensor, ensemble: int = 1, generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float32, **config):
        super().__init__()
        cfg = FlowConfig(**config)
        self.config = cfg
        d = mask.shape[0]
        self.d, self.E = d, ensemble
        self.register_buffer("mask", mask.to(dtype).clone())
        knots, scores = _padded_map(cfg["input_map"], d, dtype)
        # Not part of the state dict: the map lives in the (JSON) config, like the architecture.
        self.register_buffer("in_knots", knots, persistent=False)
        self.register_buffer("in_scores", scores, persistent=False)
        K, L, H = cfg["bins"], cfg["layers"], cfg["hidden"]
        self.n_out = L * (3 * K - 1)

        def init(*shape, fan_in):
            w = torch.randn(ensemble, *shape, generator=generator, dtype=dtype)
            return nn.Parameter(w * math.sqrt(1.0 / max(fan_in, 1)))

        # Linear SEM part: eps-free location b . pa + c and log scale.
        self.weight = nn.Parameter(torch.zeros(ensemble, d, d, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(ensemble, d, dtype=dtype))
        self.log_scale = nn.Parameter(torch.zeros(ensemble, d, dtype=dtype))
        self.weight.requires_grad_(cfg["learn_linear"])
        self.bias.requires_grad_(cfg["learn_linear"])
        # Conditioner MLPs (one per node, masked to its parents).
        n_parents = mask.sum(1).clamp(min=1)
        width = 2 * d if cfg["inputs"] == "both" else d
        self.w_in = init(d, width, H, fan_in=int(n_parents.max()) * width // d)
        self.b_in = nn.Parameter(torch.zeros(ensemble, d, H, dtype=dtype))
        self.w_hidden = nn.ParameterList([init(d, H, H, fan_in=H) for _ in range(cfg["depth"] - 1)])
        self.b_hidden = nn.ParameterList([nn.Parameter(torch.zeros(ensemble, d, H, dtype=dtype))
                                          for _ in range(cfg["depth"] - 1)])
        # Zero output layer: every spline starts as the identity.
        self.w_out = nn.Parameter(torch.zeros(ensemble, d, H, self.n_out, dtype=dtype))
        self.b_out = nn.Parameter(torch.zeros(ensemble, d, self.n_out, dtype=dtype))

    # ------------------------------------------------------------------ pieces
    def set_linear(self, weight: Tensor, bias: Tensor, log_scale: Tensor) -> None:
        """Set the linear SEM part (e.g. from OLS), broadcast to every ensemble member."""
        with torch.no_grad():
            self.weight.copy_((weight * self.mask).expand_as(self.weight))
            self.bias.copy_(bias.expand_as(self.bias))
            self.log_scale.copy_(log_scale.expand_as(self.log_scale))

    def features(self, x: Tensor) -> Tensor:
        """What the conditioner MLPs read, from ``x`` (standardized values, any leading shape):
        with ``inputs="both"`` the ``2 d`` columns ``[x, scores]``, with ``"normal_scores"`` the
        scores alone, with ``"standardized"`` ``x`` alone. The scores are each column through the
        piecewise-linear normal-score map of the config's ``input_map``, constant beyond the
        lowest and highest knots (``x`` itself when there is no map).
        """
        if self.config["inputs"] == "standardized":
            return x
        scores = x if self.in_knots is None else self._scores(x)
        return torch.cat([x, scores], -1) if self.config["inputs"] == "both" else scores

    def _scores(self, x: Tensor) -> Tensor:
        k, s = self.in_knots, self.in_scores
        flat = x.reshape(-1, self.d).T.contiguous()                       # (d, M)
        i = torch.searchsorted(k, flat).clamp(1, k.shape[1] - 1)
        k0, k1, s0, s1 = k.gather(1, i - 1), k.gather(1, i), s.gather(1, i - 1), s.gather(1, i)
        t = ((flat - k0) / (k1 - k0)).clamp(0.0, 1.0)
        return (s0 + t * (s1 - s0)).T.reshape(x.shape)

    def _conditioner(self, x: Tensor, nodes: slice | int = slice(None)) -> Tensor:
        """Spline parameters ``(E, B, d', layers, 3K-1)`` from the parents' values ``x``."""
        x = self.features(x)
        m = self.mask[nodes]
        if self.config["inputs"] == "both":          # the same parents in both halves
            m = torch.cat([m, m], -1)
        w_in = self.w_in[:, nodes] * m[..., None]
        eq = "ebi,ejih->ebjh" if w_in.dim() == 4 else "ebi,eih->ebh"
        h = torch.einsum(eq, x, w_in) + self.b_in[:, nodes].unsqueeze(1)
        h = torch.nn.functional.silu(h)
        for w, b in zip(self.w_hidden, self.b_hidden):
            eqh = "ebjh,ejhk->ebjk" if h.dim() == 4 else "ebh,ehk->ebk"
            h = torch.nn.functional.silu(torch.einsum(eqh, h, w[:, nodes]) + b[:, nodes].unsqueeze(1))
        eqo = "ebjh,ejhk->ebjk" if h.dim() == 4 else "ebh,ehk->ebk"
        out = torch.einsum(eqo, h, self.w_out[:, nodes]) + self.b_out[:, nodes].unsqueeze(1)
        return out.unflatten(-1, (self.config["layers"], -1))

    def _splines(self, params: Tensor) -> list[Spline]:
        K = self.config["bins"]
        return [Spline(p[..., :K], p[..., K:2 * K], p[..., 2 * K:], bound=self.config["bound"])
                for p in params.unbind(-2)]

    def _location(self, x: Tensor, nodes: slice | int = slice(None)) -> Tensor:
        w = self.weight[:, nodes] * self.mask[nodes]
        eq = "ebi,eji->ebj" if w.dim() == 3 else "ebi,ei->eb"
        return torch.einsum(eq, x, w) + self.bias[:, nodes].unsqueeze(1)

    # ------------------------------------------------------------------ transforms
    def forward(self, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Noise and log-Jacobian for all nodes.

        Args:
            v: ``(E, B, d)`` node values to transform (dequantized for discrete nodes).
            x: ``(E, B, d)`` values the children condition on (integers for discrete nodes).

        Returns:
            ``eps`` and ``log |d eps_j / d v_j|``, both ``(E, B, d)``.
        """
        (eps, ladj), = self.transform((v,), x)
        return eps, ladj

    def transform(self, values: tuple[Tensor, ...], x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """:meth:`forward` for several value tensors sharing the conditioning values ``x``.

        The conditioner and the splines' knots are computed once (e.g. for both ends
        ``k`` and ``k + 1`` of the discrete intervals).
        """
        scale = self.log_scale.unsqueeze(1)
        splines = self._splines(self._conditioner(x))
        loc = self._location(x)
        out = []
        for v in values:
            r = (v - loc) * torch.exp(-scale)
            ladj = -scale.expand_as(r)
            for spline in splines:
                r, l_k = spline.call_and_ladj(r)
                ladj = ladj + l_k
            out.append((r, ladj))
        return out

    def log_prob(self, v: Tensor, x: Tensor) -> Tensor:
        """Per-node log-density ``(E, B, d)`` on the standardized scale."""
        eps, ladj = self(v, x)
        return -0.5 * eps**2 - 0.5 * math.log(2 * math.pi) + ladj

    def forward_node(self, j: int, v_j: Tensor, x: Tensor) -> Tensor:
        """``eps_j = T_j(v_j; x)`` for one node; ``v_j`` is ``(E, B)``."""
        r = (v_j - self._location(x, j)) * torch.exp(-self.log_scale[:, j]).unsqueeze(1)
        for spline in self._splines(self._conditioner(x, j)):
            r = spline(r)
        return r

    def inverse_node(self, j: int, eps_j: Tensor, x: Tensor) -> Tensor:
        """``v_j = T_j^{-1}(eps_j; x)`` for one node; ``x`` holds the parents' values."""
        r = eps_j
        for spline in reversed(self._splines(self._conditioner(x, j))):
            r = spline.inv(r)
        return r * torch.exp(self.log_scale[:, j]).unsqueeze(1) + self._location(x, j)

    # ------------------------------------------------------------------ ensemble
    def member(self, k: int) -> NodeFlows:
        """A one-member copy of ensemble member ``k``."""
        return self.members(slice(k, k + 1))

    def members(self, idx) -> NodeFlows:
        """A copy of the ensemble members ``idx`` (a slice or a sequence of member indices, which
        may repeat), e.g. to evaluate a chunk at a time."""
        rows = torch.arange(self.E)[idx]
        idx = rows
        part = NodeFlows(self.mask, ensemble=len(rows), dtype=self.mask.dtype, **self.config)
        with torch.no_grad():
            for p_part, p_all in zip(part.parameters(), self.parameters()):
                p_part.copy_(p_all[idx])
        return part

    @classmethod
    def replicate(cls, flow: NodeFlows, ensemble: int) -> NodeFlows:
        """An ensemble of ``ensemble`` members, member ``e`` a copy of ``flow``'s member ``e mod flow.E``."""
        new = cls(flow.mask, ensemble=ensemble, dtype=flow.mask.dtype, **flow.config)
        idx = torch.arange(ensemble) % flow.E
        with torch.no_grad():
            for p_new, p_old in zip(new.parameters(), flow.parameters()):
                p_new.copy_(p_old[idx])
        return new


# ---------------------------------------------------------------------- input map
def normal_scores(x, max_knots: int = MAX_KNOTS) -> dict:
    """The normal-score map of each column of ``x`` (``(N, d)`` standardized data).

    Knots are observed values at evenly spaced ranks (every distinct value when there are at
    most ``max_knots``, always the lowest and the highest); a knot's score is
    ``Phi^-1`` of its mid-rank ``(#{x < v} + #{x <= v}) / 2N``, so ties (discrete values) share
    one score. Between knots the map is linear, beyond them constant. It holds at most
    ``max_knots`` values per variable, not rows.

    Example:
        >>> import numpy as np
        >>> m = normal_scores(np.array([[0.0], [1.0], [1.0], [5.0]]))
        >>> m["knots"], [[round(v, 3) for v in m["scores"][0]]]
        ([[0.0, 1.0, 5.0]], [[-1.15, 0.0, 1.15]])
    """
    from scipy import stats

    arr = np.asarray(x.detach().cpu().numpy() if isinstance(x, Tensor) else x, dtype=float)
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(f"normal_scores needs an (N, d) array with N >= 1, got shape {arr.shape}.")
    knots, scores = [], []
    for col in arr.T:
        col = np.sort(col[np.isfinite(col)])
        n = len(col)
        if n == 0:
            raise ValueError("normal_scores needs at least one finite value in every column.")
        values = np.unique(col)
        if len(values) > max_knots:
            values = np.unique(col[np.round(np.linspace(0, n - 1, max_knots)).astype(int)])
        below = np.searchsorted(col, values, side="left")
        upto = np.searchsorted(col, values, side="right")
        knots.append([float(v) for v in values])
        scores.append([float(v) for v in stats.norm.ppf((below + upto) / (2.0 * n))])
    return dict(knots=knots, scores=scores)


def _padded_map(input_map: dict | None, d: int, dtype) -> tuple[Tensor | None, Tensor | None]:
    """``(d, Q)`` knot and score tensors, each row padded past its last knot (score held)."""
    if input_map is None:
        return None, None
    knots, scores = input_map["knots"], input_map["scores"]
    if len(knots) != d or len(scores) != d or any(len(k) != len(s) or not k for k, s in zip(knots, scores)):
        raise ValueError(f"input_map must hold knots and scores of equal, nonzero length for each of "
                         f"the {d} variables.")
    q = max(2, max(len(k) for k in knots))
    kt = torch.empty(d, q, dtype=torch.float64)
    st = torch.empty(d, q, dtype=torch.float64)
    for j, (k, s) in enumerate(zip(knots, scores)):
        k, s = torch.as_tensor(k, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64)
        if len(k) > 1 and not bool((k[1:] > k[:-1]).all()):
            raise ValueError(f"input_map knots of variable {j} must be strictly increasing.")
        pad = q - len(k)
        kt[j] = torch.cat([k, k[-1] + 1e3 * torch.arange(1, pad + 1, dtype=torch.float64)])
        st[j] = torch.cat([s, s[-1].expand(pad)])
    return kt.to(dtype), st.to(dtype)
