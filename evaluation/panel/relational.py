"""The panel build as one relational definition (Ibis), run by DuckDB, Spark or BigQuery.

Every step is an Ibis expression over the extracts registered in the engine; nothing here is
engine specific.  Months are integer indices (months since 1970-01: ``mi``), so no date
arithmetic differs between engines; dates are made only for the columns written out.

Steps, in the order :func:`evaluation.panel.build.build_panel` runs them:

* :func:`register` -- the validated extracts as narrow engine tables (``m`` month indices);
* :func:`population` -- who enters the panel, with the persons stage of the sample flow;
* :func:`person_table` -- one row per panel person: assignment, covariates, cohort, age,
  baseline histories (:func:`baselines`), and ``pk``, the person's rank by ``person_id``
  (an integer key, so the person-month steps join and sort on integers);
* :func:`keyed` -- the inputs of the person-months keyed by ``pk`` (records in the months that
  matter, spells clipped to the panel months), optionally cut into buckets of persons;
* :func:`panel_rows` -- one row per person and covered month with the monthly outcomes
  (:func:`evaluation.panel.outcomes.monthly_outcomes`), keyed and sorted by
  ``k = pk * n_months + (month - window start)``; run once, or once per bucket of persons
  (:func:`evaluation.panel.build._person_months`);
* :func:`record_flow`, :func:`person_month_flow` -- the counts of the other flow stages.

Definitions of every column are in the :mod:`evaluation.panel` docstring.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import ibis
import numpy as np
import pandas as pd

from ._constants import CONTROL_ARMS, MONTHLY_KEYS
from ._convert import _midx, _NAT
from .outcomes import monthly_outcomes

#: Monthly extracts and their value columns (besides person_id and m) as registered.
_MONTHLY_VALUES = {"employment": ("ps", "earn"), "social_assistance": ("amt",),
                   "benefits": ("benefit",), "education": (), "reoffending": ("ev",)}


# ------------------------------------------------------------------------------------ register --
def _months(s: pd.Series) -> pd.array:
    """Month index as nullable Int64 (missing dates stay missing)."""
    m = _midx(s)
    return pd.arrays.IntegerArray(np.where(m == _NAT, 0, m), m == _NAT)


def _str(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), None)


def _col(df: pd.DataFrame, c: str, fill=None) -> pd.Series:
    return df[c] if c in df.columns else pd.Series([fill] * len(df), index=df.index, dtype=object)


def _bool(s: pd.Series) -> pd.Series:
    return s.astype("boolean") if len(s) else pd.Series([], dtype="boolean")


def narrow_frames(ex: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The validated extracts as the narrow frames the relational build reads (vectorised)."""
    out = {}
    p = ex["persons"]
    out["persons"] = pd.DataFrame({
        "person_id": _str(p["person_id"]), "birth_year": p["birth_year"].astype("int64"),
        "sex": _str(p["sex"]), "immigrant": _bool(_col(p, "immigrant")),
        "country_group": _str(_col(p, "country_group")),
        "years_in_norway": pd.to_numeric(_col(p, "years_in_norway"), errors="coerce").astype("float64"),
        "education_level": _str(_col(p, "education_level")),
        "norwegian_level": _str(_col(p, "norwegian_level")), "p_office": _str(_col(p, "office"))})
    a = ex["assignment"]
    out["assignment"] = pd.DataFrame({
        "person_id": _str(a["person_id"]), "arm": _str(a["arm"]), "am": _months(a["assigned_month"]),
        "provider": _str(_col(a, "provider")), "a_office": _str(_col(a, "office")),
        "participated": _bool(_col(a, "participated")),
        "mapm": _months(a["mapping_month"]) if "mapping_month" in a else pd.array([pd.NA] * len(a), "Int64"),
        "stratum": _str(_col(a, "stratum"))})
    c = ex["coverage"]
    out["coverage"] = pd.DataFrame({"person_id": _str(c["person_id"]),
                                    "cf": _midx(c["first_month"]), "cl": _midx(c["last_month"])})
    src = {"employment": {"ps": "position_share", "earn": "earnings"},
           "social_assistance": {"amt": "amount"}, "benefits": {"benefit": "benefit"},
           "education": {}, "reoffending": {"ev": "events"}}
    for name, cols in src.items():
        if name not in ex:
            continue
        d = ex[name]
        f = pd.DataFrame({"person_id": _str(d["person_id"]), "m": _midx(d["month"])})
        for new, old in cols.items():
            f[new] = _str(d[old]) if new == "benefit" else \
                d[old].to_numpy(dtype=float, na_value=0.0)
        out[name] = f
    if "jobseeker_spells" in ex:
        s = ex["jobseeker_spells"]
        out["jobseeker_spells"] = pd.DataFrame({
            "person_id": _str(s["person_id"]), "st": _midx(s["spell_start"]), "en": _months(s["spell_end"]),
            "has_measure": s["measure"].notna().to_numpy() if "measure" in s else np.ones(len(s), bool)})
    return out


