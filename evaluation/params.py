"""Parameter files: one YAML file per programme in ``params/``.

A parameter file is the pre-specified analysis plan of a report: which data, which notebooks,
which outcomes and options, which contract rules.  Everything in it is validated before any
notebook runs, so the plan cannot change silently:

- unknown or misspelt keys are refused with the keys allowed in that section (papermill alone
  only warns about unknown parameters); a key given twice in one section is refused too;
- every option that names a panel column (covariates, subgroups, outcomes, clusters, strata,
  groups, ...) is checked against :func:`evaluation.schema.panel_columns`: a misspelt column
  stops the render, naming it and listing the allowed names;
- cross-field rules are checked up front (``min_e < max_e``, shares and margins in range, the
  headline notebook is in the plan, a contract does not pay one event twice unless the rule says
  it is repeatable, an inline contract is validated like a top-level one);
- errors in nested sections name the full path (``contract.payment.stages.1.share``) and list
  that section's keys;
- notebook names are plain names inside ``notebooks/`` (no path separators, no ``..``).

Each notebook has one options model here (:data:`NOTEBOOK_OPTIONS`): the types, defaults,
allowed values and documentation of its options in one place.  A notebook receives the validated
object from :func:`notebook_options`; the README's table of options is generated from the models
(:func:`options_reference`).

Layout::

    programme: refino                    # report folder name: reports/<programme>/
    title: "REFINO ..."
    description: "..."
    data:
      source: synthetic                  # synthetic | extracts
      scenario: refino                   # synthetic scenario (source: synthetic)
      n_persons: 4000                    # synthetic size
      seed: 1                            # synthetic seed
      folder: data/synthetic/refino      # where the extracts are (default data/synthetic/<programme>)
    disclosure:                          # output control (evaluation.disclosure.DisclosureOptions)
      threshold: 5                       # counts 1..4 suppressed (>= 3; `disclosure_threshold: 5` also works)
      rounding_base: 5                   # amounts = count x price rounded to 5 x price
      min_analysis_n: 60                 # no estimate of fewer persons is published
    seed: 20261123                       # analysis seed (bootstrap, permutation)
    notebooks:
      - name: 01_panel_overview
        options: {...}                   # validated by the notebook's options model
    headline: {notebook: 02_rct_analysis, key: headline}
    contract: {...}                      # validated by evaluation.contracts.ContractSpec
"""
from __future__ import annotations

import difflib
import hashlib
import io
import keyword
import re
import tokenize
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from ._io import ROOT
from .disclosure import DisclosureOptions
from .schema import SCENARIOS, panel_columns

NOTEBOOK_DIR = ROOT / "notebooks"
README = ROOT / "README.md"

