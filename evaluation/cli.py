"""Command line: ``python -m evaluation {render,check,index,scan,notebooks,generate,options,init,validate,dictionary}``."""
from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation",
                                description="Render and check programme evaluation reports.")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("render", help="render parameter files (or folders of them) into reports/")
    r.add_argument("params", nargs="+", help="params/<programme>.yaml files or folders")
    r.add_argument("-j", "--jobs", type=int, default=1, help="parameter files rendered in parallel")
    r.add_argument("-o", "--out", default=None, help="output folder (default reports/)")
    r.add_argument("--show-code", action="store_true", help="show code cells in the HTML")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--engine", default=None,
                   help="engine of the panel build: duckdb (default) or spark (overrides data.engine)")

    c = sub.add_parser("check", help="re-run a report and compare with its results.json")
    c.add_argument("report", help="reports/<programme> folder")
    c.add_argument("--params", default=None, help="parameter file (default: the one recorded)")
    c.add_argument("--rtol", type=float, default=1e-6)
    c.add_argument("--strict", action="store_true",
                   help="also fail when the git commit or package version differs from the report's")

    i = sub.add_parser("index", help="rebuild reports/index.html from every results.json")
    i.add_argument("-o", "--out", default=None)

    s = sub.add_parser("scan", help="scan rendered reports for person ids, small counts and "
                                    "recoverable cells (every file; exits non-zero if it cannot check)")
    s.add_argument("reports", nargs="+", help="reports/<programme> folders")
    s.add_argument("--threshold", type=int, default=None,
                   help="default: the threshold the report was rendered with (results.json)")

    n = sub.add_parser("notebooks", help="re-execute notebooks/*.py into the paired .ipynb "
                                         "(stored key-result outputs that nbval checks)")
    n.add_argument("names", nargs="*", help="notebook names (default: all)")

    g = sub.add_parser("generate", help="write the synthetic extracts a parameter file asks for")
    g.add_argument("params", nargs="+")
    g.add_argument("--force", action="store_true", help="regenerate even if data exist")

    o = sub.add_parser("options", help="print every notebook's options (type, default, allowed "
                                       "values, meaning), as in the README")
    o.add_argument("--write", action="store_true", help="rewrite the README's options section")

    ini = sub.add_parser("init", help="start an evaluation of your own data: a commented "
                                      "params/<programme>.yaml and an empty extracts folder with a README")
    ini.add_argument("programme", help="lower-case name, e.g. my_programme")
    ini.add_argument("--design", required=True, help="rct | did | matched")
    ini.add_argument("--dir", default=".", help="project folder holding params/ and data/ (default .)")
    ini.add_argument("--extracts", default=None,
                     help="extracts folder (default data/<programme>/extracts under --dir)")

    v = sub.add_parser("validate", help="check a parameter file's plan and data without rendering "
                                        "(every problem at once; exits non-zero on errors)")
    v.add_argument("params", nargs="+")

    d = sub.add_parser("dictionary", help="print the data dictionary of the register extracts")
    d.add_argument("--write", action="store_true", help="rewrite docs/data_dictionary.md")

    a = p.parse_args(argv)
    if a.cmd in ("init", "validate", "dictionary"):
        return _intake(a)
    from . import render as rd
    from .params import ParamsError
    try:
        if a.cmd == "render":
            if a.engine:
                from .panel.engine import check_engine
                os.environ["EVALUATION_ENGINE_CLI"] = check_engine(a.engine)
            res = rd.render(a.params, out_root=a.out, jobs=a.jobs, show_code=a.show_code,
                            progress=not a.no_progress)
            for x in res:
                print(f"{x.programme}: {len(x.notebooks)} notebook(s) -> {x.output_dir}")
            return 0
        if a.cmd == "check":
            res = rd.check(a.report, params_path=a.params, rtol=a.rtol, strict=a.strict)
            print(res)
            return 0 if res.ok else 1
        if a.cmd == "index":
            print(rd.write_index(a.out))
            return 0
        if a.cmd == "scan":
            from pathlib import Path

            from .disclosure import ScanError, scan_report
            bad = unchecked = 0
            for folder in map(Path, a.reports):
                try:
                    ids, opts = _person_ids(folder)
                    found = scan_report(folder, threshold=max(a.threshold or 0, opts["threshold"]),
                                        person_ids=ids, min_analysis_n=opts.get("min_analysis_n"))
                except ScanError as exc:
                    unchecked += 1
                    print(f"{folder}: NOT CHECKED: {exc}", file=sys.stderr)
                    continue
                bad += len(found)
                print(f"{folder}: " + ("clean" if not found else "\n  ".join(["", *found])))
            return 2 if unchecked else (1 if bad else 0)
        if a.cmd == "notebooks":
            for f in rd.refresh_notebooks(a.names or None):
                print(f)
            return 0
        if a.cmd == "options":
            from .params import README, options_reference, readme_with_options
            if a.write:
                from .report import atomic_write_text
                atomic_write_text(README, readme_with_options(README.read_text(encoding="utf-8")))
                print(README)
            else:
                print(options_reference())
            return 0
        if a.cmd == "generate":
            from .params import load_params
            for f in rd.expand(a.params):
                print(rd.ensure_data(load_params(f), force=a.force))
            return 0
    except rd.RenderInterrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return 130
    except (rd.RenderError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:          # evaluation.panel.engine.EngineError: --engine misspelt
        if type(exc).__name__ != "EngineError":
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1


def _intake(a) -> int:
    """``init``, ``validate`` and ``dictionary`` (evaluation.intake)."""
    from . import intake
    if a.cmd == "init":
        try:
            pfile, folder = intake.init(a.programme, a.design, root=a.dir, extracts=a.extracts)
        except (ValueError, FileExistsError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {pfile}\ncreated {folder} (README.md lists the expected extracts)\n"
              f"next: put the extracts in {folder}, map your column names under data.columns, then\n"
              f"  python -m evaluation validate {pfile}")
        return 0
    if a.cmd == "validate":
        bad = 0
        for f in a.params:
            res = intake.validate(f)
            print(res.summary(), file=sys.stdout if res.ok else sys.stderr)
            bad += not res.ok
        return 1 if bad else 0
    if a.write:
        from .report import atomic_write_text
        intake.DICTIONARY.parent.mkdir(exist_ok=True)
        atomic_write_text(intake.DICTIONARY, intake.data_dictionary())
        print(intake.DICTIONARY)
    else:
        print(intake.data_dictionary())
    return 0


def _scan_read_persons(data_folder, params_file, root) -> list[str]:
    """Person ids of a data folder's persons extract (csv, parquet or parts), with the
    ``data.columns`` mapping of the rendered plan when it can be read (else none: a user's own
    names then fail to read, and the scan says NOT CHECKED)."""
    from pathlib import Path

    from .panel import read_extracts
    from .params import ParamsError, load_params
    columns = None
    if params_file:
        pf = Path(params_file) if Path(params_file).is_absolute() else Path(root) / params_file
        try:
            columns = load_params(pf).data.columns if pf.is_file() else None
        except ParamsError:
            columns = None
    persons = read_extracts(data_folder, names=["persons"], columns=columns)["persons"]
    return persons["person_id"].astype(str).tolist()


def _person_ids(report_folder):
    """Person ids of the data a report was rendered from (via its results.json provenance) and
    the disclosure options it was rendered with.

    Fails closed: raises :class:`evaluation.disclosure.ScanError` naming what is missing (report
    folder, results.json, its provenance, the data folder or its persons extract), since a scan
    that cannot look for ids must never say "clean".
    """
    import json
    from pathlib import Path

    from .disclosure import DEFAULT_MIN_ANALYSIS_N, DEFAULT_THRESHOLD, ScanError
    from .params import ROOT
    folder = Path(report_folder)
    res = folder / "results.json"
    if not folder.is_dir():
        raise ScanError(f"report folder {folder} does not exist")
    try:
        data = json.loads(res.read_text())
        prov = data["provenance"]
        data_folder = Path(prov["data_folder"])
    except OSError as exc:
        raise ScanError(f"{res} cannot be read ({exc.strerror or exc}); render the report first") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ScanError(f"{res} is not a results.json with provenance.data_folder ({exc}); "
                        "cannot tell which data to look for person ids in") from None
    data_folder = data_folder if data_folder.is_absolute() else ROOT / data_folder
    if not data_folder.is_dir():
        raise ScanError(f"data folder {data_folder} (from {res}) does not exist; the scan needs "
                        "the persons extract to look for person ids")
    try:   # the persons extract in any layout, read with the plan's data.columns mapping
        ids = _scan_read_persons(data_folder, prov.get("params_file"), ROOT)
    except Exception as exc:  # noqa: BLE001 - any unreadable extract means: not checked
        raise ScanError(f"the persons extract in {data_folder} cannot be read "
                        f"({type(exc).__name__}: {exc})") from None
    opts = {"threshold": DEFAULT_THRESHOLD, "min_analysis_n": DEFAULT_MIN_ANALYSIS_N,
            **(data.get("disclosure") or {})}
    return ids, opts


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