_TYPES = {"person_id": "string", "sex": "string", "country_group": "string", "education_level": "string",
          "norwegian_level": "string", "p_office": "string", "arm": "string", "provider": "string",
          "a_office": "string", "stratum": "string", "benefit": "string", "birth_year": "int64",
          "am": "int64", "mapm": "int64", "cf": "int64", "cl": "int64", "m": "int64", "st": "int64",
          "en": "int64", "years_in_norway": "float64", "ps": "float64", "earn": "float64",
          "amt": "float64", "ev": "float64", "immigrant": "bool", "participated": "bool",
          "has_measure": "bool", "mi": "int64"}


def _arrow(df: pd.DataFrame):
    import pyarrow as pa
    schema = pa.schema([(c, getattr(pa, {"string": "string", "int64": "int64", "float64": "float64",
                                         "bool": "bool_"}[_TYPES[c]])()) for c in df.columns])
    return pa.Table.from_pandas(df, schema=schema, preserve_index=False)


def register(con, frames: Mapping[str, pd.DataFrame]) -> dict[str, ibis.Table]:
    """Register the narrow frames as engine tables ``_ev_<extract>`` (a zero-copy DuckDB view
    over Arrow; a checkpointed Spark temporary view, :func:`_spark_view`), typed by :data:`_TYPES` (so empty extracts keep
    their types)."""
    out = {}
    for name, df in frames.items():
        tab, view = _arrow(df), f"_ev{name}" if name.startswith("_") else f"_ev_{name}"
        if _is_duckdb(con):
            con.con.register(view, tab)
        else:
            _spark_view(con, con._session.createDataFrame(tab), view)
        out[name] = con.table(view)
    return out


def _spark_view(con, sdf, view: str, *, checkpoint: bool = True) -> None:
    """Register ``sdf`` as the Spark temporary view ``view``, materialised with its lineage cut
    (``localCheckpoint``): the view is then a leaf of every later query's plan.

    A view over a query keeps the query's whole logical plan, and a DataFrame made from Arrow
    keeps its rows in the plan (a local relation); each reference inlines them again.  The
    build refers to its intermediate tables many times, so without the cut Spark spent most of
    its time analysing plans (the flow counts of 20k persons: 91 s of analysis for 26 s of work,
    a 6 MB physical plan).  Caching does not help: it changes execution, not analysis.
    """
    session = con._session
    if session.catalog.tableExists(view):
        session.catalog.dropTempView(view)
    if checkpoint:
        try:
            sdf = sdf.localCheckpoint(eager=True)
        except Exception:   # pragma: no cover - a Spark Connect server without checkpoints
            sdf = sdf.cache()
    sdf.createOrReplaceTempView(view)


def _is_duckdb(con) -> bool:
    return getattr(con, "name", "") == "duckdb"


# ---------------------------------------------------------------------------------- population --
def population(t: Mapping[str, ibis.Table], ws: int, we: int):
    """Persons in any extract, flagged by the exclusion step that removes them.

    Returns the flagged id table (``step`` 1..4 = excluded at that step, 5 = kept; ``cov_in``
    = coverage months inside the window) and the aggregate expression of the persons stage.
    """
    cov = t["coverage"]
    cov_in = cov.select("person_id", cov_in=ibis.greatest(
        0, ibis.least(cov.cl, we) - ibis.greatest(cov.cf, ws) + 1)).distinct(on="person_id", keep="first")
    flags = t["_ids"] if "_ids" in t else presence(t)
    flags = flags.left_join(cov_in, "person_id").drop("person_id_right")
    cin = flags.cov_in.fill_null(0)
    a, p, c = flags.has_a.fill_null(False), flags.has_p.fill_null(False), flags.has_c.fill_null(False)
    step = ibis.cases((~a, 1), (~p, 2), (~c, 3), (cin <= 0, 4), else_=5)
    flags = flags.select("person_id", step=step, cov_in=cin)
    return flags, population_counts(flags)


