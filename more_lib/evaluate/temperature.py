"""Temperature scaling of reward differences (Guo et al. 2017), the one-parameter calibration
baseline the paper lacks: p = σ(d / T), with T fitted by maximum likelihood on held-out pairs.

Each pair's label is 1 (the chosen response won), so the likelihood is Π σ(d_i / T); seen both
ways, as calibration sees a pair, it is the same number.
"""

import numpy as np
from scipy.optimize import minimize_scalar

# T between e^-6 and e^6: beyond that a reward difference carries no usable scale.
_LOG_T_BOUNDS = (-6.0, 6.0)


def mean_nll(d, temperature):
    return float(np.mean(np.logaddexp(0.0, -np.asarray(d, dtype=np.float64) / temperature)))


def fit_temperature(d):
    """The T > 0 minimising the mean negative log-likelihood of the pairs' differences `d`."""
    d = np.asarray(d, dtype=np.float64)
    if d.size == 0 or not np.any(d):
        return 1.0  # no pair or no signal: nothing to rescale
    result = minimize_scalar(lambda log_t: mean_nll(d, np.exp(log_t)), bounds=_LOG_T_BOUNDS, method="bounded",
                             options={"xatol": 1e-8})
    return float(np.exp(result.x))
