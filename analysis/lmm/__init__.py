"""Linear mixed models in lme4's image, as pure functions over pandas DataFrames.

``fit_lmm(data, formula, method="REML")`` fits ``y ~ a * b + (1|g1) + (1|g2)`` with lme4's
profiled penalised least squares (crossed random intercepts, any number of factors) and falls
back to statsmodels' MixedLM for random slopes. ``fit_ordinal`` and
``compare_linear_ordinal`` give the ordinal robustness check for Likert outcomes.
"""

from .api import fit_lmm
from .ordinal import compare_linear_ordinal, fit_ordinal
from .result import r2_nakagawa

__all__ = ["compare_linear_ordinal", "fit_lmm", "fit_ordinal", "r2_nakagawa"]