#: A notebook name: a plain file stem inside notebooks/ (no separators, no dots, no "..").
NOTEBOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class ParamsError(ValueError):
    """A parameter file is invalid; the message lists every problem and the allowed keys."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------
# options that name panel columns
# ------------------------------------------------------------------------------------------
def _column(default: Any = None, description: str = "", *, formula: bool = False, **kw) -> Any:
    """A field whose value names panel column(s) (a name, a list of names, or a formula)."""
    return Field(default, description=description,
                 json_schema_extra={"column": "formula" if formula else "name"}, **kw)


def _is_column_field(model: type[BaseModel], name: str) -> str | None:
    extra = model.model_fields[name].json_schema_extra
    return extra.get("column") if isinstance(extra, dict) else None


_FORMULA_WORDS = {"C", "I", "Q", "np", "center", "standardize", "scale", "bs", "cr", "cc", "te",
                  "Treatment", "Sum", "Poly", "Diff", "Helmert", "log", "exp", "sqrt"}


def formula_columns(formula: str) -> list[str]:
    """Names a patsy formula refers to as variables (``"age + I(age < 35) + C(office)"`` →
    ``["age", "office"]``): names not called as functions, not attributes, not keywords."""
    rhs = formula.split("~", 1)[-1]
    out: list[str] = []
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(rhs).readline)
                if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise ValueError(f"covariate formula {formula!r} cannot be read: {exc}") from None
    for i, t in enumerate(toks):
        if t.type != tokenize.NAME or keyword.iskeyword(t.string) or t.string in _FORMULA_WORDS:
            continue
        nxt = toks[i + 1].string if i + 1 < len(toks) else ""
        prev = toks[i - 1].string if i else ""
        if nxt in ("(", ".") or prev == "." or t.string in out:
            continue
        out.append(t.string)
    return out


def unknown_columns(value: Any, kind: str = "name") -> list[str]:
    """The names in an option value (a name, a list of names, or a formula) that are not panel
    columns."""
    if value is None or value == "":
        return []
    if kind == "formula" and isinstance(value, str):
        names = formula_columns(value)
    else:
        names = [value] if isinstance(value, str) else list(value)
    known = set(panel_columns())
    return [n for n in names if n not in known]


def _column_message(bad: list[str]) -> str:
    allowed = sorted(panel_columns())
    hints = []
    for b in bad:
        close = difflib.get_close_matches(str(b), allowed, n=1)
        hints.append(f"{b!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (f"unknown panel column(s) {', '.join(hints)}; allowed names: {allowed}")


# ------------------------------------------------------------------------------------------
# options each notebook understands: types, defaults, allowed values and documentation
# ------------------------------------------------------------------------------------------
class _ColumnChecked(_Strict):
    """A section whose fields marked with :func:`_column` must name panel columns."""

    @field_validator("*")
    @classmethod
    def _columns_exist(cls, v, info: ValidationInfo):
        kind = _is_column_field(cls, info.field_name)
        if kind:
            bad = unknown_columns(v, kind)
            if bad:
                raise ValueError(_column_message(bad))
        return v


class NotebookOptions(_ColumnChecked):
    """Validated options of one notebook.

    Fields are read as attributes (``opt.covariates``) or, for notebooks written against a dict,
    as ``opt["covariates"]`` / ``opt.get("covariates")``.  Every field that names a panel column
    is checked against :func:`evaluation.schema.panel_columns`.
    """

    notebook: ClassVar[str] = ""

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(f"{key!r} is not an option of {self.notebook}; options: "
                           f"{list(type(self).model_fields)}")
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in type(self).model_fields else default

    def __contains__(self, key: str) -> bool:
        return key in type(self).model_fields and getattr(self, key) is not None

    def keys(self):
        return type(self).model_fields.keys()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class OverviewOptions(NotebookOptions):
    """01_panel_overview: sample flow, who is in the panel, outcome trajectories."""

    notebook: ClassVar[str] = "01_panel_overview"
    group: str = _column("arm", "panel column the overview is broken down by")
    outcomes: list[str] = _column(["employed", "on_social_assistance"],
                                  "outcomes shown (means and trajectories)", min_length=1)


class RCTOptions(NotebookOptions):
    """02_rct_analysis: the randomised trial's pre-specified analysis."""

    notebook: ClassVar[str] = "02_rct_analysis"
    headline_outcome: str = _column("employed", "the pre-specified headline outcome")
    headline_month: int = Field(24, ge=0, description="months since randomisation at which the "
                                "headline effect is estimated")
    outcomes: Optional[list[str]] = _column(None, "outcomes estimated month by month "
                                            "(default: the headline outcome only)")
    covariates: list[str] = _column(["age", "female", "immigrant"],
                                    "baseline covariates of the adjusted estimators (Lin / ANCOVA)")
    subgroups: list[str] = _column(["immigrant", "under_30"], "subgroup columns of the "
                                   "heterogeneity analysis")
    months: int = Field(48, gt=0, description="months since randomisation followed")
    ri_draws: int = Field(500, ge=0, description="randomisation-inference permutations (0 = none)")
    price: float = Field(30000, ge=0, description="price per participant of the staged payment "
                         "illustration")
    arms: Optional[list[str]] = Field(None, description="arms compared with control (default: all)")
    control: str = Field("control", description="the control arm's label")
    method: Literal["lin", "ancova"] = Field("lin", description="covariate adjustment of the "
                                             "headline ITT")
    strata: Optional[str] = _column("office", "randomisation strata for the fixed-effects "
                                    "robustness check and randomisation inference")
    design_shares: Optional[dict[str, float]] = Field(
        None, description="designed assignment share per arm (fractions summing to 1; default: "
        "equal shares)")
    target_effect: float = Field(0.05, description="effect the power analysis is run for, in "
                                 "outcome units")

    @model_validator(mode="after")
    def _defaults_and_shares(self):
        if self.outcomes is None:
            self.outcomes = [self.headline_outcome]
        if self.headline_month > self.months:
            raise ValueError(f"headline_month ({self.headline_month}) is beyond the months followed "
                             f"({self.months}); raise months or choose an earlier headline month")
        if self.design_shares is not None:
            out = {k: v for k, v in self.design_shares.items() if not 0 < v < 1}
            if out:
                raise ValueError(f"design_shares {out} outside (0, 1); give each arm's share as a "
                                 "fraction, e.g. {control: 0.5, treatment: 0.5}")
            total = sum(self.design_shares.values())
            if abs(total - 1) > 1e-6:
                raise ValueError(f"design_shares add up to {total:.4g}, not 1; fix them so the arms' "
                                 "shares sum to 1")
        return self


