"""Parameter files: one YAML file per programme in ``params/``.

A parameter file is the pre-specified analysis plan of a report: which data, which notebooks,
which outcomes and options, which contract rules.  It is validated with pydantic models that
forbid unknown keys (papermill alone only warns about unknown parameters) and check types, so a
misspelt key stops the render with the list of allowed keys.

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
    headline: {notebook: 02_rct_analysis, key: headline}
    notebooks:
      - name: 01_panel_overview
        options: {...}
    contract: {...}                      # validated by evaluation.contracts.ContractSpec
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .disclosure import DisclosureOptions
from .schema import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"


class ParamsError(ValueError):
    """A parameter file is invalid; the message lists every problem and the allowed keys."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSpec(_Strict):
    source: Literal["synthetic", "extracts"] = "synthetic"
    scenario: Optional[str] = None
    n_persons: Optional[int] = Field(default=None, gt=0)
    seed: int = 1
    effect_scale: float = 1.0
    folder: Optional[str] = None

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


# -- options each notebook understands (keys and types; defaults live in the notebook) ---------
class OverviewOptions(_Strict):
    group: Optional[str] = None
    outcomes: Optional[list[str]] = None


class RCTOptions(_Strict):
    headline_outcome: Optional[str] = None
    headline_month: Optional[int] = Field(default=None, ge=0)
    outcomes: Optional[list[str]] = None
    covariates: Optional[list[str]] = None
    subgroups: Optional[list[str]] = None
    months: Optional[int] = Field(default=None, gt=0)
    ri_draws: Optional[int] = Field(default=None, ge=0)
    price: Optional[float] = Field(default=None, ge=0)
    arms: Optional[list[str]] = None
    control: Optional[str] = None
    method: Optional[Literal["lin", "ancova"]] = None
    strata: Optional[str] = None
    design_shares: Optional[dict[str, float]] = None
    target_effect: Optional[float] = None


class DiDOptions(_Strict):
    outcome: Optional[str] = None
    control_group: Optional[Literal["never", "notyet"]] = None
    method: Optional[Literal["dr", "ipw", "reg"]] = None
    covariates: Optional[list[str]] = None
    cluster: Optional[str] = None
    min_e: Optional[int] = None
    max_e: Optional[int] = None
    bootstrap_draws: Optional[int] = Field(default=None, ge=0)
    anticipation: Optional[int] = Field(default=None, ge=0)
    base_period: Optional[Literal["varying", "universal"]] = None
    group: Optional[str] = None
    time: Optional[str] = None
    district: Optional[str] = None


class MatchingOptions(_Strict):
    headline_outcome: Optional[str] = None
    headline_horizon: Optional[int] = Field(default=None, gt=0)
    horizons: Optional[list[int]] = None
    covariates: Optional[Union[str, list[str]]] = None
    exact: Optional[list[str]] = None
    caliper: Optional[float] = Field(default=None, gt=0)
    ratio: Optional[int] = Field(default=None, ge=1)
    min_participants: Optional[int] = Field(default=None, ge=1)
    treatment: Optional[str] = None
    secondary_outcomes: Optional[list[str]] = None
    aggregate: Optional[str] = None


class ContractMatching(_Strict):
    covariates: Optional[Union[str, list[str]]] = None
    exact: Optional[list[str]] = None
    caliper: Optional[float] = Field(default=None, gt=0)
    ratio: Optional[int] = Field(default=None, ge=1)


class ContractOptions(_Strict):
    contract: dict[str, Any]
    counterfactual: Optional[Literal["rct_control", "matched", "did", "historical"]] = None
    uncertainty: Optional[Literal["bootstrap", "normal", "none"]] = None
    n_draws: Optional[int] = Field(default=None, gt=0)
    matching: Optional[ContractMatching] = None
    #: ``{from_results: "<notebook>.<key>", scale: s}`` (an estimate a previous notebook recorded
    #: in results.json), or numbers / such references keyed by quantity, panel column or event.
    effect: Optional[dict[str, Union[float, str, dict[str, Union[float, str]]]]] = None
    baseline: Optional[float] = None

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


class TrialDesignOptions(ContractOptions):
    margin: Optional[float] = None
    share_treated: Optional[float] = Field(default=None, gt=0, lt=1)
    comparison_ratio: Optional[float] = Field(default=None, gt=0)
    true_effects: Optional[list[float]] = None
    sizes: Optional[list[int]] = None


