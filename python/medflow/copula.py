"""The Gaussian copula of the noises: the maths behind :func:`medflow.sensitivity.sensitivity`.

A fitted flow has independent standard-normal noises. The ρ-sensitivity analysis gives the
noises of chosen node pairs a Gaussian copula with correlation ``rho``
(``eps ~ N(0, Sigma_rho)``). This module holds the pieces that do not depend on the effects
engine or the refit loop:

* :func:`noise_correlation` builds ``Sigma_rho`` (and checks it is positive definite);
* ``_Copula`` is the noise law of every ensemble member: joint log-density (the training
  hook), draws, conditional draws given other noises, and the abduction of discrete nodes'
  noises (truncated conditional normals, Gibbs sweeps when discrete nodes are linked);
* ``_CopulaLikelihood`` is the likelihood with discrete nodes on their exact interval mass
  (bivariate masses by Gauss-Legendre quadrature, ``_log_box_mass``);
* :func:`copula_linear_part` is the Gaussian MLE of the linear SEM under ``Sigma_rho``, the
  warm start of each refit.

See ``docs/design.md`` §7 for the model.

Example:
    >>> from medflow.copula import noise_correlation
    >>> noise_correlation(["X", "M", "Y"], [("M", "Y")], -0.2)[2].tolist()
    [0.0, -0.2, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor
from torch.distributions import MultivariateNormal

from medflow.flow import NodeFlows
from medflow.ols import node_regressions
from medflow.training import log_interval_mass, truncated_normal as _truncated_normal

__all__ = ["Pair", "noise_correlation", "copula_linear_part"]

#: A pair of variable names whose noises are correlated.
Pair = tuple[str, str]


def _pair_text(pair: Pair) -> str:
    return f"{pair[0]} ~~ {pair[1]}"


def _scenario_text(scenario: Sequence[Pair]) -> str:
    return " + ".join(_pair_text(p) for p in scenario)



def noise_correlation(variables: Sequence[str], pairs: Sequence[Pair], rho: float) -> np.ndarray:
    """The noise correlation matrix ``Sigma_rho``: identity with ``rho`` for every pair.

    Args:
        variables: the model's variables (the order of the matrix).
        pairs: pairs of variable names whose noises are correlated.
        rho: the common correlation.

    Raises:
        ValueError: if the matrix is not positive definite.

    Example:
        >>> noise_correlation(["X", "U", "Y"], [("U", "Y")], 0.3)[1:, 1:].tolist()
        [[1.0, 0.3], [0.3, 1.0]]
    """
    idx = {v: k for k, v in enumerate(variables)}
    sigma = np.eye(len(variables))
    for a, b in pairs:
        sigma[idx[a], idx[b]] = sigma[idx[b], idx[a]] = rho
    if np.linalg.eigvalsh(sigma).min() <= 1e-8:
        raise ValueError(f"With rho = {rho:g} the noise correlations of {_scenario_text(pairs)} do not form "
                         "a positive-definite matrix; narrow the rho grid or correlate fewer pairs jointly.")
    return sigma


# ==================================================================== the Gaussian copula
class _Copula:
    """``eps ~ N(0, Sigma_e)`` for each ensemble member ``e``; ``sigma`` is ``(E, d, d)``."""

    def __init__(self, sigma: np.ndarray):
        self.sigma = torch.as_tensor(sigma, dtype=torch.float64)
        self.chol = torch.linalg.cholesky(self.sigma)
        self.precision = torch.cholesky_inverse(self.chol)
        self._dist: dict = {}

    def log_prob(self, eps: Tensor) -> Tensor:
        """Joint log-density ``(E, B)`` of noise ``(E, B, d)`` (the training hook)."""
        if eps.dtype not in self._dist:
            tril = self.chol.to(eps.dtype).unsqueeze(1)
            self._dist[eps.dtype] = MultivariateNormal(torch.zeros_like(tril[..., 0]), scale_tril=tril,
                                                       validate_args=False)
        return self._dist[eps.dtype].log_prob(eps)

    def sample(self, n: int, generator: torch.Generator, dtype: torch.dtype) -> Tensor:
        """``(E, n, d)`` draws."""
        E, d, _ = self.sigma.shape
        z = torch.randn(E, n, d, generator=generator, dtype=torch.float64)
        return torch.einsum("end,ekd->enk", z, self.chol).to(dtype)

    def conditional(self, eps: Tensor, free: Sequence[int], z: Tensor) -> Tensor:
        """Fresh noise for the ``free`` nodes given ``eps`` of all other nodes; ``(E, N, d)``.

        ``z``: standard-normal ``(E, N, d)``; the draw is ``mean + L z`` (so ``-z`` gives the
        mirror image about the conditional mean). The other entries of the result are ``z``
        itself (unused by callers).
        """
        E, N, d = eps.shape
        z = z.double()
        free = list(free)
        kept = [j for j in range(d) if j not in free]
        if not free:
            return z.to(eps.dtype)
        s = self.sigma
        s_ff = s[:, free][:, :, free]
        out = z.clone()
        if kept:
            s_fk = s[:, free][:, :, kept]
            s_kk = s[:, kept][:, :, kept]
            gain = torch.linalg.solve(s_kk, s_fk.transpose(1, 2)).transpose(1, 2)  # (E, f, k)
            cond = s_ff - gain @ s_fk.transpose(1, 2)
            mean = torch.einsum("enk,efk->enf", eps[..., kept].double(), gain)
        else:
            cond, mean = s_ff, torch.zeros(E, N, len(free), dtype=torch.float64)
        chol = torch.linalg.cholesky(0.5 * (cond + cond.transpose(1, 2)))
        out[..., free] = mean + torch.einsum("enf,egf->eng", z[..., free], chol)
        return out.to(eps.dtype)

    @torch.no_grad()
    def abduct(self, fit, flow: NodeFlows, x: Tensor, generator: torch.Generator) -> Tensor:
        """Noise ``(E, N, d)`` of rows ``x`` ``(E, N, d)``.

        Continuous nodes: ``eps = T(v)``. Discrete nodes: a draw from the noise posterior, the
        copula conditional truncated to the node's interval ``[T(k), T(k + 1))`` (``-inf`` /
        ``+inf`` for the lowest / highest observed value, as in the fit) (Gibbs sweeps when
        discrete nodes are correlated with each other).
        """
        eps, _ = flow(x, x)
        disc = fit.disc_step > 0
        if not disc.any():
            return eps
        # [T(k), T(k + 1)), with the tails for the lowest and highest observed values (as the
        # fit's abduction and likelihood have them)
        lo, hi = fit._interval(flow, x, eps)
        cur = torch.where(disc, _truncated_normal(lo, hi, torch.rand(lo.shape, generator=generator,
                                                                      dtype=torch.float64)), eps.double())
        q = self.precision
        off = (q - torch.diag_embed(torch.diagonal(q, dim1=1, dim2=2))).abs().amax(0) > 0  # (d, d)
        linked = [j for j in torch.nonzero(disc).flatten().tolist() if bool(off[j].any())]
        if linked:
            among = off[linked][:, linked].any()
            for _ in range(25 if bool(among) else 1):
                for j in linked:
                    qjj = q[:, j, j].reshape(-1, 1)
                    others = (cur * q[:, j].unsqueeze(1)).sum(-1) - cur[..., j] * qjj
                    mean, sd = -others / qjj, qjj.rsqrt()
                    w = torch.rand(mean.shape, generator=generator, dtype=torch.float64)
                    z = _truncated_normal((lo[..., j] - mean) / sd, (hi[..., j] - mean) / sd, w)
                    cur[..., j] = mean + sd * z
        return cur.to(eps.dtype)


#: Gauss-Legendre nodes on [0, 1] (probability scale) for the bivariate interval masses.
_GL_T, _GL_W = (lambda t, w: ((t + 1) / 2, w / 2))(*np.polynomial.legendre.leggauss(24))


def _log_box_mass(a1: Tensor, b1: Tensor, a2: Tensor, b2: Tensor, r: Tensor) -> Tensor:
    """``log P(a1 <= Z1 < b1, a2 <= Z2 < b2)`` for standard bivariate normal ``Z`` with
    correlation ``r`` (bounds may be infinite): ``P(Z1 in [a1, b1))`` times the mean over
    ``Z1`` of the conditional mass of ``Z2``, by Gauss-Legendre quadrature on the probability
    scale of ``Z1``'s truncated law."""
    t = torch.as_tensor(_GL_T, dtype=a1.dtype)
    logw = torch.log(torch.as_tensor(_GL_W, dtype=a1.dtype))
    shape = (*a1.shape, len(t))
    z = _truncated_normal(a1.unsqueeze(-1).expand(shape), b1.unsqueeze(-1).expand(shape),
                          t.expand(shape))
    r = r.unsqueeze(-1)
    s = torch.sqrt(1 - r**2)
    cond = log_interval_mass((a2.unsqueeze(-1) - r * z) / s, (b2.unsqueeze(-1) - r * z) / s)
    return log_interval_mass(a1, b1) + torch.logsumexp(cond + logw, dim=-1)