class DiDOptions(NotebookOptions):
    """03_did_rollout: staggered rollout by difference-in-differences."""

    notebook: ClassVar[str] = "03_did_rollout"
    outcome: str = _column("on_social_assistance", "the pre-specified headline outcome")
    control_group: Literal["never", "notyet"] = Field("notyet", description="comparison units "
                                                      "(R did: control_group)")
    method: Literal["dr", "ipw", "reg"] = Field("dr", description="estimation method "
                                                "(R did: est_method)")
    covariates: list[str] = _column([], "covariates of the conditional parallel-trends assumption")
    cluster: Optional[str] = _column("office", "cluster variable of the standard errors "
                                     "(empty: person level)")
    min_e: int = Field(-6, description="first event time of the event study (below max_e)")
    max_e: int = Field(12, description="last event time of the event study")
    bootstrap_draws: int = Field(999, ge=0, description="multiplier-bootstrap draws (R did: biters)")
    anticipation: int = Field(0, ge=0, description="periods of anticipation")
    base_period: Literal["varying", "universal"] = Field("varying", description="base period of "
                                                         "pre-treatment effects")
    group: str = _column("cohort", "column with the first treated period (0 = never treated)")
    time: str = _column("period", "integer time column")
    district: str = _column("office", "column naming the rollout unit (district)")
    headline_inference: Literal["cluster", "wild", "randomization"] = Field(
        "cluster", description="pre-specified inference of the headline: cluster-robust, wild "
        "cluster bootstrap (WCR) or randomisation inference over districts' adoption dates")
    wild_weights: Literal["rademacher", "webb"] = Field("webb", description="wild bootstrap weights")
    wild_draws: int = Field(9999, ge=99, description="wild bootstrap draws (Rademacher: all 2^G "
                            "sign vectors when 2^G <= draws)")
    ri_permutations: Optional[int] = Field(None, ge=19, description="random permutations for "
                                           "randomisation inference (empty: all distinct assignments)")
    pilot_district: Optional[str] = Field(None, description="district for synthetic control / "
                                          "synthetic DiD (the first adopter; empty: no such section)")

    def frame_columns(self) -> list[str]:
        """Panel columns the notebook reads (the person x period frame it asks the panel for)."""
        cols = [self.outcome, self.time, self.group, self.district, self.cluster, *self.covariates,
                "event_time", "treated"]
        return [c for c in dict.fromkeys(cols) if c]

    @model_validator(mode="after")
    def _window(self):
        if self.min_e >= self.max_e:
            raise ValueError(f"min_e ({self.min_e}) must be below max_e ({self.max_e}); the event "
                             "study runs from min_e to max_e")
        return self


MATCHING_COVARIATES = ("age + I(age < 35) + female + C(norwegian_level) + C(education_level)"
                       " + sa_months_12 + sa_months_24 + emp_months_12 + emp_months_24 + earnings_12")


class MatchingOptions(NotebookOptions):
    """04_matched_comparison: propensity-score matched comparison (Data Lab style)."""

    notebook: ClassVar[str] = "04_matched_comparison"
    headline_outcome: str = _column("employed", "the pre-specified headline outcome")
    headline_horizon: int = Field(12, gt=0, description="months after entry of the headline effect")
    horizons: list[int] = Field([6, 12, 24], min_length=1, description="months after entry at "
                                "which effects are shown")
    covariates: Union[str, list[str]] = _column(MATCHING_COVARIATES, "propensity model: a patsy "
                                                "formula or a list of columns", formula=True)
    exact: list[str] = _column(["office"], "columns matched exactly")
    caliper: Optional[float] = Field(0.2, gt=0, description="caliper in SDs of the propensity "
                                     "score's logit (empty: none)")
    ratio: int = Field(1, ge=1, description="comparison persons per participant")
    min_participants: int = Field(60, ge=1, description="fewest participants the analysis runs "
                                  "for (Justice Data Lab: 60)")
    treatment: str = _column("treated", "participation indicator column")
    secondary_outcomes: list[str] = _column(["employed", "on_social_assistance"],
                                            "further outcomes shown at every horizon")
    aggregate: Optional[Literal["any", "sum", "mean"]] = Field(
        None, description="outcome over the first h months instead of the value in month h "
        "(default: 'any' for reoffended, else the month value)")

    @model_validator(mode="after")
    def _aggregate_default(self):
        if self.aggregate is None and "aggregate" not in self.model_fields_set \
                and self.headline_outcome == "reoffended":
            self.aggregate = "any"
        return self

    #: Baseline of the notebook's matched difference-in-differences: the year before entry.
    did_pre: ClassVar[tuple[int, int]] = (-12, -1)

    def frame_columns(self) -> list[str]:
        """Outcome columns the notebook reads (with ``person_id`` and ``event_time``, the
        person x event-time frame it asks the panel for): the headline and secondary outcomes."""
        return list(dict.fromkeys([self.headline_outcome, *self.secondary_outcomes]))

    def frame_event_times(self) -> list[int]:
        """Event times the notebook reads: the matched DiD's baseline year (:attr:`did_pre`)
        through the last horizon (a month value at ``h``, an aggregate over ``0 .. h-1``)."""
        return list(range(self.did_pre[0], max([*self.horizons, self.headline_horizon]) + 1))


