"""Effect estimates for the ``did`` counterfactual taken from a previous notebook's results.

A report's notebooks share ``<output_dir>/results.json``: each notebook records its numbers under
``notebooks -> <notebook> -> <key>`` (see :class:`evaluation.report.Recorder`).  The outcome
contract notebook can take its counterfactual effect from there instead of a number typed into
the params file::

    effect: {from_results: "03_did_rollout.headline", scale: 12}

:func:`effect_from_results` reads one recorded estimate; :func:`resolve_effect` turns the
``effect`` option (a plain effect, a ``from_results`` reference, or a dict of either keyed by
quantity / panel column / payment event) into what :func:`evaluation.contracts.evaluate` takes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

__all__ = ["EffectEstimate", "effect_from_results", "resolve_effect"]

_REF_KEYS = {"from_results", "scale"}


@dataclass(frozen=True)
class EffectEstimate:
    """An effect estimate read from ``results.json``.

    Attributes
    ----------
    estimate, se : float
        Point estimate and standard error, multiplied by ``scale``.
    ci_low, ci_high : float or None
        Confidence interval as recorded, multiplied by ``scale`` (bounds swapped if ``scale < 0``).
    source : str
        ``"results.json: notebooks.<notebook>.<key>"``, for the report.
    outcome, method : str
        What the recorded estimate measures and how it was estimated (as recorded, may be empty).
    scale : float
        Multiplier applied to the recorded numbers (e.g. 12 turns a per-month effect on the share
        on social assistance into months on social assistance over a 12-month window).
    """

    estimate: float
    se: float
    ci_low: Optional[float] = None
    ci_high: Optional[float] = None
    source: str = ""
    outcome: str = ""
    method: str = ""
    scale: float = 1.0

    def describe(self) -> str:
        """One line for the report: value, SE, source and scale."""
        sc = "" if self.scale == 1 else f" (recorded value x {self.scale:g})"
        what = f" on {self.outcome}" if self.outcome else ""
        return f"effect {self.estimate:.4g} (SE {self.se:.4g}){what}{sc}, from {self.source}"


def effect_from_results(output_dir: str | Path, ref: str, *, scale: float = 1.0) -> EffectEstimate:
    """Read an effect estimate that a previous notebook recorded in ``results.json``.

    Parameters
    ----------
    output_dir : str or Path
        Report folder holding ``results.json`` (or the path of the JSON file itself).
    ref : str
        ``"<notebook>.<key>"``, e.g. ``"03_did_rollout.headline"``; further dots descend into
        nested mappings.  The entry must be a mapping with ``estimate`` and ``se``.
    scale : float, default 1
        Multiplier for estimate, SE and interval (unit conversion, e.g. per month -> per window).

    Returns
    -------
    EffectEstimate
        With ``.estimate`` and ``.se`` as :func:`evaluation.contracts.evaluate` expects.

    Raises
    ------
    FileNotFoundError
        If ``results.json`` does not exist (run the estimating notebook first).
    ValueError
        If ``ref`` is malformed, the notebook or key is not recorded (the message lists the keys
        that are), or the entry has no finite ``estimate`` / ``se``.

    Examples
    --------
    >>> eff = effect_from_results("reports/alna_aktiv", "03_did_rollout.headline")  # doctest: +SKIP
    >>> eff.estimate, eff.se                                                        # doctest: +SKIP
    (-0.1239, 0.0308)
    """
    path = Path(output_dir)
    if path.is_dir() or path.suffix != ".json":
        path = path / "results.json"
    if not isinstance(ref, str) or "." not in ref.strip(".") or not all(ref.split(".")):
        raise ValueError(f"from_results {ref!r} must be '<notebook>.<key>', e.g. "
                         "'03_did_rollout.headline'")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: from_results {ref!r} needs the notebook "
                                f"{ref.split('.')[0]!r} to run (and record its results) before this one; "
                                "list it earlier in the params file's notebooks")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    node: Any = data.get("notebooks", {}) if isinstance(data, Mapping) else {}
    where = "notebooks"
    for part in ref.split("."):
        if not isinstance(node, Mapping) or part not in node:
            have = sorted(node) if isinstance(node, Mapping) else []
            raise ValueError(f"{path} has no entry {where}.{part} (from_results {ref!r}); "
                             f"keys recorded under {where}: {have}")
        node = node[part]
        where = f"{where}.{part}"
    if not isinstance(node, Mapping) or "estimate" not in node or "se" not in node:
        have = sorted(node) if isinstance(node, Mapping) else type(node).__name__
        raise ValueError(f"{path}: {where} is not an effect estimate with 'estimate' and 'se' "
                         f"(it has {have})")
    est, se = node["estimate"], node["se"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
               for v in (est, se)):
        raise ValueError(f"{path}: {where} has estimate={est!r}, se={se!r}; both must be finite numbers")
    scale = float(scale)
    lo, hi = node.get("ci_low"), node.get("ci_high")
    lo = float(lo) * scale if isinstance(lo, (int, float)) else None
    hi = float(hi) * scale if isinstance(hi, (int, float)) else None
    if scale < 0 and lo is not None and hi is not None:
        lo, hi = hi, lo
    return EffectEstimate(estimate=float(est) * scale, se=abs(float(se) * scale), ci_low=lo,
                          ci_high=hi, source=f"{path.name}: {where}", outcome=str(node.get("outcome") or ""),
                          method=str(node.get("method") or ""), scale=scale)


def _is_ref(v: Any) -> bool:
    return isinstance(v, Mapping) and "from_results" in v


def resolve_effect(effect: Any, output_dir: str | Path) -> Any:
    """Replace ``{from_results: "<notebook>.<key>", scale: s}`` references in an ``effect`` option.

    ``effect`` may be ``None``, a number, a dict with ``estimate``/``se``, a ``from_results``
    reference, or a dict keyed by quantity / panel column / payment event whose values are any of
    these.  References are read with :func:`effect_from_results`; everything else is returned as
    given, so the result can be passed to :func:`evaluation.contracts.evaluate` as ``effect=``.

    Raises
    ------
    ValueError
        For unknown keys next to ``from_results`` (only ``scale`` is allowed), and as
        :func:`effect_from_results`.
    """
    def one(v):
        if not _is_ref(v):
            return v
        extra = set(v) - _REF_KEYS
        if extra:
            raise ValueError(f"effect reference {dict(v)} has unknown key(s) {sorted(extra)}; "
                             f"allowed: {sorted(_REF_KEYS)}")
        return effect_from_results(output_dir, v["from_results"], scale=v.get("scale", 1.0))

    if effect is None or _is_ref(effect):
        return one(effect)
    if isinstance(effect, Mapping) and not ("estimate" in effect and set(effect) <= {"estimate", "se"}):
        return {k: one(v) for k, v in effect.items()}
    return effect


def matched_comparison(panel, *, seed: int = 0, **matching) -> tuple[Any, Any]:
    """Comparison persons and weights for ``counterfactual="matched"``: the programme persons
    matched by :func:`evaluation.matching.nearest_neighbor` to the others on baseline covariates.

    ``matching`` are its options (``covariates``, ``exact``, ``caliper``, ``ratio``); returns
    ``(comparison, sample)``: the ``person_id, weight`` frame and the matched sample.
    """
    import evaluation.matching as em

    from .engine import comparison_from_sample
    persons = panel.persons() if hasattr(panel, "persons") else \
        panel.drop_duplicates("person_id").reset_index(drop=True)
    persons = persons.assign(treated=persons["treated"].astype(int))
    m = em.nearest_neighbor(persons, treatment="treated", missing="exclude", seed=seed, **matching)
    return comparison_from_sample(m), m
