"""Engines that run the relational panel build: DuckDB (default), Spark, BigQuery (untested).

``engine="duckdb"`` runs embedded and out of core: it spills to ``temp_dir`` when the build needs
more than ``memory_limit`` (e.g. ``"8GB"``; default :data:`DEFAULT_MEMORY_LIMIT`).
``engine="spark"`` uses an active Spark session when there is one, else starts one: Spark
Connect when ``SPARK_REMOTE`` (or ``spark_remote=``) is set, a cluster when ``SPARK_MASTER``
(or ``spark_master=``) is set, otherwise local mode (``local[2]``).  Java 17 is needed for local
mode.  ``engine="bigquery"`` connects through Ibis's BigQuery backend with ``project_id`` /
``dataset_id`` from ``bigquery=`` options; it cannot be reached from the development machines
and is untested (see README).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENGINES = ("duckdb", "spark", "bigquery")

#: DuckDB memory limit when none is set (params ``data.memory_limit``, ``EVALUATION_MEMORY_LIMIT``):
#: DuckDB's own default (80 % of RAM) lets one build take a shared machine; beyond this limit the
#: build spills to a temporary folder instead.
DEFAULT_MEMORY_LIMIT = "4GB"


class EngineError(RuntimeError):
    """The engine cannot run the build (misspelt name, Spark without Java, out of memory)."""


def check_engine(engine: str) -> str:
    """The engine name, checked; a misspelt one is an error listing the choices."""
    if not isinstance(engine, str) or engine.strip().lower() not in ENGINES:
        import difflib
        near = difflib.get_close_matches(str(engine).lower(), ENGINES, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise EngineError(f"unknown engine {engine!r}{hint}; use one of {list(ENGINES)}: "
                          "set `engine:` in the data section of the params file or pass --engine")
    return engine.strip().lower()


def connect(engine: str = "duckdb", *, memory_limit: str | None = None, temp_dir=None,
            threads: int | None = None, spark_master: str | None = None,
            spark_remote: str | None = None, bigquery: dict | None = None):
    """An Ibis backend for ``engine`` (see the module docstring for the options)."""
    engine = check_engine(engine)
    if engine == "duckdb":
        return _duckdb(memory_limit, temp_dir, threads)
    if engine == "spark":
        import ibis
        return ibis.pyspark.connect(spark_session(master=spark_master, remote=spark_remote))
    import ibis  # pragma: no cover - BigQuery cannot be reached from here
    return ibis.bigquery.connect(**(bigquery or {}))


def _duckdb(memory_limit, temp_dir, threads):
    import ibis
    cfg = {"preserve_insertion_order": True, "memory_limit": str(memory_limit or DEFAULT_MEMORY_LIMIT)}
    if temp_dir is not None:           # spill here (DuckDB's default is .tmp in the working folder)
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
        cfg["temp_directory"] = str(temp_dir)
    if threads is not None:
        cfg["threads"] = int(threads)
    try:
        con = ibis.duckdb.connect(**cfg)
    except Exception as exc:  # duckdb.InvalidInputException for a bad memory_limit string
        raise EngineError(f"DuckDB does not accept the settings {cfg}: {str(exc).splitlines()[0]}; "
                          "memory_limit is a size such as '4GB' or '500MB'") from None
    # no progress bar: DuckDB would print it into notebooks' outputs (and block a child whose
    # output goes to a full pipe); the build reports its own progress (stage, rows)
    try:
        con.raw_sql("SET enable_progress_bar = false")
    except Exception:   # in a Jupyter kernel without ipywidgets DuckDB refuses the setting (and
        pass            # shows no bar there anyway)
    return con


_SPARK = None


def spark_session(*, master: str | None = None, remote: str | None = None, new: bool = False):
    """The active Spark session, or a new one (local mode unless a master / remote is set)."""
    global _SPARK
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - pyspark is a declared dependency
        raise EngineError("engine 'spark' needs pyspark: pip install pyspark (or the project with "
                          "`make setup`)") from None
    if not new:
        active = SparkSession.getActiveSession()
        if active is not None:
            return active
        if _SPARK is not None:
            return _SPARK
    remote = remote or os.environ.get("SPARK_REMOTE")
    master = master or os.environ.get("SPARK_MASTER")
    builder = SparkSession.builder.appName("evaluation-panel")
    if remote:
        builder = builder.remote(remote)
    else:
        _check_java()
        builder = (builder.master(master or "local[2]")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="evaluation-spark-"))
                   .config("spark.sql.shuffle.partitions", "4")
                   .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g")))
    builder = builder.config("spark.sql.session.timeZone", "UTC")
    try:
        _SPARK = builder.getOrCreate()
    except Exception as exc:
        raise EngineError(f"the Spark session cannot start ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0][:200]}). Fix: install Java 17 and set "
                          "JAVA_HOME to it (java -version), or point SPARK_REMOTE at a Spark Connect "
                          "server, or use engine: duckdb") from None
    return _SPARK


def _check_java() -> None:
    home = os.environ.get("JAVA_HOME")
    java = Path(home) / "bin" / "java" if home else shutil.which("java")
    if java is None or not Path(java).is_file():
        where = f"JAVA_HOME={home!r} has no bin/java" if home else "no java on PATH"
        raise EngineError(f"the Spark session cannot start: {where}. Fix: install Java 17 (e.g. "
                          "apt-get install openjdk-17-jre-headless) and set JAVA_HOME to it, or point "
                          "SPARK_REMOTE at a Spark Connect server, or use engine: duckdb")


def work_dir(base=None) -> Path:
    """A fresh folder for a panel's parquet files, under ``base`` (default: ``EVALUATION_WORK``
    or the system temp folder); never inside a data folder."""
    base = base or os.environ.get("EVALUATION_WORK")
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="evaluation-panel-", dir=base))


def out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name == "OutOfMemoryException" or "Out of Memory" in str(exc) or "OutOfMemoryError" in str(exc)