CONTRACT_MATCHING_COVARIATES = ("age + female + C(norwegian_level) + C(education_level)"
                                " + sa_months_12 + sa_months_24 + emp_months_12 + emp_months_24"
                                " + earnings_12")


class ContractMatching(_ColumnChecked):
    """The matched comparison group of an outcome contract (``counterfactual: matched``)."""

    covariates: Union[str, list[str]] = _column(CONTRACT_MATCHING_COVARIATES, "propensity model: "
                                                "a patsy formula or a list of columns", formula=True)
    exact: list[str] = _column(["office"], "columns matched exactly")
    caliper: Optional[float] = Field(0.2, gt=0, description="caliper (SDs of the logit)")
    ratio: int = Field(1, ge=1, description="comparison persons per participant")


class ContractOptions(NotebookOptions):
    """05_outcome_contract: payments, cash flows, investor and public side, INDIGO export."""

    notebook: ClassVar[str] = "05_outcome_contract"
    contract: dict[str, Any] = Field(description="the contract (usually `*contract`, the params "
                                     "file's contract section); validated as a ContractSpec")
    counterfactual: Literal["rct_control", "matched", "did", "historical"] = Field(
        "rct_control", description="where the counterfactual comes from")
    uncertainty: Optional[Literal["bootstrap", "normal", "none"]] = Field(
        None, description="uncertainty of payments (default: normal for did, else bootstrap)")
    n_draws: int = Field(999, gt=0, description="bootstrap draws")
    matching: ContractMatching = Field(default_factory=ContractMatching,
                                       description="matching options (counterfactual: matched)")
    #: ``{from_results: "<notebook>.<key>", scale: s}`` (an estimate a previous notebook recorded
    #: in results.json), or numbers / such references keyed by quantity, panel column or event.
    effect: Optional[dict[str, Union[float, str, dict[str, Union[float, str]]]]] = Field(
        None, description="effect estimate for did/historical: {from_results: '<notebook>.<key>', "
        "scale: s} or numbers by quantity")
    baseline: Optional[float] = Field(None, description="historical baseline (counterfactual: "
                                      "historical)")

    @field_validator("effect")
    @classmethod
    def _effect_form(cls, v):
        if v is None:
            return v

        def ref(d, where):
            extra = set(d) - {"from_results", "scale"}
            if extra or not isinstance(d.get("from_results"), str):
                raise ValueError(f"{where} must be {{from_results: '<notebook>.<key>', scale: <number>}}"
                                 f"; got {d}")
            if "scale" in d and isinstance(d["scale"], str):
                raise ValueError(f"{where}: scale must be a number, got {d['scale']!r}")
            return d

        if "from_results" in v:
            return ref(v, "effect")
        for k, x in v.items():
            if isinstance(x, dict):
                ref(x, f"effect.{k}")
            elif isinstance(x, str):
                raise ValueError(f"effect.{k} must be a number or {{from_results: ...}}, got {x!r}")
        return v

    @model_validator(mode="after")
    def _uncertainty_default(self):
        if self.uncertainty is None:
            self.uncertainty = "normal" if self.counterfactual == "did" else "bootstrap"
        return self


class TrialDesignOptions(ContractOptions):
    """06_trial_design: participants needed for a payment threshold to be detectable."""

    notebook: ClassVar[str] = "06_trial_design"
    margin: float = Field(0.10, gt=0, le=1, description="relative improvement the contract "
                          "requires, when the contract does not set one")
    share_treated: float = Field(0.5, gt=0, lt=1, description="share of a new trial assigned to "
                                 "the programme")
    comparison_ratio: Optional[float] = Field(None, gt=0, description="comparison persons per "
                                              "participant (default: none for rct_control, else 1)")
    true_effects: Optional[list[float]] = Field(None, description="true relative effects of the "
                                                "power curves (default: margin × 1, 1.5, 2, 3)")
    sizes: list[int] = Field([100, 200, 300, 500, 1000, 2000, 4000, 8000], min_length=1,
                             description="trial sizes of the power curves")
    pilot_power: bool = Field(False, description="add the simulated power of a district pilot / "
                              "staggered rollout (difference-in-differences with few districts)")
    pilot_outcome: str = _column("on_social_assistance", "outcome of the district-pilot power "
                                 "simulation (its SD and persistence come from the panel)")
    pilot_cluster: str = _column("office", "district column of the panel (for the variance components)")
    pilot_districts: list[int] = Field([6, 8, 10, 12, 16, 20], min_length=1,
                                       description="numbers of districts in the power curves")
    pilot_effects: list[float] = Field([-0.02, -0.05], min_length=1, description="true effects "
                                       "(outcome units) of the district-pilot power curves")
    pilot_icc: list[float] = Field([0.01, 0.05], min_length=1, description="district intra-cluster "
                                   "correlations assumed (the panel's estimate is shown beside them)")
    pilot_persons: int = Field(580, ge=1, description="persons per district")
    pilot_periods: int = Field(48, ge=4, description="months observed")
    pilot_sims: int = Field(300, ge=50, description="simulated studies per point of the curves")

    @model_validator(mode="after")
    def _ratio_default(self):
        if self.comparison_ratio is None and self.counterfactual != "rct_control":
            self.comparison_ratio = 1.0
        return self

    def pilot_frame_columns(self) -> list[str]:
        """Panel columns of the district-pilot section (with ``person_id`` and ``period``, the
        person x period frame of the variance components): the outcome, the district and
        ``cohort`` (persons' months before their cohort's start count as untreated)."""
        return list(dict.fromkeys([self.pilot_outcome, self.pilot_cluster, "cohort"]))


