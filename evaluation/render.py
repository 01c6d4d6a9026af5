"""Render parameter files into published reports with papermill and nbconvert.

For each ``params/<programme>.yaml``:

1. validate the file (:func:`evaluation.params.load_params`),
2. generate the synthetic extracts if the data folder is empty (``data.source: synthetic``),
3. execute every notebook the file lists with papermill (``notebooks/<name>.py``, a jupytext
   "percent" script, is the source) with the programme's parameters, cwd = repository root,
4. write ``reports/<programme>/<notebook>.ipynb`` (executed) and ``.html`` (code hidden unless
   ``show_code``; provenance and a table of contents first; figures embedded), and
   ``results.json`` with the headline numbers and the provenance,
5. collect every ``results.json`` under ``reports/`` into ``reports/index.html``.

Kernels are started with ZeroMQ's ``ipc`` transport on private socket paths, so renders running
in parallel never race for TCP ports (papermill kernels started at the same moment are known to
collide on ports: nteract/papermill#511).
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from . import __version__
from .params import ROOT, Params, file_hash, load_params, notebook_source
from .report import atomic_write_text, to_jsonable

KERNEL_NAME = "evaluation"
REPORTS = ROOT / "reports"


class RenderError(RuntimeError):
    """A notebook failed: the message names the parameter file, the notebook, the cell and the error."""


# ------------------------------------------------------------------------------------------
# kernels
# ------------------------------------------------------------------------------------------
def _kernel_manager_class():
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        """Kernel manager using private ipc sockets instead of TCP ports."""

        @default("transport")
        def _transport_default(self):
            return "ipc"

        @default("ip")
        def _ip_default(self):
            base = Path(tempfile.gettempdir()) / "evaluation-kernels"
            base.mkdir(exist_ok=True)
            return str(base / f"k-{os.getpid()}-{uuid.uuid4().hex[:12]}")

    return IPCKernelManager


def kernel_name() -> str:
    """The registered ``evaluation`` kernel if present, else the current interpreter's ``python3``."""
    from jupyter_client.kernelspec import KernelSpecManager
    specs = KernelSpecManager().find_kernel_specs()
    return KERNEL_NAME if KERNEL_NAME in specs else "python3"


# ------------------------------------------------------------------------------------------
# provenance
# ------------------------------------------------------------------------------------------
def git_commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def data_hashes(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {p.name: file_hash(p) for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".")}


def provenance(params_path: Path, params: Params) -> dict:
    return {
        "params_file": _rel(params_path),
        "params_sha256": file_hash(params_path),
        "data_folder": _rel(params.data_folder),
        "data_sha256": data_hashes(params.data_folder),
        "package_version": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "rendered_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
def ensure_data(params: Params, *, force: bool = False) -> Path:
    """Generate the synthetic extracts for ``params`` unless they are already there."""
    folder = params.data_folder
    have = folder.exists() and any(folder.glob("*.parquet"))
    if params.data.source == "extracts":
        if not folder.exists():
            raise RenderError(f"data folder {folder} does not exist; set data.folder in the "
                              "parameter file to the folder with the register extracts")
        return folder
    if have and not force:
        return folder
    from . import synthetic
    kw = {"seed": params.data.seed, "effect_scale": params.data.effect_scale}
    if params.data.n_persons:
        kw["n_persons"] = params.data.n_persons
    data = synthetic.generate(params.data.scenario, **kw)
    data.write(folder, overwrite=True)
    return folder


# ------------------------------------------------------------------------------------------
# notebooks
# ------------------------------------------------------------------------------------------
def load_notebook(name: str):
    """Read ``notebooks/<name>.py`` (jupytext percent) or ``.ipynb`` as an nbformat notebook."""
    import jupytext
    src = notebook_source(name)
    if src is None:
        raise RenderError(f"notebook {name!r} not found in notebooks/")
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": kernel_name(), "display_name": "Python (evaluation)",
                                 "language": "python"}
    return nb


