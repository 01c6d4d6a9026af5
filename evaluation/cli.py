"""Command line: ``python -m evaluation {render,check,index,generate}``."""
from __future__ import annotations

import argparse
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

    c = sub.add_parser("check", help="re-run a report and compare with its results.json")
    c.add_argument("report", help="reports/<programme> folder")
    c.add_argument("--params", default=None, help="parameter file (default: the one recorded)")
    c.add_argument("--rtol", type=float, default=1e-6)

    i = sub.add_parser("index", help="rebuild reports/index.html from every results.json")
    i.add_argument("-o", "--out", default=None)

    s = sub.add_parser("scan", help="scan rendered reports for person ids and small counts")
    s.add_argument("reports", nargs="+", help="reports/<programme> folders")
    s.add_argument("--threshold", type=int, default=5)

    n = sub.add_parser("notebooks", help="re-execute notebooks/*.py into the paired .ipynb "
                                         "(stored key-result outputs that nbval checks)")
    n.add_argument("names", nargs="*", help="notebook names (default: all)")

    g = sub.add_parser("generate", help="write the synthetic extracts a parameter file asks for")
    g.add_argument("params", nargs="+")
    g.add_argument("--force", action="store_true", help="regenerate even if data exist")

    a = p.parse_args(argv)
    from . import render as rd
    from .params import ParamsError
    try:
        if a.cmd == "render":
            res = rd.render(a.params, out_root=a.out, jobs=a.jobs, show_code=a.show_code,
                            progress=not a.no_progress)
            for x in res:
                print(f"{x.programme}: {len(x.notebooks)} notebook(s) -> {x.output_dir}")
            return 0
        if a.cmd == "check":
            res = rd.check(a.report, params_path=a.params, rtol=a.rtol)
            print(res)
            return 0 if res.ok else 1
        if a.cmd == "index":
            print(rd.write_index(a.out))
            return 0
        if a.cmd == "scan":
            from pathlib import Path

            from .report import scan_report
            bad = 0
            for folder in map(Path, a.reports):
                ids = _person_ids(folder)
                found = scan_report(folder, threshold=a.threshold, person_ids=ids)
                bad += len(found)
                print(f"{folder}: " + ("clean" if not found else "\n  ".join(["", *found])))
            return 1 if bad else 0
        if a.cmd == "notebooks":
            for f in rd.refresh_notebooks(a.names or None):
                print(f)
            return 0
        if a.cmd == "generate":
            from .params import load_params
            for f in rd.expand(a.params):
                print(rd.ensure_data(load_params(f), force=a.force))
            return 0
    except (rd.RenderError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1


def _person_ids(report_folder):
    """Person ids of the data a report was rendered from (via its results.json provenance)."""
    import json

    import pandas as pd

    from .params import ROOT
    try:
        prov = json.loads((report_folder / "results.json").read_text())["provenance"]
        persons = ROOT / prov["data_folder"] / "persons.parquet"
        return pd.read_parquet(persons, columns=["person_id"])["person_id"].astype(str).tolist()
    except (OSError, KeyError, ValueError):
        return []


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