class ContractDesignOptions(ContractOptions):
    """07_contract_design: candidate payment rules compared on data before the contract is signed."""

    notebook: ClassVar[str] = "07_contract_design"
    design: dict[str, Any] = Field(description="the candidate rules and what to compare (usually "
                                   "`*design`, the params file's design section); validated as "
                                   "evaluation.contracts.compare.DesignSpec against the contract")


#: Options model per notebook: unknown or misspelt option keys are refused like any other key.
NOTEBOOK_OPTIONS: dict[str, type[NotebookOptions]] = {
    m.notebook: m for m in (OverviewOptions, RCTOptions, DiDOptions, MatchingOptions,
                            ContractOptions, TrialDesignOptions, ContractDesignOptions)}


# ------------------------------------------------------------------------------------------
# the parameter file
# ------------------------------------------------------------------------------------------
class DataSpec(_Strict):
    source: Literal["synthetic", "extracts"] = "synthetic"
    scenario: Optional[str] = None
    n_persons: Optional[int] = Field(default=None, gt=0)
    seed: int = 1
    effect_scale: float = 1.0
    folder: Optional[str] = None
    #: engine of the panel build (evaluation.panel.engine); --engine on the command line wins
    engine: Literal["duckdb", "spark", "bigquery"] = "duckdb"
    #: DuckDB memory limit for the panel build, e.g. "4GB" (beyond it DuckDB spills to disk)
    memory_limit: Optional[str] = Field(default=None, pattern=r"^\s*\d+(\.\d+)?\s*[KMGT]i?B\s*$")
    #: the user's column names, value codes and date formats -> schema (evaluation.panel.mapping)
    columns: Optional[dict[str, Any]] = None

    @field_validator("columns")
    @classmethod
    def _known_columns(cls, v, info: ValidationInfo):
        from .panel.mapping import check_spec
        if v and info.data.get("source") == "synthetic":
            raise ValueError("data.columns maps the column names of your own extracts, but data.source "
                             "is 'synthetic' (the generator writes the schema's names): set "
                             "source: extracts with data.folder, or remove data.columns")
        probs = check_spec(v)
        if probs:
            raise ValueError("; ".join(probs))
        return v

    @field_validator("scenario")
    @classmethod
    def _known_scenario(cls, v):
        if v is not None and v not in SCENARIOS:
            raise ValueError(f"unknown scenario {v!r}; choose one of {list(SCENARIOS)}")
        return v

    @model_validator(mode="after")
    def _scenario_for_synthetic(self):
        if self.source == "synthetic" and self.scenario is None:
            raise ValueError("data.source is 'synthetic' but data.scenario is not set; "
                             f"choose one of {list(SCENARIOS)}")
        if self.source == "extracts" and self.folder is None:
            raise ValueError("data.source is 'extracts': set data.folder to the folder holding "
                             "the register extracts")
        return self


def check_notebook_name(name: str) -> str:
    """``name`` if it is a plain notebook name inside notebooks/, else ``ValueError``."""
    if not isinstance(name, str) or not NOTEBOOK_NAME.match(name):
        raise ValueError(f"notebook name {name!r} is not a plain name: give the file name in "
                         "notebooks/ without folder or extension (letters, digits, '_' and '-' "
                         "only), e.g. 02_rct_analysis")
    return name


def available_notebooks() -> list[str]:
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