def execute(nb, out_path: Path, parameters: dict, *, label: str) -> object:
    """Execute ``nb`` with papermill; raise :class:`RenderError` naming the failing cell."""
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "input.ipynb"
        nbformat.write(nb, src)
        tmp_out = Path(tmp) / out_path.name
        try:
            pm.execute_notebook(str(src), str(tmp_out), parameters=parameters,
                                kernel_name=kernel_name(), cwd=str(ROOT), progress_bar=False,
                                log_output=False, kernel_manager_class=_kernel_manager_class())
        except PapermillExecutionError as exc:
            if tmp_out.exists():
                shutil.copyfile(tmp_out, out_path.with_suffix(".failed.ipynb"))
            src_lines = ""
            try:
                executed = nbformat.read(tmp_out, as_version=4)
                failed = [c for c in executed.cells if c.cell_type == "code"
                          and c.get("execution_count") == exc.exec_count] or \
                    [executed.cells[exc.cell_index]]
                src_lines = failed[0].source.strip().splitlines()[:6]
                src_lines = "\n      ".join(src_lines)
            except Exception:  # pragma: no cover - best effort
                pass
            raise RenderError(
                f"{label}: cell {exc.exec_count} (index {exc.cell_index}) failed with "
                f"{exc.ename}: {exc.evalue}\n    cell source:\n      {src_lines}\n"
                f"    executed notebook kept at {out_path.with_suffix('.failed.ipynb')}") from None
        executed = nbformat.read(tmp_out, as_version=4)
    atomic_write_text(out_path, nbformat.writes(executed))
    return executed


def _anchor(text: str) -> str:
    return re.sub(r"\s+", "-", text.strip())


def headline_text(headline: dict | None) -> str:
    """One-line statement of the pre-specified headline result, as the Data Lab reports open."""
    if not headline or headline.get("estimate") is None:
        return ""
    what = headline.get("outcome") or headline.get("term") or headline["key"]
    ci = ""
    level = int(round(100 * float(headline.get("level", 0.95))))
    if headline.get("ci_low") is not None and headline.get("ci_high") is not None:
        ci = f", {level} % CI {headline['ci_low']:.4g} to {headline['ci_high']:.4g}"
    n = f", n = {headline['n']}" if isinstance(headline.get("n"), int) else ""
    method = f" — {headline['method']}" if headline.get("method") else ""
    arms = ""
    if isinstance(headline.get("arms"), list) and len(headline["arms"]) > 1:
        arms = "".join(f"  \n&nbsp;&nbsp;{a.get('term')}: **{a['estimate']:.4g}**, "
                       f"{level} % CI {a['ci_low']:.4g} to {a['ci_high']:.4g}"
                       for a in headline["arms"])
        return (f"**Headline (pre-specified):** {what}, each arm against control{method}{arms}"
                f"  \n(notebook `{headline['notebook']}`, result `{headline['key']}`)")
    return (f"**Headline (pre-specified):** {what}: **{headline['estimate']:.4g}**"
            f"{ci}{n}{method}  \n(notebook `{headline['notebook']}`, result `{headline['key']}`)")


def _front_matter(nb, prov: dict, title: str, show_code: bool, headline: dict | None = None,
                  description: str = ""):
    """Markdown cell with the provenance block and a table of contents, put first."""
    import nbformat
    toc = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            m = re.match(r"^(#{1,3})\s+(.*)$", line)
            if m and len(m.group(1)) >= 2:
                depth = len(m.group(1)) - 2
                toc.append("  " * depth + f"- [{m.group(2).strip()}](#{_anchor(m.group(2))})")
    data = "<br>".join(f"{html.escape(k)} <code>{html.escape(v[:16])}…</code>"
                       for k, v in prov["data_sha256"].items()) or "–"
    lines = [
        f"# {title}", "", description.strip(), "", headline_text(headline), "",
        "<details open><summary><b>Provenance</b> — the pre-specified plan this report follows</summary>",
        "", "| | |", "|---|---|",
        f"| parameter file | `{prov['params_file']}` (sha256 `{prov['params_sha256'][:16]}…`) |",
        f"| data | `{prov['data_folder']}`<br>{data} |",
        f"| package | evaluation {prov['package_version']}, Python {prov['python']} |",
        f"| git commit | `{prov['git_commit']}` |",
        f"| rendered | {prov['rendered_at']} |", "", "</details>", "",
        "**Contents**", "", *toc,
    ]
    return nbformat.v4.new_markdown_cell("\n".join(lines))


_WARNING_LINE = re.compile(r"^\S+\.py:\d+: (\w+): (.*)$")