#: Options model per notebook: unknown or misspelt option keys are refused like any other key.
NOTEBOOK_OPTIONS: dict[str, type[BaseModel]] = {
    "01_panel_overview": OverviewOptions, "02_rct_analysis": RCTOptions,
    "03_did_rollout": DiDOptions, "04_matched_comparison": MatchingOptions,
    "05_outcome_contract": ContractOptions, "06_trial_design": TrialDesignOptions,
}


class NotebookSpec(_Strict):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _exists(cls, v):
        if not notebook_source(v):
            avail = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
            raise ValueError(f"notebook {v!r} not found in notebooks/; available: {avail}")
        return v

    @model_validator(mode="after")
    def _options_known(self):
        model = NOTEBOOK_OPTIONS.get(self.name)
        if model is None:
            return self
        try:
            model.model_validate(self.options)
        except ValidationError as err:
            probs = []
            for e in err.errors():
                loc = ".".join(str(x) for x in e["loc"])
                if e["type"] == "extra_forbidden":
                    probs.append(f"unknown option {loc!r} for {self.name}; allowed keys here: "
                                 f"{list(model.model_fields)}")
                else:
                    probs.append(f"option {loc!r} for {self.name}: {e['msg']}")
            raise ValueError("; ".join(probs)) from None
        return self


class HeadlineSpec(_Strict):
    notebook: str
    key: str


class Params(_Strict):
    programme: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    description: str = ""
    data: DataSpec
    disclosure_threshold: Optional[int] = Field(default=None, ge=3)  # = disclosure.threshold
    disclosure: DisclosureOptions = Field(default_factory=DisclosureOptions)
    seed: int = 20261123
    headline: Optional[HeadlineSpec] = None
    notebooks: list[NotebookSpec] = Field(min_length=1)
    contract: Optional[dict[str, Any]] = None

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

    @model_validator(mode="after")
    def _contract_valid(self):
        if self.contract is not None:
            try:
                from .contracts import ContractSpec  # noqa: WPS433
            except ImportError:  # contracts module not available
                return self
            ContractSpec.model_validate(self.contract)
        return self

    # -- derived -------------------------------------------------------------------------
    @property
    def data_folder(self) -> Path:
        folder = self.data.folder or f"data/synthetic/{self.programme}"
        p = Path(folder)
        return p if p.is_absolute() else ROOT / p

    def notebook_parameters(self, nb: NotebookSpec, output_dir: Path) -> dict[str, Any]:
        """The plain values papermill injects into a notebook's ``parameters`` cell."""
        return {"programme": self.programme, "data_dir": str(self.data_folder),
                "output_dir": str(output_dir), "disclosure_threshold": self.disclosure.threshold,
                "disclosure": self.disclosure.model_dump(),
                "seed": self.seed, "options": nb.options}


def notebook_source(name: str) -> Path | None:
    """Path of the jupytext source ``notebooks/<name>.py`` (or ``.ipynb``) if it exists."""
    for ext in (".py", ".ipynb"):
        p = NOTEBOOK_DIR / f"{name}{ext}"
        if p.exists():
            return p
    return None


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _format_errors(path: str, err: ValidationError) -> str:
    lines = [f"{path}: invalid parameter file ({err.error_count()} problem(s))"]
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "<top level>"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            parent = _model_at(e["loc"][:-1])
            allowed = _allowed_keys(parent) if parent else []
            msg = f"unknown key {e['loc'][-1]!r}; allowed keys here: {allowed}"
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def _model_at(loc) -> type[BaseModel] | None:
    model: Any = Params
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return None
        ann = field.annotation
        for cand in (DataSpec, NotebookSpec, HeadlineSpec, DisclosureOptions):
            if ann is cand or cand in getattr(ann, "__args__", ()) or (
                    getattr(ann, "__origin__", None) is list and cand in ann.__args__):
                model = cand
                break
        else:
            return None
    return model


def load_params(path: str | Path) -> Params:
    """Read and validate a parameter file; raise :class:`ParamsError` listing every problem."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"parameter file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_errors(str(path), err)) from None


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def notebook_options(programme: str, notebook: str, options: dict | None = None) -> dict:
    """Options for ``notebook``: ``options`` if given, else those in ``params/<programme>.yaml``.

    Lets a researcher open a notebook in JupyterLab (or a reviewer run it with nbval) with its
    default parameters and get the programme's pre-specified options, exactly as the render
    passes them.
    """
    if options:
        return dict(options)
    path = ROOT / "params" / f"{programme}.yaml"
    if not path.exists():
        return {}
    for nb in load_params(path).notebooks:
        if nb.name == notebook:
            return dict(nb.options)
    return {}