class NotebookSpec(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _exists(cls, v):
        check_notebook_name(v)
        if not notebook_source(v):
            raise ValueError(f"notebook {v!r} not found in notebooks/; available: "
                             f"{available_notebooks()}")
        return v

    def validated_options(self) -> NotebookOptions:
        """The options as the notebook's options model (defaults filled in)."""
        return NOTEBOOK_OPTIONS[self.name].model_validate(self.options)


class HeadlineSpec(_Strict):
    notebook: str
    key: str

    @field_validator("notebook")
    @classmethod
    def _plain(cls, v):
        return check_notebook_name(v)


class Params(_Strict):
    programme: str = Field(pattern=r"^[a-z0-9_]+$")
    language: Literal["en", "nb"] = Field("en", description="language of the report: en (English) "
                                          "or nb (Norwegian bokmål; evaluation/i18n.py)")
    title: str = Field(description="the report's title; a text, or one per language {en: ..., nb: ...}")
    description: str = ""
    data: DataSpec
    disclosure_threshold: Optional[int] = Field(default=None, ge=3)  # = disclosure.threshold
    disclosure: DisclosureOptions = Field(default_factory=DisclosureOptions)
    seed: int = 20261123
    notebooks: list[NotebookSpec] = Field(min_length=1)
    headline: Optional[HeadlineSpec] = None
    contract: Optional[dict[str, Any]] = None
    design: Optional[dict[str, Any]] = None   # = evaluation.contracts.compare.DesignSpec

    @model_validator(mode="before")
    @classmethod
    def _texts_in_language(cls, data):
        """``title`` / ``description`` given per language ({en: ..., nb: ...}): the report's."""
        if not isinstance(data, dict):
            return data
        lang = data.get("language", "en")
        for key in ("title", "description"):
            v = data.get(key)
            if isinstance(v, dict) and lang in ("en", "nb"):
                bad = sorted(set(map(str, v)) - {"en", "nb"})
                if bad:
                    raise ValueError(f"{key}: unknown language(s) {bad}; give the text as "
                                     f"{{en: ..., nb: ...}}")
                if lang not in v:
                    raise ValueError(f"{key} has no {lang!r} text but the report's language is "
                                     f"{lang!r}: add `{lang}: ...` under {key}")
                data = {**data, key: v[lang]}
        return data

    @model_validator(mode="after")
    def _one_threshold(self):
        t, d = self.disclosure_threshold, self.disclosure
        if t is not None and "threshold" in d.model_fields_set and d.threshold != t:
            raise ValueError(f"disclosure_threshold ({t}) and disclosure.threshold ({d.threshold}) "
                             "differ: give the threshold once, in the disclosure section")
        if t is not None and "threshold" not in d.model_fields_set:
            self.disclosure = DisclosureOptions.model_validate({**d.model_dump(exclude_unset=True),
                                                                "threshold": t})
        self.disclosure_threshold = self.disclosure.threshold
        return self

    @field_validator("notebooks")
    @classmethod
    def _unique(cls, v):
        names = [nb.name for nb in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"notebook(s) {dup} listed more than once; a report runs each "
                             "notebook once")
        return v

    @field_validator("headline")
    @classmethod
    def _headline_in_plan(cls, v, info: ValidationInfo):
        nbs = info.data.get("notebooks")
        if v is not None and nbs is not None and v.notebook not in [nb.name for nb in nbs]:
            raise ValueError(f"headline notebook {v.notebook!r} is not in the plan; notebooks "
                             f"listed: {[nb.name for nb in nbs]}")
        return v

    # -- derived -------------------------------------------------------------------------
    @property
    def data_folder(self) -> Path:
        folder = self.data.folder or f"data/synthetic/{self.programme}"
        p = Path(folder)
        return p if p.is_absolute() else ROOT / p

    def notebook_parameters(self, nb: NotebookSpec, output_dir: Path) -> dict[str, Any]:
        """The plain values papermill injects into a notebook's ``parameters`` cell.

        ``options`` is always a dict (possibly empty): the notebook then reads its options from
        the file being rendered only, never from a params file of the repository.
        """
        return {"programme": self.programme, "data_dir": str(self.data_folder),
                "output_dir": str(output_dir), "disclosure_threshold": self.disclosure.threshold,
                "disclosure": self.disclosure.model_dump(), "language": self.language,
                "seed": self.seed, "options": dict(nb.options)}


def notebook_source(name: str) -> Path | None:
    """Path of ``notebooks/<name>.py`` (or ``.ipynb``) if it exists; ``name`` must be a plain name."""
    check_notebook_name(name)
    for ext in (".py", ".ipynb"):
        p = NOTEBOOK_DIR / f"{name}{ext}"
        if p.is_file() and p.resolve().parent == NOTEBOOK_DIR.resolve():
            return p
    return None


# ------------------------------------------------------------------------------------------
# error messages: full path, the section's keys
# ------------------------------------------------------------------------------------------
_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "none", "is-instance"}


def _models_in(ann) -> list[type[BaseModel]]:
    """Pydantic models inside an annotation (Optional, Union, list, dict, Annotated)."""
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out: list[type[BaseModel]] = []
    for a in typing.get_args(ann):
        out.extend(_models_in(a))
    return out


def _tag(model: type[BaseModel]) -> str | None:
    f = model.model_fields.get("type")
    if f is not None and typing.get_origin(f.annotation) is Literal:
        return typing.get_args(f.annotation)[0]
    return None