def tidy_stderr(text: str) -> str:
    """Turn Python warning lines in a cell's stderr into reader-facing notes.

    ``/tmp/ipykernel_1/2.py:3: MissingDataWarning: 64 persons excluded`` followed by the
    offending source line becomes ``Note (MissingDataWarning): 64 persons excluded``: the
    message stays in the report, the kernel's temporary paths and code do not.
    """
    out, skip_indented = [], False
    for line in text.splitlines():
        m = _WARNING_LINE.match(line)
        if m:
            out.append(f"Note ({m.group(1)}): {m.group(2)}")
            skip_indented = True
        elif skip_indented and line.startswith((" ", "\t")):
            continue
        else:
            skip_indented = False
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def export_html(nb, html_path: Path, *, prov: dict, title: str, show_code: bool = False,
                headline: dict | None = None, description: str = "") -> Path:
    """Write the executed notebook as self-contained HTML (figures embedded as data URIs)."""
    import copy
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"] = tidy_stderr(out["text"])
    nb.cells.insert(0, _front_matter(nb, prov, title, show_code, headline, description))
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    atomic_write_text(html_path, body)
    return html_path


# ------------------------------------------------------------------------------------------
# one parameter file
# ------------------------------------------------------------------------------------------
@dataclass
class RenderResult:
    params_file: str
    programme: str
    output_dir: str
    notebooks: list[str] = field(default_factory=list)
    results: str = ""


def render_one(params_path: str | Path, *, out_root: str | Path | None = None,
               show_code: bool = False, progress=None) -> RenderResult:
    """Render one parameter file into ``<out_root>/<programme>/``."""
    params_path = Path(params_path).resolve()
    params = load_params(params_path)
    out_dir = Path(out_root or REPORTS).resolve() / params.programme
    ensure_data(params)
    prov = provenance(params_path, params)
    # start from a clean results.json: notebooks add their sections to it
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.json"
    atomic_write_text(results_path, json.dumps({"programme": params.programme,
                                                "title": params.title,
                                                "provenance": prov}, indent=2))
    res = RenderResult(str(params_path), params.programme, str(out_dir), results=str(results_path))
    executed = {}
    for spec in params.notebooks:
        nb = load_notebook(spec.name)
        label = f"{_rel(params_path)} → notebooks/{spec.name}"
        executed[spec.name] = execute(nb, out_dir / f"{spec.name}.ipynb",
                                      params.notebook_parameters(spec, out_dir), label=label)
        res.notebooks.append(spec.name)
        if progress is not None:
            progress(1)
    # final results.json: provenance + what the notebooks recorded + the headline
    data = json.loads(results_path.read_text())
    data["provenance"] = prov
    data["programme"], data["title"] = params.programme, params.title
    headline = None
    if params.headline is not None:
        nbres = data.get("notebooks", {}).get(params.headline.notebook, {})
        if params.headline.key not in nbres:
            raise RenderError(f"{_rel(params_path)}: headline {params.headline.notebook}:"
                              f"{params.headline.key} was not recorded by the notebook; recorded "
                              f"keys: {sorted(nbres)}")
        headline = {"notebook": params.headline.notebook, "key": params.headline.key,
                    **_as_dict(nbres[params.headline.key])}
        data["headline_result"] = headline
    atomic_write_text(results_path, json.dumps(to_jsonable(data), indent=2, sort_keys=True))
    # HTML last, so that every page opens with the pre-specified headline
    for name, nb in executed.items():
        export_html(nb, out_dir / f"{name}.html", prov=prov, title=f"{params.title} — {name}",
                    show_code=show_code, headline=headline, description=params.description)
    return res


def _as_dict(v):
    return v if isinstance(v, dict) else {"value": v}