class _CopulaLikelihood:
    """The copula likelihood with discrete nodes on their exact interval mass.

    A row's log-likelihood is the continuous nodes' ``log |dT/dv|`` plus the Gaussian
    log-density of their noises ``eps_C`` under ``Sigma_CC``, plus the log-probability that
    the discrete nodes' noises fall in their intervals ``[T(k), T(k + 1))`` (the lowest and
    highest observed values taking the tails) under the conditional normal law given
    ``eps_C``. With ``Sigma = I`` this is the fit's interval likelihood. Discrete nodes
    that stay correlated given ``eps_C`` are handled in pairs (bivariate masses); larger
    groups are not supported (:attr:`supported` is then False).

    Called with noise ``(E, B, d)`` it is the copula log-density (the dequantized path).
    """

    def __init__(self, copula: _Copula, disc: Tensor):
        self.copula = copula
        disc = disc.cpu().numpy().astype(bool)
        d = len(disc)
        self.C = [j for j in range(d) if not disc[j]]
        self.D = [j for j in range(d) if disc[j]]
        s = copula.sigma                                         # (E, d, d) float64
        E = s.shape[0]
        if self.C:
            s_cc = s[:, self.C][:, :, self.C]
            s_dc = s[:, self.D][:, :, self.C]
            self.gain = torch.linalg.solve(s_cc, s_dc.transpose(1, 2)).transpose(1, 2)  # (E, D, C)
            cond = s[:, self.D][:, :, self.D] - self.gain @ s_dc.transpose(1, 2)
            self.chol_cc = torch.linalg.cholesky(s_cc)
        else:
            self.gain = torch.zeros(E, len(self.D), 0, dtype=s.dtype)
            cond = s[:, self.D][:, :, self.D]
            self.chol_cc = None
        self.sd = torch.sqrt(torch.diagonal(cond, dim1=1, dim2=2))          # (E, D)
        corr = cond / (self.sd.unsqueeze(-1) * self.sd.unsqueeze(-2))
        linked = (corr - torch.diag_embed(torch.diagonal(corr, dim1=1, dim2=2))).abs().amax(0) > 1e-12
        self.pairs = [(i, k) for i in range(len(self.D)) for k in range(i + 1, len(self.D)) if linked[i, k]]
        used = [i for pr in self.pairs for i in pr]
        self.supported = len(used) == len(set(used))
        self.singles = [i for i in range(len(self.D)) if i not in used]
        self.corr = corr
        self._cache: dict = {}

    def __call__(self, eps: Tensor) -> Tensor:
        return self.copula.log_prob(eps)

    def _as(self, name: str, dtype, device) -> Tensor:
        key = (name, dtype, device)
        if key not in self._cache:
            self._cache[key] = getattr(self, name).to(dtype=dtype, device=device)
        return self._cache[key]

    def interval_nll(self, flow: NodeFlows, x: Tensor, disc_step: Tensor,
                     interval: tuple[Tensor, Tensor]) -> Tensor:
        """Negative log-likelihood ``(E, B)`` of rows ``x`` ``(E, B, d)``."""
        (eps, ladj), (hi, _) = flow.transform((x, x + disc_step), x)
        dt, dev = eps.dtype, eps.device
        out = torch.zeros(eps.shape[:-1], dtype=dt, device=dev)
        C, D = self.C, self.D
        if C:
            e_c = eps[..., C]
            tril = self._as("chol_cc", dt, dev).unsqueeze(1)
            out = out + MultivariateNormal(torch.zeros_like(tril[..., 0]), scale_tril=tril,
                                           validate_args=False).log_prob(e_c) + ladj[..., C].sum(-1)
        if D:
            lower, upper = interval[0][D], interval[1][D]
            xd, step = x[..., D], disc_step[D]
            tol = 1e-4 * step
            lo = torch.where(xd <= lower + tol, -torch.inf, eps[..., D])
            up = torch.where(xd >= upper - tol, torch.inf, hi[..., D])
            mean = (torch.einsum("ebc,edc->ebd", eps[..., C], self._as("gain", dt, dev)) if C
                    else torch.zeros_like(lo))
            sd = self._as("sd", dt, dev).unsqueeze(1)
            # +-40 stands in for +-inf (same masses to double precision): infinite bounds
            # inside the quadrature would give NaN gradients
            a, b = ((lo - mean) / sd).clamp(-40, 40), ((up - mean) / sd).clamp(-40, 40)
            if self.singles:
                k = self.singles
                out = out + log_interval_mass(a[..., k], b[..., k]).sum(-1)
            corr = self._as("corr", dt, dev)
            for i, k in self.pairs:
                r = corr[:, i, k].unsqueeze(1).expand(a.shape[:-1])
                out = out + _log_box_mass(a[..., i], b[..., i], a[..., k], b[..., k], r)
        return -out