def _walk(root: type[BaseModel], loc) -> tuple[list[str], list[type[BaseModel]]]:
    """The printed path of ``loc`` (union tags dropped) and the model(s) at its end."""
    printed: list[str] = []
    cur: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            printed.append(str(part))
            continue
        owner = next((m for m in cur if part in m.model_fields), None)
        if owner is not None:
            printed.append(part)
            cur = _models_in(owner.model_fields[part].annotation)
            continue
        tagged = [m for m in cur if _tag(m) == part or m.__name__ == part]
        if tagged:
            cur = tagged
        elif cur or not (part in _TYPE_TAGS or "[" in part or part.startswith("function-")):
            printed.append(str(part))          # a dict key (e.g. events.<name>)
    return printed, cur


def _format_problem(root: type[BaseModel], prefix: list[str], e: dict, note: str = "") -> str:
    loc = tuple(e["loc"])
    printed, at = _walk(root, loc)
    path = ".".join([*prefix, *printed]) or "<top level>"
    if e["type"] == "extra_forbidden":
        _, section = _walk(root, loc[:-1])
        keys = list(section[0].model_fields) if section else []
        return f"  - {path}{note}: unknown key {loc[-1]!r}; allowed keys here: {keys}"
    msg = e["msg"].removeprefix("Value error, ")
    if at and e["type"] != "missing":          # an error about a whole section
        where, section = printed, at
    else:                                      # an error about one key of a section
        where, section = _walk(root, loc[:-1])
    keys = ""
    if section and (prefix or len(printed) > 1):
        name = ".".join([*prefix, *where]) or "the file"
        keys = f" (keys of {name}: {list(section[0].model_fields)})"
    return f"  - {path}{note}: {msg}{keys}"


def _problems(root: type[BaseModel], err: ValidationError, prefix=(), note: str = "") -> list[str]:
    return [_format_problem(root, list(prefix), e, note) for e in err.errors()]