def expand(paths: Sequence[str | Path]) -> list[Path]:
    """Parameter files from files and folders (``*.yaml``/``*.yml`` in a folder)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        elif p.exists():
            out.append(p)
        else:
            raise RenderError(f"{p}: no such parameter file or folder")
    if not out:
        raise RenderError(f"no parameter files found in {list(map(str, paths))}")
    return out


def _render_worker(path: str, out_root: str, show_code: bool) -> RenderResult:
    return render_one(path, out_root=out_root, show_code=show_code)


def render(paths: Sequence[str | Path], *, out_root: str | Path | None = None, jobs: int = 1,
           show_code: bool = False, progress: bool = True, index: bool = True) -> list[RenderResult]:
    """Render many parameter files, ``jobs`` at a time, with a progress bar.

    All files are validated before anything runs, so a misspelt key in the last file does not
    waste the render of the first ones.  The first failure stops the run with its message.
    """
    from tqdm.auto import tqdm

    files = expand(paths)
    problems = []
    plans = []
    for f in files:
        try:
            plans.append(load_params(f))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise RenderError("\n".join(problems))
    out_root = Path(out_root or REPORTS).resolve()
    total = sum(len(p.notebooks) for p in plans)
    results: list[RenderResult] = []
    bar = tqdm(total=total, desc="rendering", unit="notebook", disable=not progress)
    try:
        if jobs <= 1 or len(files) == 1:
            for f in files:
                results.append(render_one(f, out_root=out_root, show_code=show_code,
                                          progress=bar.update))
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futs = {pool.submit(_render_worker, str(f), str(out_root), show_code): p
                        for f, p in zip(files, plans)}
                for fut in as_completed(futs):
                    results.append(fut.result())
                    bar.update(len(futs[fut].notebooks))
    finally:
        bar.close()
    if index:
        write_index(out_root)
    return sorted(results, key=lambda r: r.programme)


# ------------------------------------------------------------------------------------------
# index and check
# ------------------------------------------------------------------------------------------
def collect_results(out_root: str | Path | None = None):
    """One row per recorded estimate across all reports: programme × notebook × key."""
    import pandas as pd
    out_root = Path(out_root or REPORTS)
    rows = []
    for path in sorted(out_root.glob("*/results.json")):
        data = json.loads(path.read_text())
        head = data.get("headline_result", {})
        for nb, entries in data.get("notebooks", {}).items():
            for key, val in entries.items():
                if not (isinstance(val, dict) and "estimate" in val and "ci_low" in val):
                    continue
                is_head = head.get("notebook") == nb and head.get("key") == key
                # multi-arm results: one row per arm against control
                parts = val.get("arms") if isinstance(val.get("arms"), list) else [val]
                label = val.get("outcome") or (key if len(parts) > 1 else val.get("term", key))
                for part in parts:
                    what = label if part is val else f"{label}: {part.get('term')}"
                    rows.append({"programme": data.get("programme", path.parent.name),
                                 "title": data.get("title", ""), "notebook": nb, "key": key,
                                 "outcome": what, "estimate": part["estimate"],
                                 "ci_low": part["ci_low"], "ci_high": part["ci_high"],
                                 "n": part.get("n", val.get("n")), "headline": is_head})
    return pd.DataFrame(rows, columns=["programme", "title", "notebook", "key", "outcome",
                                       "estimate", "ci_low", "ci_high", "n", "headline"])


def write_index(out_root: str | Path | None = None) -> Path:
    """``reports/index.html``: links to every report and the comparison table."""
    out_root = Path(out_root or REPORTS)
    table = collect_results(out_root)
    links = []
    for path in sorted(out_root.glob("*/results.json")):
        data = json.loads(path.read_text())
        prog = data.get("programme", path.parent.name)
        nbs = " · ".join(f'<a href="{html.escape(prog)}/{html.escape(nb)}.html">{html.escape(nb)}</a>'
                         for nb in data.get("notebooks", {}))
        prov = data.get("provenance", {})
        links.append(f"<li><b>{html.escape(data.get('title', prog))}</b> — {nbs} "
                     f"<small>(params sha256 {html.escape(prov.get('params_sha256', '')[:12])}…, "
                     f"rendered {html.escape(prov.get('rendered_at', ''))})</small></li>")
    if len(table):
        t = table.copy()
        t["estimate (95% CI)"] = [f"{e:.4g} ({lo:.4g} to {hi:.4g})"
                                  for e, lo, hi in zip(t.estimate, t.ci_low, t.ci_high)]
        t["headline"] = t["headline"].map({True: "★", False: ""})
        t = t.sort_values(["programme", "headline", "notebook", "key"],
                          ascending=[True, False, True, True])
        from .report import suppress_counts
        t = suppress_counts(t[["programme", "headline", "notebook", "key", "outcome",
                               "estimate (95% CI)", "n"]], ["n"], secondary=False)
        table_html = t.to_html(index=False, escape=True, na_rep="–")
    else:
        table_html = "<p>No estimates recorded yet.</p>"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Evaluation reports</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:3px 6px}}</style></head><body>
<h1>Evaluation reports</h1><ul>{''.join(links)}</ul>
<h2>All programmes: estimates with 95 % intervals</h2>{table_html}
<p><small>★ = the pre-specified headline outcome of the programme.</small></p></body></html>"""
    return atomic_write_text(out_root / "index.html", page)


