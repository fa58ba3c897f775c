"""medflow: causal mediation analysis with causal-graphical normalizing flows.

Fit one monotone normalizing flow per node of a user-written DAG and answer
causal questions by counterfactual reasoning (total, natural, path-specific
and interventional effects), with the linear SEM beside it.

Example:
    >>> import medflow as mf
    >>> sem = mf.LinearSEM.from_moments("U ~ V + X; W ~ U + X; Y ~ U + X + W; V ~~ X",
    ...                                 mf.datasets.blau_duncan_correlations(), n=20700).fit()
    >>> round(float(sem.effects("X", "Y", a=1, a_ref=0).params["TE"]), 3)
    0.322
"""

from medflow import datasets, estimands, identification
from medflow.dag import DAG
from medflow.fairness import FairFit, LinearFairFit, fair, fair_linear, predict
from medflow.linear import LinearSEM, LinearSEMResults
from medflow.model import CausalFlow, FittedFlow, load
from medflow.results import EffectsResult, compare
from medflow.sensitivity import SensitivityResult, sensitivity

__version__ = "0.1.0"

__all__ = [
    "CausalFlow", "FittedFlow", "load",
    "LinearSEM", "LinearSEMResults",
    "DAG", "EffectsResult", "compare", "sensitivity", "SensitivityResult",
    "fair", "fair_linear", "predict", "FairFit", "LinearFairFit",
    "datasets", "estimands", "identification", "__version__",
]
