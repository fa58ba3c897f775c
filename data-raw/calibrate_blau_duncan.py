"""Calibrate the "blau_duncan" structural causal model to the published correlations.

The shape of the model (see ``_BlauDuncanSCM`` in python/medflow/datasets.py) is
fixed by hand: the marginal shares of the education codes, the skewed SEI
scores with floor and ceiling, the X x U and U x W interactions, the noise
skew and heteroskedasticity. This script fits the remaining scalars

    rho (copula of V, X), u_v, u_x (education), w_u, w_x, w_int (first job),
    y_u, y_x, y_w, y_int (1962 occupation)

so that the population correlations match Blau & Duncan (1967, p. 169) and the
mean SEI of first jobs and of 1962 occupations are 27 and 36 (plausible values;
the published table has no means). The education thresholds u_cuts are set at
each step to the quantiles that give sons the shares U_SHARES. X's location
and scale put its 25th and 75th percentiles (11 and 33) in the middle of
their integer steps, so that sample quartiles equal the population ones.

Common random numbers (one fixed noise sample) make the objective a smooth
function of the parameters up to the integer steps. Run it once; paste the
printed values into ``_BlauDuncanSCM``; then run blau_duncan_synthetic.py.

    nice -n 10 /work/venv/bin/python data-raw/calibrate_blau_duncan.py
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize, stats

from medflow.datasets import blau_duncan_correlations
from medflow.simulation.designs import _BlauDuncanSCM

#: Sons' education shares for codes 0-8 (plausible for men aged 20-64 in 1962).
U_SHARES = (0.01, 0.03, 0.07, 0.13, 0.18, 0.30, 0.11, 0.10, 0.07)
#: Target mean SEI of first jobs (W) and 1962 occupations (Y).
MEAN_W, MEAN_Y = 27.0, 36.0
FREE = ("rho", "u_v", "u_x", "w_u", "w_x", "w_int", "y_u", "y_x", "y_w", "y_int")


def x_location_scale(q25: int = 11, q75: int = 33, shift: float = 3.0) -> tuple[float, float]:
    """x_mu, x_sigma with the quartiles of exp(mu + sigma z) - shift at q + 1/2."""
    lo, hi = math.log(q25 + 0.5 + shift), math.log(q75 + 0.5 + shift)
    z = stats.norm.ppf(0.75)
    return (lo + hi) / 2, (hi - lo) / (2 * z)


def with_cuts(scm: _BlauDuncanSCM, eps: np.ndarray) -> _BlauDuncanSCM:
    """The model with education thresholds that give sons the shares U_SHARES."""
    v, x = scm.roots(eps)
    latent = scm.u_latent(v, x, eps[:, 2])
    cuts = np.quantile(latent, np.cumsum(U_SHARES)[:-1])
    return dataclasses.replace(scm, u_cuts=tuple(float(c) for c in cuts))


def main() -> None:
    target = blau_duncan_correlations().to_numpy()
    upper = np.triu_indices(5, 1)
    eps = np.random.default_rng(20700).standard_normal((400_000, 5))
    x_mu, x_sigma = x_location_scale()
    base = dataclasses.replace(_BlauDuncanSCM(), x_mu=x_mu, x_sigma=x_sigma)

    def model(theta) -> _BlauDuncanSCM:
        return with_cuts(dataclasses.replace(base, **dict(zip(FREE, map(float, theta)))), eps)

    def residuals(theta) -> np.ndarray:
        data = model(theta).solve(eps).to_numpy(dtype=float)
        corr = np.corrcoef(data.T)[upper] - target[upper]
        means = [(data[:, 3].mean() - MEAN_W) / 50, (data[:, 4].mean() - MEAN_Y) / 50]
        return np.concatenate([corr, means])

    start = [getattr(base, name) for name in FREE]
    fit = optimize.least_squares(residuals, start, diff_step=1e-2)
    scm = model(fit.x)
    data = scm.solve(eps)
    print("max |correlation - published|:", np.abs(fit.fun[:10]).max().round(4))
    print(np.round(data.corr().to_numpy() - target, 3))
    print(data.describe().T.round(2))
    print("share at 0:", (data == 0).mean().round(3).to_dict(), "at 96:", (data == 96).mean().round(3).to_dict())
    print("\nParameters for _BlauDuncanSCM:")
    for name in ("rho", "x_mu", "x_sigma", *FREE[1:]):
        print(f"    {name}: float = {getattr(scm, name):.5f}")
    print(f"    u_cuts: tuple[float, ...] = ({', '.join(f'{c:.5f}' for c in scm.u_cuts)})")


if __name__ == "__main__":
    main()
