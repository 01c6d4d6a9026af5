"""Randomised-trial analysis (REFINO-style individually randomised trials, multi-arm trials).

Estimators return result objects (:mod:`evaluation.results`) with ``estimate``, ``se``, ``ci()``,
``pvalue``, ``n``, ``tidy()``, ``summary()`` and ``_repr_html_``.
"""
from ._prep import MissingDataWarning
from .estimators import difference_in_means, itt, late, randomization_inference

__all__ = ["MissingDataWarning", "difference_in_means", "itt", "late", "randomization_inference"]
