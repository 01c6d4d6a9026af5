"""Stage 1c: the validated extracts as the narrow engine tables the relational build reads.

One Ibis definition turns each validated extract (:mod:`.validate`: schema columns, schema
types, ``_row``) into the build's narrow table: person ids as text, months as integer indices
(months since 1970-01, :func:`evaluation.panel.validate.month_index`), values with the missing
ones filled as the build expects.  The columns and types are :data:`.relational._TYPES`.
On DuckDB the narrow tables are views in the connection that validated the extracts (nothing
is copied; parquet extracts stay on disk); on Spark they are handed over as Arrow tables.
"""
from __future__ import annotations

from typing import Mapping

import ibis

from .validate import month_index

#: Monthly extracts: schema column -> (narrow column, fill for missing values).
_VALUES = {"employment": {"position_share": ("ps", 0.0), "earnings": ("earn", 0.0)},
           "social_assistance": {"amount": ("amt", 0.0)}, "benefits": {"benefit": ("benefit", None)},
           "education": {}, "reoffending": {"events": ("ev", 0.0)}}


def _col(t: ibis.Table, usable, c: str, typ: str):
    return t[c].cast(typ) if c in usable else ibis.null(typ)


def _persons(t, u):
    return t.select(person_id=t.person_id, birth_year=t.birth_year.cast("int64"), sex=_col(t, u, "sex", "string"),
                    immigrant=_col(t, u, "immigrant", "boolean"),
                    country_group=_col(t, u, "country_group", "string"),
                    years_in_norway=_col(t, u, "years_in_norway", "float64"),
                    education_level=_col(t, u, "education_level", "string"),
                    norwegian_level=_col(t, u, "norwegian_level", "string"),
                    p_office=_col(t, u, "office", "string"))


def _assignment(t, u):
    def months(c):
        return month_index(t[c]) if c in u else ibis.null("int64")
    return t.select(person_id=t.person_id, arm=t.arm, am=months("assigned_month"),
                    provider=_col(t, u, "provider", "string"), a_office=_col(t, u, "office", "string"),
                    participated=_col(t, u, "participated", "boolean"), mapm=months("mapping_month"),
                    stratum=_col(t, u, "stratum", "string"))


def _monthly(name, t, u):
    cols = {"person_id": t.person_id, "m": month_index(t.month)}
    for c, (new, fill) in _VALUES[name].items():
        v = t[c] if c in u else ibis.null("string" if fill is None else "float64")
        cols[new] = v if fill is None else v.cast("float64").fill_null(fill)
    return t.select(**cols)


def _spells(t, u):
    meas = t.measure.notnull() if "measure" in u else ibis.literal(True)
    return t.select(person_id=t.person_id, st=month_index(t.spell_start), en=month_index(t.spell_end),
                    has_measure=meas)


def narrow_tables(tables: Mapping[str, ibis.Table], usable: Mapping[str, set]) -> dict[str, ibis.Table]:
    """The build's narrow table of every validated extract (Ibis expressions)."""
    out = {}
    for name, t in tables.items():
        u = usable[name]
        if name == "persons":
            out[name] = _persons(t, u)
        elif name == "assignment":
            out[name] = _assignment(t, u)
        elif name == "coverage":
            out[name] = t.select(person_id=t.person_id, cf=month_index(t.first_month),
                                 cl=month_index(t.last_month))
        elif name == "jobseeker_spells":
            out[name] = _spells(t, u)
        elif name in _VALUES:
            out[name] = _monthly(name, t, u)
    return out


def presence_table(report) -> ibis.Table | None:
    """Validation's table of person ids (one row per id in any extract, with the bit mask of
    the extracts it is in) as the build's presence flags (:func:`.relational.presence`), or
    None when validation did not keep it."""
    ids, bits = getattr(report, "ids", None), getattr(report, "id_bits", None)
    if ids is None or not bits or not {"assignment", "persons", "coverage"} <= set(bits):
        return None
    return ids.select("person_id", **{flag: (ids._m & bits[name]) != 0 for name, flag in (
        ("assignment", "has_a"), ("persons", "has_p"), ("coverage", "has_c"))})


def register_narrow(con, report, folder=None) -> dict[str, ibis.Table]:
    """The narrow tables as engine tables ``_ev_<extract>`` in ``con`` (the build's engine).

    Spark gets them from the validating DuckDB connection: in local mode as parquet files
    DuckDB writes to ``folder`` (a work folder) and Spark reads; with a cluster, whose
    executors cannot see a local folder, as Arrow tables sent through the driver (and then
    checkpointed, :func:`.relational._spark_view`).  A parquet scan is a leaf of every plan, so
    it needs no checkpoint.  REFINO at 100k persons (7.6M records), same machine and load: the
    Spark build took 156 s with Arrow (48 s from the narrow tables to the population) and
    108 s with parquet (19.5 s); the panels are identical.
    """
    narrow = narrow_tables(report.extracts, report.usable)
    ids = presence_table(report)
    if ids is not None:
        narrow["_ids"] = ids
    out = {}
    duck = getattr(con, "name", "") == "duckdb"
    for name, expr in narrow.items():
        view = f"_ev_{name}"
        if duck and con is report.con:
            con.raw_sql(f'CREATE OR REPLACE TEMP VIEW "{view}" AS {con.compile(expr)}')
        elif duck:
            con.con.register(view, report.con.to_pyarrow(expr))
        else:
            from .relational import _spark_view
            sdf, leaf = _to_spark(con, report.con, expr, folder, name)
            _spark_view(con, sdf, view, checkpoint=not leaf)
        out[name] = con.table(view)
    return out


def _to_spark(con, duck, expr, folder, name):
    """A Spark DataFrame of the DuckDB expression ``expr`` (see :func:`register_narrow`), and
    whether it is a plain parquet scan (a leaf of the plans: no checkpoint needed)."""
    session = con._session
    try:
        local = session.sparkContext.master.startswith("local")
    except Exception:   # pragma: no cover - Spark Connect has no SparkContext: a remote server
        local = False
    if folder is None or not local:
        return session.createDataFrame(duck.to_pyarrow(expr)), False
    from pathlib import Path
    path = Path(folder) / "narrow" / f"ev_{name}.parquet"   # Spark skips files named _*
    path.parent.mkdir(parents=True, exist_ok=True)
    quoted = "'" + str(path).replace("'", "''") + "'"
    duck.raw_sql(f"COPY ({duck.compile(expr)}) TO {quoted} (FORMAT parquet)")
    return session.read.parquet(str(path)), True