# ==================================================================== linear warm start
def copula_linear_part(cov: np.ndarray, mask: np.ndarray, disc_step: np.ndarray,
                       sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian MLE of a linear SEM whose standardized errors have correlation ``sigma``.

    With ``sigma = I`` this is OLS of each node on its parents (the flow's starting point);
    with correlated errors it is the linear SEM consistent with the assumed correlation.

    Args:
        cov: ``(d, d)`` covariance of the (standardized) data (``ddof=0``).
        mask: ``(d, d)`` parent mask (row = child).
        disc_step: ``(d,)`` width of an integer step (dequantization adds ``step**2 / 12``).
        sigma: ``(d, d)`` error correlation matrix.

    Returns:
        ``weight (d, d)`` and ``log_scale (d,)``; intercepts follow from the means.

    Example:
        >>> import numpy as np
        >>> cov = np.array([[1.0, 0.5], [0.5, 1.0]]); mask = np.array([[0, 0], [1, 0]])
        >>> w, s = copula_linear_part(cov, mask, np.zeros(2), np.eye(2))
        >>> round(float(w[1, 0]), 6), round(float(np.exp(2 * s[1])), 6)   # OLS slope, residual var
        (0.5, 0.75)
    """
    d = cov.shape[0]
    mask = np.asarray(mask) > 0
    free = np.flatnonzero(mask.ravel())
    extra = np.diag(np.asarray(disc_step, dtype=float) ** 2 / 12.0)
    q = np.linalg.inv(sigma)
    eye = np.eye(d)
    b0, resid = node_regressions(cov, mask, np.diag(extra))  # OLS start
    s0 = 0.5 * np.log(np.maximum(resid, 1e-12))

    def unpack(theta):
        b = np.zeros(d * d)
        b[free] = theta[:len(free)]
        return b.reshape(d, d), theta[len(free):]

    def objective(theta):
        b, logs = unpack(theta)
        ib = eye - b
        m = ib @ cov @ ib.T + extra
        inv_s = np.exp(-logs)
        r = m * inv_s[:, None] * inv_s[None, :]
        value = 0.5 * float((q * r).sum()) + float(logs.sum())
        p = q * inv_s[:, None] * inv_s[None, :]
        grad_b = -(p @ ib @ cov).ravel()[free]
        grad_s = -(q * r).sum(1) + 1.0
        return value, np.concatenate([grad_b, grad_s])

    if not np.allclose(sigma, eye):
        res = minimize(objective, np.concatenate([b0.ravel()[free], s0]), jac=True, method="L-BFGS-B",
                       options=dict(maxiter=2000, ftol=1e-15, gtol=1e-10))
        b0, s0 = unpack(res.x)
    return b0, s0