def presence(t: Mapping[str, ibis.Table]) -> ibis.Table:
    """Every person id in any extract, flagged ``has_a`` / ``has_p`` / ``has_c`` when present
    in assignment / persons / coverage.  Validation computes the same table for its linkage
    checks; the build then takes that one (``t["_ids"]``, :func:`.narrow.narrow_tables`) instead
    of reading every record's id again (at 10M persons and 300M records: 54 s)."""
    ids = ibis.union(*[tab.select("person_id").filter(tab.person_id.notnull())
                       for name, tab in t.items() if not name.startswith("_")], distinct=False)
    flags = ids.distinct()
    for name, flag in (("assignment", "has_a"), ("persons", "has_p"), ("coverage", "has_c")):
        have = t[name].select("person_id").distinct().mutate(**{flag: ibis.literal(True)})
        flags = flags.left_join(have, "person_id").drop("person_id_right")
    return flags


def population_counts(flags: ibis.Table) -> ibis.Table:
    """The persons stage of the sample flow from the flagged ids of :func:`population`."""
    return flags.aggregate(
        total=flags.count(), total_pm=flags.cov_in.sum(),
        **{f"n{k}": (flags.step == k).sum() for k in range(1, 6)},
        **{f"pm{k}": flags.cov_in.sum(where=flags.step == k) for k in range(1, 4)})