def _numbers(obj, prefix=""):
    """Flatten numeric leaves of a results.json into {path: value}."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_numbers(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_numbers(v, f"{prefix}[{i}]"))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = float(obj)
    return out


@dataclass
class CheckResult:
    ok: bool
    messages: list[str]

    def __str__(self):
        return ("OK: " if self.ok else "FAILED: ") + "\n  ".join(self.messages)


def check(report_dir: str | Path, *, params_path: str | Path | None = None,
          rtol: float = 1e-6, atol: float = 1e-9) -> CheckResult:
    """Re-run a report and compare its numbers with the stored ``results.json``.

    Provenance is compared first (parameter-file and data-file hashes): a changed input is
    named.  Then the report is re-rendered into a temporary folder and every number recorded by
    the notebooks is compared (relative tolerance ``rtol``); differences are listed by their
    path in results.json.
    """
    report_dir = Path(report_dir)
    stored = json.loads((report_dir / "results.json").read_text())
    prov = stored["provenance"]
    params_path = Path(params_path) if params_path else ROOT / prov["params_file"]
    msgs = []
    ok = True
    if file_hash(params_path) != prov["params_sha256"]:
        ok = False
        msgs.append(f"parameter file {_rel(params_path)} changed since the report was rendered")
    params = load_params(params_path)
    now = data_hashes(params.data_folder)
    for name in sorted(set(now) | set(prov["data_sha256"])):
        if now.get(name) != prov["data_sha256"].get(name):
            ok = False
            msgs.append(f"data file {name} in {_rel(params.data_folder)} changed "
                        f"(sha256 {prov['data_sha256'].get(name, 'absent')[:12]} → "
                        f"{now.get(name, 'absent')[:12]})")
    with tempfile.TemporaryDirectory() as tmp:
        render_one(params_path, out_root=tmp)
        fresh = json.loads((Path(tmp) / params.programme / "results.json").read_text())
    a = _numbers({k: stored.get(k) for k in ("notebooks", "headline_result")})
    b = _numbers({k: fresh.get(k) for k in ("notebooks", "headline_result")})
    n_diff = 0
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x is None or y is None:
            msgs.append(f"{key}: {'missing in re-run' if y is None else 'new in re-run'}")
            n_diff += 1
        elif abs(x - y) > atol + rtol * abs(x):
            msgs.append(f"{key}: stored {x:.10g}, re-run {y:.10g}")
            n_diff += 1
    if n_diff:
        ok = False
        msgs.insert(0, f"{n_diff} number(s) differ from results.json")
    else:
        msgs.append(f"all {len(a)} recorded numbers reproduce (rtol {rtol:g})")
    return CheckResult(ok, msgs)


# ------------------------------------------------------------------------------------------
# paired notebooks for nbval
# ------------------------------------------------------------------------------------------
CHECK_MARK = "NBVAL_CHECK_OUTPUT"


def refresh_notebooks(names: Sequence[str] | None = None, *, progress: bool = True) -> list[Path]:
    """Execute ``notebooks/<name>.py`` with its default parameters and write the paired ``.ipynb``.

    The ``.py`` (jupytext percent) is the source that diffs read; the ``.ipynb`` carries the
    outputs nbval compares against.  Only outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` are
    kept (the key results); the others are cleared, since nbval-lax only checks those cells and
    figures would bloat the repository.
    """
    import jupytext
    from tqdm.auto import tqdm

    from .params import NOTEBOOK_DIR
    srcs = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    if names:
        srcs = [s for s in srcs if s.stem in set(names)]
    written = []
    for src in tqdm(srcs, desc="notebooks", disable=not progress):
        nb = load_notebook(src.stem)
        with tempfile.TemporaryDirectory() as tmp:
            executed = execute(nb, Path(tmp) / f"{src.stem}.ipynb", {}, label=f"notebooks/{src.name}")
        for cell in executed.cells:
            if cell.cell_type != "code":
                continue
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
            if CHECK_MARK not in cell.source:
                cell.outputs = []
                cell.execution_count = None
        executed.metadata.pop("papermill", None)
        # drop papermill's injected-parameters cell: the defaults are the parameters
        executed.cells = [c for c in executed.cells
                          if "injected-parameters" not in c.metadata.get("tags", [])]
        executed.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
        out = src.with_suffix(".ipynb")
        atomic_write_text(out, jupytext.writes(executed, fmt="ipynb"))
        written.append(out)
    return written