# ------------------------------------------------------------------------------------------
# reading a parameter file
# ------------------------------------------------------------------------------------------
class _DuplicateKey(Exception):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML loader refusing a key given twice in one mapping (merge keys ``<<`` may override)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _DuplicateKey(f"key {key!r} is given twice in the same section (lines "
                                        f"{seen[key]} and {line}); give each key once")
            except TypeError:  # unhashable key: let yaml report it
                continue
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> Any:
    """Read a YAML file, refusing duplicate keys; :class:`ParamsError` names the file."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"parameter file {path} does not exist")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except _DuplicateKey as exc:
        raise ParamsError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text ({exc}); save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc


def _contract_problems(contract: Any, prefix: list[str]) -> list[str]:
    from .contracts import ContractSpec  # lazy: contracts loads scipy/matplotlib; no circle
    try:
        ContractSpec.model_validate(contract)
    except ValidationError as err:
        return _problems(ContractSpec, err, prefix)
    return []


def _design_problems(design: Any, contract: Any, prefix: list[str]) -> list[str]:
    """A design section against its model, and each candidate rule against the contract."""
    from .contracts.compare import DesignSpec  # lazy, as above
    try:
        spec = DesignSpec.model_validate(design)
    except ValidationError as err:
        return _problems(DesignSpec, err, prefix)
    if not isinstance(contract, dict):
        return [f"  - {'.'.join(prefix)}: a design needs the contract it varies (a contract "
                "section, top-level or in the notebook's options)"]
    try:
        spec.check(contract)
    except ValueError as exc:
        return [f"  - {'.'.join(prefix[:-1])}.{m.strip()}" if prefix[:-1] else f"  - {m.strip()}"
                for m in str(exc).split(";")]
    return []


def plan_problems(params: Params) -> list[str]:
    """Problems of a structurally valid plan: every notebook's options against its model (and
    column names against the panel schema), every contract (top-level and inline)."""
    probs: list[str] = []
    checked: list[dict] = []           # a contract shared by YAML anchors is reported once
    if params.contract is not None:
        probs += _contract_problems(params.contract, ["contract"])
        checked.append(params.contract)
    for i, nb in enumerate(params.notebooks):
        model = NOTEBOOK_OPTIONS.get(nb.name)
        if model is None:
            continue
        prefix = ["notebooks", str(i), "options"]
        try:
            model.model_validate(nb.options)
        except ValidationError as err:
            probs += _problems(model, err, prefix, note=f" [{nb.name}]")
        inline = nb.options.get("contract")
        if isinstance(inline, dict) and inline not in checked:
            probs += _contract_problems(inline, [*prefix, "contract"])
            checked.append(inline)
        design = nb.options.get("design")
        if isinstance(design, dict) and design not in checked and not probs:
            probs += _design_problems(design, inline or params.contract, [*prefix, "design"])
            checked.append(design)
    if params.design is not None and params.design not in checked and not probs:
        probs += _design_problems(params.design, params.contract, ["design"])
    return probs


def load_params(path: str | Path) -> Params:
    """Read and validate a parameter file; raise :class:`ParamsError` listing every problem."""
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        params = Params.model_validate(raw)
    except ValidationError as err:
        probs = _problems(Params, err)
        raise ParamsError("\n".join([f"{path}: invalid parameter file ({len(probs)} problem(s))",
                                     *probs])) from None
    probs = plan_problems(params)
    if probs:
        raise ParamsError("\n".join([f"{path}: invalid parameter file ({len(probs)} problem(s))",
                                     *probs]))
    return params


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def notebook_options(programme: str, notebook: str, options: dict | None = None) -> NotebookOptions:
    """The validated options of ``notebook`` (its options model, defaults filled in).

    ``options`` is what the render injected from the parameter file being rendered (a dict,
    possibly empty): only those are used.  ``None`` (a notebook opened in JupyterLab or run by
    nbval with its default parameters) takes the options of the repository's
    ``params/<programme>.yaml``, exactly as a render of that file passes them.
    """
    model = NOTEBOOK_OPTIONS[notebook]
    if options is None:
        options = {}
        path = ROOT / "params" / f"{programme}.yaml"
        if path.is_file():
            options = next((dict(nb.options) for nb in load_params(path).notebooks
                            if nb.name == notebook), {})
    try:
        return model.model_validate(dict(options))
    except ValidationError as err:
        probs = _problems(model, err, ["options"], note=f" [{notebook}]")
        raise ParamsError("\n".join([f"invalid options for {notebook}:", *probs])) from None


# ------------------------------------------------------------------------------------------
# the README's table of options, generated from the models
# ------------------------------------------------------------------------------------------
def _type_text(ann) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Literal:
        return _type_text(type(args[0]))
    if origin is Union:
        parts = [_type_text(a) for a in args if a is not type(None)]
        return " or ".join(parts) + (" (or empty)" if type(None) in args else "")
    if origin in (list, tuple):
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping to {_type_text(args[1])}" if args and args[1] is not Any else "mapping"
    if isinstance(ann, type):
        return {"str": "text", "int": "integer", "float": "number", "bool": "true/false"}.get(
            ann.__name__, ann.__name__)
    return str(ann)


def _literals(ann) -> list:
    if typing.get_origin(ann) is Literal:
        return list(typing.get_args(ann))
    return [x for a in typing.get_args(ann) for x in _literals(a)]


def _yaml_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml_value(x) for x in v) + "]"
    return str(v)


def _bounds(field) -> str:
    lits = _literals(field.annotation)
    if lits:
        return ", ".join(f"`{x}`" for x in lits)
    out = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return ", ".join(out)


def _default_text(field) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "see below"
    d = field.default
    if d is None:
        return "–"
    if isinstance(d, str) and len(d) > 40:
        return "see below"
    return f"`{_yaml_value(d)}`"


def options_reference() -> str:
    """Markdown tables of every notebook's options (type, default, allowed values, meaning)."""
    out = []
    for name, model in NOTEBOOK_OPTIONS.items():
        out += [f"**{name}** — {model.__doc__.split(':', 1)[-1].strip()}", "",
                "| option | type | default | allowed | meaning |", "|---|---|---|---|---|"]
        rows = [(key, model, f) for key, f in model.model_fields.items()]
        long = []
        while rows:
            key, owner, f = rows.pop(0)
            sub = _models_in(f.annotation)
            if sub:
                rows[:0] = [(f"{key}.{k}", sub[0], g) for k, g in sub[0].model_fields.items()]
                continue
            kind = _is_column_field(owner, key.rsplit(".", 1)[-1])
            allowed = {"name": "panel column(s)", "formula": "panel columns, or a formula of them",
                       None: _bounds(f)}[kind]
            out.append(f"| `{key}` | {_type_text(f.annotation)} | {_default_text(f)} | {allowed} | "
                       f"{(f.description or '').replace('|', '/')} |")
            if isinstance(f.default, str) and len(f.default) > 40:
                long.append((key, f.default))
        out += [""] + [f"Default `{k}`: `{d}`" for k, d in long] + ([""] if long else [])
    return "\n".join(out).rstrip() + "\n"


OPTIONS_BEGIN = "<!-- options:begin (generated by evaluation.params.options_reference; " \
                "python -m evaluation options --write) -->"
OPTIONS_END = "<!-- options:end -->"


def readme_with_options(text: str) -> str:
    """``text`` (the README) with the generated options section between the markers."""
    begin, end = text.find(OPTIONS_BEGIN), text.find(OPTIONS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"README has no options section: add the lines {OPTIONS_BEGIN!r} and "
                         f"{OPTIONS_END!r}")
    return text[:begin + len(OPTIONS_BEGIN)] + "\n\n" + options_reference() + "\n" + text[end:]