# -------------------------------------------------------------------------------- person table --
def _date(mi):
    """First day of month index ``mi`` (months since 1970-01) as a date."""
    return ibis.date(1970 + mi // 12, mi % 12 + 1, 1)


#: Leading characters of ``person_id`` that cut the persons into groups ranked in parallel
#: (:func:`person_key`).
KEY_PREFIX = 3


def person_key(ids: ibis.Table) -> ibis.Table:
    """``ids`` (one row per ``person_id``) with ``pk``, the person's rank by ``person_id``
    (0-based), computed group by group.

    A plain ``row_number() over (order by person_id)`` has no partition: Spark runs it as one
    task on one executor, whatever the cluster (10M persons, one task).  Here the persons are
    grouped by the first :data:`KEY_PREFIX` characters of ``person_id``; a group's persons are
    ranked within the group (in parallel) and offset by the number of persons in the groups
    before it (summed over a join of the few groups with the groups before them).  Prefixes order as the ids do (if
    ``prefix(a) < prefix(b)`` then ``a < b``), so ``pk`` is the same rank as the global one.

    The offsets pass through ``float64`` (exact below 2**53) so that ``pk`` is a 64-bit integer
    on every engine: DuckDB sums BIGINT as HUGEINT, and Ibis, which types the sum as int64,
    leaves out a cast to int64; a HUGEINT ``pk`` was written to parquet as DOUBLE, and every
    person-month key, join and group-by after it was on doubles.
    """
    ids = ids.mutate(_g=ids.person_id.substr(0, KEY_PREFIX))
    groups = ids.group_by("_g").aggregate(_n=ids.count())
    # offsets by a join of the few groups (a running sum would be a window without partition);
    # through float64 so that the cast to int64 is kept (see above)
    before = groups.select(_h="_g", _m="_n")
    j = groups.left_join(before, groups._g > before._h)
    groups = j.group_by("_g").aggregate(_off=j._m.sum().fill_null(0).cast("float64"))
    j = ids.join(groups, "_g").mutate(_r=ibis.row_number().over(group_by="_g", order_by="person_id"))
    return j.select("person_id", pk=(j._off + j._r).cast("int64"))


def person_table(t, kept: ibis.Table, ws: int, we: int, ks: Sequence[int], data_start: int):
    """One row per panel person (see the module docstring of :mod:`evaluation.panel`):
    assignment, covariates, coverage, cohort, age (the baseline histories are added by
    :func:`evaluation.panel.outcomes.baselines` on the materialised result)."""
    P = (person_key(kept.select("person_id"))
         .left_join(t["assignment"], "person_id").drop("person_id_right")
         .left_join(t["persons"], "person_id").drop("person_id_right")
         .left_join(t["coverage"], "person_id").drop("person_id_right"))
    treated = P.arm.notin(list(CONTROL_ARMS))
    ref = P.am.fill_null(ws)
    coh_na = treated & (P.am.isnull() | (P.am < ws))
    first, last = ibis.greatest(P.cf, ws), ibis.least(P.cl, we)
    age = (ref // 12 + 1970 - P.birth_year)
    P = P.mutate(treated=treated, ref=ref, coh_na=coh_na, first=first, last=last,
                 cohort=ibis.cases((coh_na, ibis.null("int64")), (treated, P.am - ws + 1), else_=0),
                 age=age, office=P.a_office.fill_null(P.p_office))
    P = P.mutate(n=P.last - P.first + 1, female=P.sex == "F", under_30=P.age < 30,
                 **{f"baseline_observed_{k}": ibis.least(ibis.greatest(P.ref - data_start, 0), k)
                    for k in ks})
    return P


# ------------------------------------------------------------------------------- person-months --
def keyed(t, P: ibis.Table, ks: Sequence[int], per_bucket: int | None = None) -> dict[str, ibis.Table]:
    """The inputs of the person-months, keyed by the integer person key ``pk`` (the person's
    rank by ``person_id``) and cut into buckets ``b = pk // per_bucket`` of persons.

    ``P``: one row per panel person with ``pk``, ``am``, ``first``, ``last`` and the person
    columns of the panel; each monthly extract: the records of panel persons in their panel
    months (employment also the 5 months before, for ``job_kept_6m``; ``inp`` = in the panel
    months); job-seeker spells with a measure, clipped to the panel months (``s0`` .. ``e0``).
    Without ``per_bucket`` there is no ``b`` (one bucket).
    """
    def bucket(pk):
        return {} if per_bucket is None else {"b": pk // per_bucket}
    out = {"P": P.select("person_id", "pk", "am", "first", "last", **bucket(P.pk))}
    ids = P.select("person_id", "pk", "first", "last")
    for name, cols in _MONTHLY_VALUES.items():
        if name not in t:
            continue
        r = t[name].join(ids, "person_id")
        back = 5 if name == "employment" else 0
        r = r.filter(r.m >= r["first"] - back, r.m <= r["last"])
        extra = {"inp": r.m >= r["first"]} if back else {}
        out[name] = r.select("pk", "m", *cols, **extra, **bucket(r.pk))
    if "jobseeker_spells" in t:
        s = t["jobseeker_spells"]
        s = s.filter(s.has_measure).join(ids, "person_id")
        s = s.select("pk", s0=ibis.greatest(s.st, s["first"]), e0=ibis.least(s.en.fill_null(s["last"]), s["last"]))
        out["jobseeker_spells"] = s.filter(s.s0 <= s.e0).mutate(**bucket(s.pk))
    return out


def panel_rows(b: Mapping[str, ibis.Table], ws: int, we: int, outs, min_share) -> ibis.Table:
    """The person-month rows of the persons in ``b`` (the tables of :func:`keyed`, or one
    bucket of them), sorted by person and month: ``person_id``, time columns and outcomes (the
    person columns of the panel layout are in the person table; :mod:`.store` joins them)."""
    from ._constants import OUTCOMES
    pm = monthly_outcomes(b, ws, we - ws + 1, min_share)
    pm = pm.mutate(month=_date(pm.mi), period=pm.mi - ws + 1, event_time=pm.mi - pm.am)
    return pm.order_by("k").select("person_id", "month", "period", "event_time",
                                   *[o for o in OUTCOMES if o in outs])


#: Person columns of the panel layout shown even without ``include_person_columns``.
KEEP_ALWAYS = ("arm", "treated", "participated", "provider", "office", "stratum", "assigned_month",
               "cohort")


def panel_columns(ks: Sequence[int], outs, include_person_columns: bool) -> tuple[list, list]:
    """The panel's columns in :data:`schema.PANEL` order, and those of them that are person
    columns (kept in the person table; :mod:`.store` joins them when frames are read)."""
    from ._constants import OUTCOMES
    pc = [c for c in _person_column_names(ks) if include_person_columns or c in KEEP_ALWAYS]
    return ["person_id", "month", "period", "event_time", *pc, *[o for o in OUTCOMES if o in outs]], pc


# ---------------------------------------------------------------------------------------- flow --
def record_flow(t, P: ibis.Table, ws: int, we: int) -> ibis.Table:
    """Records not used for monthly outcomes, per extract and reason: one row per extract with
    distinct persons (``*_p``) and records (``*_n``) for each reason.

    Each record gets its reason (1 person not in the panel, 2 before the window, 3 after it,
    4 in the window outside the person's coverage, 0 used); the records not used are counted
    per (person, reason) and those counts summed per reason, so no distinct count is needed
    (the used records, most of them, are not grouped: at 1M persons the flow counts took 2.4
    CPU s instead of 3.8).
    """
    parts = []
    for name in [*MONTHLY_KEYS, "jobseeker_spells"]:
        if name not in t:
            continue
        r = t[name].left_join(P.select("person_id", "first", "last", inp=ibis.literal(True)), "person_id")
        inp = r.inp.fill_null(False)
        if name == "jobseeker_spells":
            why = ibis.cases((~inp, 1), else_=0)
        else:
            why = ibis.cases((~inp, 1), (r.m < ws, 2), (r.m > we, 3),
                             ((r.m < r["first"]) | (r.m > r["last"]), 4), else_=0)
        r = r.select("person_id", why=why)
        r = r.filter(r.why != 0)     # used records are not counted: group only the others
        g = r.group_by("person_id", "why").aggregate(n=r.count())
        aggs = {}
        for i, k in enumerate(("notin", "before", "after", "outcov"), start=1):
            aggs[f"{k}_p"] = ((g.why == i) & g.person_id.notnull()).sum().cast("int64")
            aggs[f"{k}_n"] = g.n.sum(where=g.why == i).cast("int64")
        parts.append(g.aggregate(**aggs).mutate(extract=ibis.literal(name)))
    return ibis.union(*parts, distinct=False)


def person_month_flow(P: ibis.Table, ws: int, we: int) -> ibis.Table:
    """Late entry, attrition, coverage outside the window and missing cohorts among panel persons."""
    late = ibis.greatest(ibis.least(P.cf, we + 1) - ws, 0)
    attr = ibis.greatest(we - ibis.greatest(P.cl, ws - 1), 0)
    outside = ibis.greatest(ws - P.cf, 0) + ibis.greatest(P.cl - we, 0)
    return P.aggregate(
        K=P.count(), total=P.n.sum(), late_p=(late > 0).sum(), late_n=late.sum(),
        attr_p=(attr > 0).sum(), attr_n=attr.sum(), out_p=(outside > 0).sum(), out_n=outside.sum(),
        coh_p=P.coh_na.sum(), coh_n=P.n.sum(where=P.coh_na))


def data_start(t) -> ibis.Table:
    """First month present in the monthly registers (an expression), or None without records."""
    mins = [t[n].select(m=t[n].m) for n in MONTHLY_KEYS if n in t]
    u = ibis.union(*mins, distinct=False)
    return u.aggregate(start=u.m.min())


# ------------------------------------------------------------------------------------- outputs --
def _person_column_names(ks: Sequence[int]) -> list[str]:
    """Names of :func:`_person_columns`, in order."""
    return ["arm", "treated", "participated", "provider", "office", "stratum", "assigned_month",
            "cohort", "birth_year", "age", "sex", "female", "immigrant", "country_group",
            "years_in_norway", "education_level", "norwegian_level", "under_30",
            *[f"sa_months_{k}" for k in ks], *[f"emp_months_{k}" for k in ks],
            f"earnings_{ks[0]}", f"sa_amount_{ks[0]}"]


def _person_columns(P: ibis.Table, ks: Sequence[int]) -> dict:
    """Person-level panel columns, in :data:`schema.PANEL` order."""
    k0 = ks[0]
    cols = {"arm": P.arm, "treated": P.treated, "participated": P.participated,
            "provider": P.provider, "office": P.office, "stratum": P.stratum,
            "assigned_month": ibis.cases((P.am.isnull(), ibis.null("date")), else_=_date(P.am)),
            "cohort": P.cohort, "birth_year": P.birth_year, "age": P.age, "sex": P.sex,
            "female": P.female, "immigrant": P.immigrant, "country_group": P.country_group,
            "years_in_norway": P.years_in_norway, "education_level": P.education_level,
            "norwegian_level": P.norwegian_level, "under_30": P.under_30}
    cols.update({f"sa_months_{k}": P[f"sa_months_{k}"] for k in ks})
    cols.update({f"emp_months_{k}": P[f"emp_months_{k}"] for k in ks})
    cols[f"earnings_{k0}"] = P[f"earnings_{k0}"]
    cols[f"sa_amount_{k0}"] = P[f"sa_amount_{k0}"]
    return cols


def persons_out(P: ibis.Table, ks: Sequence[int]) -> ibis.Table:
    """The person table written to ``persons.parquet``, sorted by ``person_id`` (its rank
    ``pk``: an integer sort)."""
    cols = _person_columns(P, ks)
    cols.update(mapping_month=ibis.cases((P.mapm.isnull(), ibis.null("date")), else_=_date(P.mapm)),
                first_month=_date(P["first"]), last_month=_date(P["last"]), n_months=P.n)
    cols.update({f"baseline_observed_{k}": P[f"baseline_observed_{k}"] for k in ks})
    return P.order_by("pk").select(person_id=P.person_id, **cols)
