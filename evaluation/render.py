"""Render parameter files into published reports with papermill and nbconvert.

For each ``params/<programme>.yaml``:

1. validate the file (:func:`evaluation.params.load_params`): keys, values, column names,
   cross-field rules, before anything runs,
2. generate the synthetic extracts if the data folder is empty (``data.source: synthetic``;
   ``source: extracts`` never generates),
3. take the programme's lock (``reports/.locks/<programme>.lock``): a second render of the same
   programme stops with a message instead of writing at the same time,
4. execute every notebook the file lists with papermill (``notebooks/<name>.py``, a jupytext
   "percent" script, is the source) with the programme's parameters, cwd = repository root,
   into a **staging folder** ``reports/.staging/<programme>-…`` (outside the published folder),
5. write there ``<notebook>.ipynb`` (executed) and ``.html`` (code hidden unless ``show_code``;
   provenance and a table of contents first; figures embedded), and ``results.json`` with the
   headline numbers and the provenance,
6. scan the staged report with the disclosure gate (:func:`evaluation.report.scan_report`: person
   ids, small counts); it fails closed,
7. swap the staging folder into ``reports/<programme>/`` in one step (files of notebooks no longer
   in the plan go with the old folder),
8. collect every ``results.json`` under ``reports/`` into ``reports/index.html`` (atomically).

A failed, interrupted (SIGINT/SIGTERM) or refused render leaves the previous complete report
untouched; the error names the notebook, the cell and where the failed notebook was kept: a
private folder outside the reports (:data:`FAILED_ROOT`), since its outputs have not passed the
disclosure gate.  Staging folders and kernels are cleaned up.

Kernels are started with ZeroMQ's ``ipc`` transport on private socket paths, so renders running
in parallel never race for TCP ports (papermill kernels started at the same moment are known to
collide on ports: nteract/papermill#511).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import html
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

from . import __version__, i18n, summary
from .params import ROOT, Params, file_hash, load_params, notebook_source
from .report import atomic_write_text, to_jsonable
from .schema import EXTRACTS

KERNEL_NAME = "evaluation"
REPORTS = ROOT / "reports"
#: Where the executed notebook of a failed render is kept: a private folder (mode 0700) outside
#: the reports, because its outputs have not passed the disclosure gate.
FAILED_ROOT = Path(tempfile.gettempdir()) / f"evaluation-failed-{os.getuid()}"
STAGING = ".staging"
LOCKS = ".locks"


class RenderError(RuntimeError):
    """A notebook failed: the message names the parameter file, the notebook, the cell and the error."""


class RenderInterrupted(RenderError):
    """The render was interrupted (SIGINT/SIGTERM); the previous report is untouched."""


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


_EXTRACT_FILE = re.compile(r"^(?P<name>[a-z_]+)\.(parquet|csv|csv\.gz)$")


def data_hashes(folder: Path) -> dict[str, str]:
    """sha256 of the register extracts in ``folder``: ``<extract>.parquet|.csv|.csv.gz`` and the
    parquet parts of an extract folder ``<extract>/`` (keyed ``<extract>/<part>``), for the
    extracts of :data:`evaluation.schema.EXTRACTS`; other files there are not read."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    out = {}
    for p in sorted(folder.iterdir()):
        m = _EXTRACT_FILE.match(p.name)
        if m and m.group("name") in EXTRACTS and p.is_file():
            out[p.name] = file_hash(p)
        elif p.name in EXTRACTS and p.is_dir():
            for part in sorted(p.rglob("*.parquet")):
                if part.is_file():
                    out[part.relative_to(folder).as_posix()] = file_hash(part)
    return out


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
    """Generate the synthetic extracts for ``params`` unless they are already there.

    ``source: extracts`` never generates (not even with ``force``).  Synthetic data are written
    only into a folder the generator created (:func:`evaluation.synthetic.ensure`): a folder
    holding other files is refused with a :class:`RenderError` and left untouched.
    """
    folder = params.data_folder
    from .panel.mapping import activate    # the notebooks' kernels read the extracts with it
    activate(folder, params.data.columns)
    if params.data.source == "extracts":
        if not folder.exists():
            raise RenderError(f"data folder {folder} does not exist; set data.folder in the "
                              "parameter file to the folder with the register extracts")
        return folder
    from . import synthetic
    try:
        return synthetic.ensure(folder, params.data.scenario, n_persons=params.data.n_persons,
                                seed=params.data.seed, effect_scale=params.data.effect_scale,
                                force=force)
    except (ValueError, OSError) as exc:    # e.g. a folder the generator did not create
        raise RenderError(f"cannot write the synthetic extracts into {folder}: {exc}") from None


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


def _private_failed_copy(tmp_out: Path, failed_dir: Path | None, name: str) -> Path | None:
    """Keep the executed notebook of a failed run in a private folder (never in a report)."""
    if failed_dir is None or not tmp_out.exists():
        return None
    failed_dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(failed_dir.parent, 0o700)
    failed_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    dest = failed_dir / f"{name}.failed.ipynb"
    shutil.copyfile(tmp_out, dest)
    os.chmod(dest, 0o600)
    (failed_dir / "NOT-FOR-PUBLICATION.txt").write_text(
        "These notebooks failed during a render. Their outputs did not pass the disclosure gate\n"
        "and may show person-level data: read them to find the error, never publish or share them.\n")
    return dest


def _short(text: str, limit: int = 300) -> str:
    """An error message cut to ``limit`` characters: the full text (which may quote data) stays
    in the private failed notebook."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def execute(nb, out_path: Path, parameters: dict, *, label: str,
            failed_dir: Path | None = None) -> object:
    """Execute ``nb`` with papermill; raise :class:`RenderError` naming the failing cell.

    The executed notebook of a failed run is copied to ``failed_dir`` (a private folder outside
    the reports), never next to ``out_path``.
    """
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
            kept = _private_failed_copy(tmp_out, failed_dir, out_path.stem)
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
            where = (f"    executed notebook kept at {kept} (private: it may show person-level "
                     "output; do not publish it)" if kept else "")
            raise RenderError(
                f"{label}: cell {exc.exec_count} (index {exc.cell_index}) failed with "
                f"{exc.ename}: {_short(exc.evalue)}\n    cell source:\n      {src_lines}\n{where}") from None
        executed = nbformat.read(tmp_out, as_version=4)
    atomic_write_text(out_path, nbformat.writes(executed))
    return executed


_MD_SPECIAL = str.maketrans({c: f"&#{ord(c)};" for c in "\\`*[]()!|<>&\"'"})


def md_text(value) -> str:
    """``value`` as literal text inside Markdown: HTML and Markdown syntax (links, images,
    emphasis, raw tags) are written as character references, so a string from a parameter file
    or from the data is shown, never interpreted."""
    return str(value).translate(_MD_SPECIAL)


def _code(value) -> str:
    """``value`` in a Markdown code span (shown literally); backticks cannot end it early."""
    text = str(value).replace("`", "'")
    return f"`{text}`"


_heading_id = summary.heading_id   # the id nbconvert gives a heading (shared with the summary page)


def _anchor(text: str) -> str:
    return re.sub(r"\s+", "-", text.strip())


def headline_text(headline: dict | None, language: str = "en") -> str:
    """One-line statement of the pre-specified headline result, as the Data Lab reports open
    (labels and numbers in ``language``)."""
    if not headline or headline.get("estimate") is None:
        return ""

    def num(x):
        return i18n.significant(x, 4, language)

    lab = i18n.t("headline_pre", language)
    what = md_text(headline.get("outcome") or headline.get("term") or headline["key"])
    ci = ""
    level = int(round(100 * float(headline.get("level", 0.95))))
    ci_lab = i18n.t("ci_level", language, level=level)
    to = i18n.t("to", language)
    where = i18n.t("from_notebook", language, notebook=_code(headline["notebook"]),
                   key=_code(headline["key"]))
    if headline.get("ci_low") is not None and headline.get("ci_high") is not None:
        ci = f", {ci_lab} {num(headline['ci_low'])} {to} {num(headline['ci_high'])}"
    # n without a thousands separator: the disclosure scan reads "n = 3 378" as "n = 3"
    n = f", n = {headline['n']}" if isinstance(headline.get("n"), int) else ""
    method = f" — {md_text(headline['method'])}" if headline.get("method") else ""
    if isinstance(headline.get("arms"), list) and len(headline["arms"]) > 1:
        arms = "".join(f"  \n&nbsp;&nbsp;{md_text(a.get('term'))}: **{num(a['estimate'])}**, "
                       f"{ci_lab} {num(a['ci_low'])} {to} {num(a['ci_high'])}"
                       for a in headline["arms"])
        return (f"**{lab}:** {what}, {i18n.t('each_arm', language)}{method}{arms}  \n({where})")
    return f"**{lab}:** {what}: **{num(headline['estimate'])}**{ci}{n}{method}  \n({where})"


def _front_matter(nb, prov: dict, title: str, show_code: bool, headline: dict | None = None,
                  description: str = "", language: str = "en"):
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
                toc.append("  " * depth + f'- <a href="#{html.escape(_heading_id(m.group(2)), quote=True)}">'
                           f"{md_text(m.group(2).strip())}</a>")
    data = "<br>".join(f"{html.escape(k)} <code>{html.escape(v[:16])}…</code>"
                       for k, v in prov["data_sha256"].items()) or "–"

    def lab(key):
        return i18n.t(key, language)
    lines = [
        f"# {md_text(title)}", "", md_text(description.strip()), "", headline_text(headline, language), "",
        f"<details open><summary><b>{lab('provenance')}</b> — {lab('prov_plan')}</summary>",
        "", "| | |", "|---|---|",
        f"| {lab('prov_params')} | {_code(prov['params_file'])} (sha256 `{prov['params_sha256'][:16]}…`) |",
        f"| {lab('prov_data')} | {_code(prov['data_folder'])}<br>{data} |",
        f"| {lab('prov_package')} | evaluation {prov['package_version']}, Python {prov['python']} |",
        f"| {lab('prov_commit')} | `{prov['git_commit']}` |",
        f"| {lab('prov_rendered')} | {prov['rendered_at']} |", "", "</details>", "",
        f"**{lab('contents')}** ([{lab('summary_link')}](index.html))",
        "", *toc,
    ]
    return nbformat.v4.new_markdown_cell("\n".join(lines))


_WARNING_LINE = re.compile(r"^\S+\.py:\d+: (\w+): (.*)$")


def tidy_stderr(text: str, language: str = "en") -> str:
    """Turn Python warning lines in a cell's stderr into reader-facing notes.

    ``/tmp/ipykernel_1/2.py:3: MissingDataWarning: 64 persons excluded`` followed by the
    offending source line becomes ``Note (MissingDataWarning): 64 persons excluded``: the
    message stays in the report (in ``language``, :data:`evaluation.i18n.NOTES`), the kernel's
    temporary paths and code do not.
    """
    out, skip_indented = [], False
    for line in text.splitlines():
        m = _WARNING_LINE.match(line)
        if m:
            out.append(f"{i18n.t('note', language)} ({m.group(1)}): {i18n.note_text(m.group(2), language)}")
            skip_indented = True
        elif skip_indented and line.startswith((" ", "\t")):
            continue
        else:
            skip_indented = False
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


_NO_ALT = 'alt="No description has been provided for this image"'


def _alt_texts(nb, language: str = "en") -> list[str]:
    """Every embedded figure gets alt text: the figure's own (titles and axes, set by
    :func:`evaluation.report.figure_style` in the kernel), else the section it is in.
    Returns the texts in the order of the figures."""
    section, alts = "", []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.findall(r"^#+\s+(.+)$", cell.source, re.M)
            section = m[-1].strip() if m else section
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                md = out.setdefault("metadata", {}).setdefault("image/png", {})
                fig = i18n.t("figure_alt", language)
                md.setdefault("alt", f"{fig}: {section}" if section else fig)
                alts.append(md["alt"])
    return alts


def _fill_alts(body: str, alts: list[str]) -> str:
    """Put the figures' alt texts into the exported images (nbconvert's lab template drops them)."""
    it = iter(alts)
    return re.sub(re.escape(_NO_ALT),
                  lambda m: f'alt="{html.escape(next(it, "Figure"), quote=True)}"', body)


def export_html(nb, html_path: Path, *, prov: dict, title: str, show_code: bool = False,
                headline: dict | None = None, description: str = "", language: str = "en") -> Path:
    """Write the executed notebook as self-contained HTML (figures embedded as data URIs)."""
    import copy
    from nbconvert import HTMLExporter

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["text"] = tidy_stderr(out["text"], language)
    alts = _alt_texts(nb, language)
    nb.cells.insert(0, _front_matter(nb, prov, title, show_code, headline, description, language))
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    atomic_write_text(html_path, _fill_alts(body, alts))
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


def _engine_env(params) -> None:
    """The panel engine and memory limit for this render's kernels (they inherit the environment):
    ``--engine`` (``EVALUATION_ENGINE_CLI``) wins over ``data.engine`` in the params file."""
    os.environ["EVALUATION_ENGINE"] = os.environ.get("EVALUATION_ENGINE_CLI") or params.data.engine
    if params.data.memory_limit:
        os.environ["EVALUATION_MEMORY_LIMIT"] = params.data.memory_limit
    else:
        os.environ.pop("EVALUATION_MEMORY_LIMIT", None)


def render_one(params_path: str | Path, *, out_root: str | Path | None = None,
               show_code: bool = False, progress=None) -> RenderResult:
    """Render one parameter file into ``<out_root>/<programme>/``, staged and swapped in whole.

    Holds the programme's lock, renders into a staging folder, scans it with the disclosure
    gate and swaps it into place only when every notebook succeeded and the scan is clean.  On
    any failure or interruption the previous report stays as it was and :class:`RenderError`
    says what failed and where the failed notebook is.
    """
    params_path = Path(params_path).resolve()
    params = load_params(params_path)
    _engine_env(params)
    out_root = Path(out_root or REPORTS).resolve()
    out_dir = out_root / params.programme
    label = _rel(params_path)
    with programme_lock(out_root, params.programme), _signals_raise(), \
            _staging(out_root, params.programme) as stage, _kernels_cleaned():
        try:
            res = _render_into(stage, params_path, params, show_code=show_code, progress=progress)
            _gate(stage, params, label)
            _swap(stage, out_dir)
        except RenderInterrupted as exc:
            raise RenderInterrupted(f"{label}: {exc}; the previous report in {out_dir} is "
                                    "untouched") from None
        except RenderError as exc:
            raise RenderError(f"{exc}\n    the previous report in {out_dir} is untouched "
                              f"({'kept' if out_dir.exists() else 'there was none'})") from None
    res.output_dir = str(out_dir)
    res.results = str(out_dir / "results.json")
    return res


def _render_into(stage: Path, params_path: Path, params: Params, *, show_code: bool,
                 progress=None) -> RenderResult:
    """Execute every notebook of the plan into ``stage`` and write results.json and the HTML."""
    ensure_data(params)
    prov = provenance(params_path, params)
    results_path = stage / "results.json"
    atomic_write_text(results_path, json.dumps({"programme": params.programme,
                                                "title": params.title,
                                                "provenance": prov}, indent=2))
    res = RenderResult(str(params_path), params.programme, str(stage), results=str(results_path))
    failed_dir = FAILED_ROOT / f"{params.programme}-{_dt.datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}"
    executed = {}
    for spec in params.notebooks:
        nb = i18n.translate_notebook(load_notebook(spec.name), params.language)
        label = f"{_rel(params_path)} → notebooks/{spec.name}"
        executed[spec.name] = execute(nb, stage / f"{spec.name}.ipynb",
                                      params.notebook_parameters(spec, stage), label=label,
                                      failed_dir=failed_dir)
        res.notebooks.append(spec.name)
        if progress is not None:
            progress(1)
    # final results.json: provenance + what the notebooks recorded + the headline
    data = json.loads(results_path.read_text())
    data["provenance"] = prov
    data["programme"], data["title"] = params.programme, params.title
    data["language"] = params.language
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
        export_html(nb, stage / f"{name}.html", prov=prov, title=f"{params.title} — {name}",
                    show_code=show_code, headline=headline, description=params.description,
                    language=params.language)
    # the summary page opens the report (reports/<programme>/index.html)
    atomic_write_text(stage / "index.html", summary.summary_page(params, data, executed, headline))
    return res


# ------------------------------------------------------------------------------------------
# staging, lock, gate, swap, interruption
# ------------------------------------------------------------------------------------------
def _threshold(params: Params) -> int:
    disc = getattr(params, "disclosure", None)
    return int(getattr(disc, "threshold", None) or params.disclosure_threshold)


def report_person_ids(params: Params) -> list[str]:
    """Person ids of the data a report is rendered from; :class:`RenderError` if unreadable."""
    from .panel import read_extracts
    try:
        persons = read_extracts(params.data_folder, names=["persons"])["persons"]
        return persons["person_id"].astype(str).tolist()
    except Exception as exc:  # noqa: BLE001 - any failure means the scan cannot be done
        raise RenderError(f"cannot check the report for person ids: the persons extract in "
                          f"{params.data_folder} could not be read ({exc})") from None


def _gate(stage: Path, params: Params, label: str) -> None:
    """Fail closed: publish nothing the disclosure scan finds a problem in, or cannot check."""
    from .report import scan_report
    ids = report_person_ids(params)
    try:
        found = scan_report(stage, threshold=_threshold(params), person_ids=ids,
                            min_analysis_n=getattr(getattr(params, "disclosure", None),
                                                   "min_analysis_n", None))
    except Exception as exc:  # noqa: BLE001
        raise RenderError(f"{label}: the disclosure scan could not check the report ({exc}); "
                          "nothing was published") from None
    if found:
        # the message goes to terminals and CI logs: name how many ids, never which
        found = [re.sub(r", e\.g\. \[.*\]$", "", f) if "person id" in f else f for f in found]
        kept = _keep_private(stage, FAILED_ROOT / f"{params.programme}-{_dt.datetime.now():%Y%m%dT%H%M%S}"
                             f"-{os.getpid()}" / "refused-report")
        raise RenderError(f"{label}: the disclosure scan refused the report ({len(found)} "
                          "finding(s)); nothing was published:\n    " + "\n    ".join(found[:20])
                          + f"\n    the refused report is kept at {kept} (private: do not publish it)")


def _keep_private(folder: Path, dest: Path) -> Path:
    """Copy ``folder`` to ``dest`` in a private (0700) folder outside the reports."""
    dest.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(dest.parent.parent, 0o700)
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copytree(folder, dest)
    os.chmod(dest, 0o700)
    (dest.parent / "NOT-FOR-PUBLICATION.txt").write_text(
        "This report was refused by the disclosure scan: it may show person-level data or small\n"
        "counts. Read it to find the cause, never publish or share it.\n")
    return dest


@contextlib.contextmanager
def programme_lock(out_root: Path, programme: str, *, blocking: bool = False) -> Iterator[Path]:
    """Hold ``<out_root>/.locks/<programme>.lock`` (an flock, released if the process dies)."""
    import fcntl
    lock_dir = Path(out_root) / LOCKS
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{programme}.lock"
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise RenderError(f"another render of {programme!r} is writing {Path(out_root) / programme} "
                              f"({holder}; lock {path}); wait for it to finish, then render again") \
                from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ}")
        fh.flush()
        try:
            yield path
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)
    finally:
        fh.close()


@contextlib.contextmanager
def _staging(out_root: Path, programme: str) -> Iterator[Path]:
    """A fresh staging folder ``<out_root>/.staging/<programme>-…``, removed afterwards.

    Called under the programme's lock: leftovers of a killed render of this programme are
    removed first, and a report left half-swapped by a crash is restored.
    """
    base = Path(out_root) / STAGING
    base.mkdir(parents=True, exist_ok=True)
    _recover(Path(out_root), programme)
    for old in base.glob(f"{programme}-*"):
        shutil.rmtree(old, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(prefix=f"{programme}-", dir=base))
    os.chmod(stage, 0o755)
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        with contextlib.suppress(OSError):
            base.rmdir()          # only if empty


def _recover(out_root: Path, programme: str) -> None:
    previous = out_root / STAGING / f"{programme}.previous"
    if previous.is_dir():
        if not (out_root / programme).exists():
            os.rename(previous, out_root / programme)
        else:
            shutil.rmtree(previous, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    import ctypes
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    r = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if r == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _swap(stage: Path, out_dir: Path) -> None:
    """Put the complete staged report in place of ``out_dir`` in one step."""
    if out_dir.is_symlink() or (out_dir.exists() and not out_dir.is_dir()):
        raise RenderError(f"{out_dir} is not a folder; move it away, then render again")
    if not out_dir.exists():
        os.rename(stage, out_dir)
        stage.mkdir()                     # so that the staging clean-up finds a folder
        return
    if _exchange(stage, out_dir):
        return                            # stage now holds the previous report; removed after
    previous = stage.parent / f"{out_dir.name}.previous"
    os.rename(out_dir, previous)          # a crash here is repaired by _recover on the next render
    os.rename(stage, out_dir)
    shutil.rmtree(previous, ignore_errors=True)
    stage.mkdir()


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM (and SIGINT) into :class:`RenderInterrupted` so that clean-up runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RenderInterrupted(f"render interrupted by {signal.Signals(signum).name}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _kernels_cleaned() -> Iterator[None]:
    """After the render, stop any kernel this process started that is still running."""
    try:
        yield
    finally:
        _stop_own_kernels()


def _stop_own_kernels() -> None:
    try:
        import psutil
        kids = psutil.Process().children(recursive=True)
    except Exception:  # noqa: BLE001 - psutil missing or process gone
        kids = []
    for k in kids:
        try:
            if any("ipykernel" in part for part in k.cmdline()):
                k.kill()
        except Exception:  # noqa: BLE001
            continue
    base = Path(tempfile.gettempdir()) / "evaluation-kernels"
    for f in base.glob(f"k-{os.getpid()}-*"):
        with contextlib.suppress(OSError):
            f.unlink()


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
def report_results(out_root: str | Path | None = None) -> list[Path]:
    """``results.json`` of every published report under ``out_root`` (staging folders and other
    hidden folders are not reports)."""
    out_root = Path(out_root or REPORTS)
    return sorted(p for p in out_root.glob("*/results.json") if not p.parent.name.startswith("."))


def collect_results(out_root: str | Path | None = None):
    """One row per recorded estimate across all reports: programme × notebook × key."""
    import pandas as pd
    out_root = Path(out_root or REPORTS)
    rows = []
    for path in report_results(out_root):
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
    """``reports/index.html``: links to every report, a forest plot of every headline and the
    comparison table -- in English, with the same page in bokmål at ``reports/index.nb.html``
    (each links to the other; :data:`evaluation.summary.INDEX_FILES`).

    The page's own words (headings, table headers, numbers, units) follow the page's language;
    each programme's title is shown as its report was written (``language:`` of its parameter
    file), so a mixed set of English and bokmål reports is listed under either index.
    Built under the index lock and written atomically (a reader sees the old or the new page).
    """
    out_root = Path(out_root or REPORTS)
    with programme_lock(out_root, ".index", blocking=True):
        for language in reversed(i18n.LANGUAGES):
            path = _write_index(out_root, language)
        return path


def _index_links(datas: list[tuple[Path, dict]], language: str) -> list[str]:
    links = []
    for path, data in datas:
        prog = data.get("programme", path.parent.name)
        nbs = " · ".join(f'<a href="{html.escape(prog)}/{html.escape(nb)}.html">{html.escape(nb)}</a>'
                         for nb in data.get("notebooks", {}))
        prov = data.get("provenance", {})
        summ = (f'<a href="{html.escape(prog)}/index.html">{i18n.t("summary_link", language)}</a> · '
                if (path.parent / "index.html").exists() else "")
        lang, title = data.get("language", "en"), html.escape(data.get("title", prog))
        if lang != language:          # the programme's own title, marked with its language
            title = f'<span lang="{html.escape(lang)}">{title}</span>'
        links.append(f"<li><b>{title}</b> — "
                     f"{summ}{nbs} <small>({i18n.t('prov_params', language)} sha256 "
                     f"{html.escape(prov.get('params_sha256', '')[:12])}…, "
                     f"{i18n.t('prov_rendered', language)} {html.escape(prov.get('rendered_at', ''))})"
                     "</small></li>")
    return links


def _index_table(table, language: str) -> str:
    if not len(table):
        return f"<p>{i18n.t('no_estimates', language)}</p>"
    t = table.copy()
    to = i18n.t("to", language)
    t["estimate (95% CI)"] = [f"{i18n.significant(e, 3, language)} ({i18n.significant(lo, 3, language)} "
                              f"{to} {i18n.significant(hi, 3, language)})"
                              for e, lo, hi in zip(t.estimate, t.ci_low, t.ci_high)]
    t["headline"] = t["headline"].map({True: "★", False: ""})
    t = t.sort_values(["programme", "headline", "notebook", "key"],
                      ascending=[True, False, True, True]).reset_index(drop=True)
    from .report import suppress_counts
    est = list(t["estimate"])
    t = suppress_counts(t[["programme", "headline", "notebook", "key", "outcome",
                           "estimate (95% CI)", "n"]], ["n"], secondary=False)
    n_num = [float(v) if isinstance(v, (int, float)) and v == v else None for v in t["n"]]
    t["n"] = [i18n.format_number(v, language) if v is not None else (raw if isinstance(raw, str) else "–")
              for v, raw in zip(n_num, t["n"])]          # "<5" as the gate wrote it; no n: "–"
    return summary.sortable_table(t, language, numeric={"estimate (95% CI)": est, "n": n_num})


def _write_index(out_root: Path, language: str = "en") -> Path:
    """The index page in ``language``: links, a forest plot of every headline (one row per arm
    of a multi-arm headline) and a sortable table."""
    table = collect_results(out_root)
    datas = [(path, json.loads(path.read_text())) for path in report_results(out_root)]
    forest = summary.forest_figure(summary.index_rows([d for _, d in datas], language), language)
    fig_html = (f"<h2>{i18n.t('index_forest', language)}</h2>{forest}<p><small>"
                f"{i18n.t('index_panels', language)}</small></p>") if forest else ""
    switch = " · ".join(f'<a href="{summary.INDEX_FILES[lang]}" hreflang="{lang}">'
                        f"{html.escape(i18n.LANGUAGE_NAMES[lang])}</a>"
                        for lang in i18n.LANGUAGES if lang != language)
    body = (f"<p><small>{switch}</small></p><h1>{i18n.t('index_title', language)}</h1>"
            f"<ul>{''.join(_index_links(datas, language))}</ul>{fig_html}"
            f"<h2>{i18n.t('index_table', language)}</h2>{_index_table(table, language)}"
            f"<p><small>{i18n.t('index_star', language)}</small></p>{summary.SORT_JS}")
    return atomic_write_text(out_root / summary.INDEX_FILES[language],
                             summary._page(i18n.t("index_title", language), body, language))


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


def _leaves(obj, prefix=""):
    """Flatten every leaf (numbers, text, booleans, null) of a results.json into {path: value}."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_leaves(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def _same(x, y, rtol: float, atol: float) -> bool:
    num = (int, float)
    if isinstance(x, num) and isinstance(y, num) and not isinstance(x, bool) and not isinstance(y, bool):
        if x != x and y != y:            # both NaN
            return True
        return abs(x - y) <= atol + rtol * abs(x)
    return x == y


# -- the visible text of a report page -----------------------------------------------------
_NUMBER = re.compile(r"[-−+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")


class _PageText:
    """Visible text of an exported notebook page, piece by piece, with where each piece is.

    Text in ``<script>``/``<style>`` is skipped; the provenance block (``<details>``) is kept
    apart; each piece carries the nearest heading, table caption and row label, so that a
    difference can be named ("section 'Balance', table 'Balance of baseline covariates', row
    'age'").
    """

    def __init__(self, text: str):
        from html.parser import HTMLParser
        self.pieces: list[tuple[str, str]] = []
        self.provenance = ""
        self.figures = 0
        page = self

        class P(HTMLParser):
            def __init__(self):
                super().__init__(convert_charrefs=True)
                self.skip = 0
                self.details = 0
                self.heading = ""
                self.in_heading = False
                self.caption = ""
                self.in_caption = False
                self.row: list[str] = []
                self.in_row = False

            def handle_starttag(self, tag, attrs):
                if tag in ("script", "style"):
                    self.skip += 1
                elif tag == "details":
                    self.details += 1
                elif tag in ("h1", "h2", "h3", "h4"):
                    self.in_heading, self.heading = True, ""
                elif tag == "caption":
                    self.in_caption, self.caption = True, ""
                elif tag == "table":
                    self.caption = ""
                elif tag == "tr":
                    self.in_row, self.row = True, []
                elif tag == "img":
                    page.figures += 1

            def handle_endtag(self, tag):
                if tag in ("script", "style"):
                    self.skip = max(0, self.skip - 1)
                elif tag == "details":
                    self.details = max(0, self.details - 1)
                elif tag in ("h1", "h2", "h3", "h4"):
                    self.in_heading = False
                elif tag == "caption":
                    self.in_caption = False
                elif tag == "tr":
                    self.in_row = False

            def handle_data(self, data):
                if self.skip:
                    return
                text = " ".join(data.split())
                if not text or text == "¶":
                    return
                if self.details:
                    page.provenance += " " + text
                    return
                if self.in_heading:
                    self.heading = (self.heading + " " + text).strip().rstrip("¶").strip()
                if self.in_caption:
                    self.caption = (self.caption + " " + text).strip()
                where = f"section {self.heading!r}" if self.heading else "page top"
                if self.caption:
                    where += f", table {self.caption!r}"
                if self.in_row:
                    if self.row:
                        where += f", row {self.row[0]!r}"
                    self.row.append(text)
                page.pieces.append((where, text))

        P().feed(text)


def _same_text(a: str, b: str, rtol: float, atol: float) -> bool:
    if a == b:
        return True
    if _NUMBER.sub("#", a) != _NUMBER.sub("#", b):
        return False
    for x, y in zip(_NUMBER.findall(a), _NUMBER.findall(b)):
        try:
            fx = float(x.replace("−", "-").replace(",", ""))
            fy = float(y.replace("−", "-").replace(",", ""))
        except ValueError:
            return False
        if not abs(fx - fy) <= atol + rtol * abs(fx):
            return False
    return True


def compare_pages(stored: str, fresh: str, *, page: str, rtol: float = 1e-6,
                  atol: float = 1e-9) -> list[str]:
    """What differs between the visible text of two renders of one page (numbers, labels)."""
    import difflib
    a, b = _PageText(stored), _PageText(fresh)
    out = []
    sm = difflib.SequenceMatcher(a=[t for _, t in a.pieces], b=[t for _, t in b.pieces],
                                 autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        if op == "replace" and i2 - i1 == j2 - j1:
            for (wa, ta), (_, tb) in zip(a.pieces[i1:i2], b.pieces[j1:j2]):
                if not _same_text(ta, tb, rtol, atol):
                    out.append(f"{page}, {wa}: shown {ta!r}, re-run gives {tb!r}")
            continue
        for w, t in a.pieces[i1:i2]:
            out.append(f"{page}, {w}: shown {t!r}, missing in the re-run")
        for w, t in b.pieces[j1:j2]:
            out.append(f"{page}, {w}: re-run shows {t!r}, missing in the published page")
    if a.figures != b.figures:
        out.append(f"{page}: {a.figures} figure(s) shown, the re-run has {b.figures}")
    return out


def _provenance_stated(page_text: str, prov: dict) -> list[str]:
    """What the page's provenance block should state (from results.json) but does not."""
    p = _PageText(page_text).provenance
    want = {"parameter file hash": prov.get("params_sha256", "")[:16],
            "git commit": prov.get("git_commit", ""),
            "package version": prov.get("package_version", "")}
    want.update({f"data file {k}": f"{k} {v[:16]}" for k, v in prov.get("data_sha256", {}).items()})
    return [f"{name} {value!r}" for name, value in want.items() if value and value not in p]


@dataclass
class CheckResult:
    ok: bool
    messages: list[str]
    differences: list[str] = field(default_factory=list)

    def __str__(self):
        return ("OK: " if self.ok else "FAILED: ") + "\n  ".join(self.messages)


def _check_provenance(prov: dict, params_path: Path, params: Params,
                      strict: bool) -> tuple[list[str], list[str]]:
    """(failures, notes): changed inputs fail; another commit or version is noted (fails if
    ``strict``)."""
    fail, note = [], []
    if file_hash(params_path) != prov["params_sha256"]:
        fail.append(f"parameter file {_rel(params_path)} changed since the report was rendered")
    now = data_hashes(params.data_folder)
    then = prov.get("data_sha256", {})
    for name in sorted(set(now) | set(then)):
        if now.get(name) != then.get(name):
            fail.append(f"data file {name} in {_rel(params.data_folder)} changed "
                        f"(sha256 {then.get(name, 'absent')[:12]} → {now.get(name, 'absent')[:12]})")
    for key, current in (("git_commit", git_commit()), ("package_version", __version__)):
        if prov.get(key) != current:
            (fail if strict else note).append(
                f"{key.replace('_', ' ')}: report rendered with {prov.get(key)!r}, now {current!r}")
    return fail, note


def check(report_dir: str | Path, *, params_path: str | Path | None = None,
          rtol: float = 1e-6, atol: float = 1e-9, strict: bool = False) -> CheckResult:
    """Re-run a published report and compare everything it shows.

    1. Provenance: the parameter file's and the data extracts' hashes against those recorded
       (a changed input is named); the git commit and package version are compared and a
       difference is noted (a failure with ``strict``).  Each HTML page's provenance block must
       state what results.json records.
    2. The report is re-rendered into a temporary folder; every leaf of results.json (numbers
       within ``rtol``/``atol``; labels such as outcome, method and arms exactly) is compared by
       its path.
    3. Every number and label shown in every HTML page is compared with the re-run's page,
       named by page, section, table and row.
    """
    report_dir = Path(report_dir)
    try:
        stored = json.loads((report_dir / "results.json").read_text())
        prov = stored["provenance"]
    except (OSError, ValueError, KeyError) as exc:
        raise RenderError(f"{report_dir} is not a rendered report (results.json with provenance "
                          f"unreadable: {exc})") from None
    params_path = Path(params_path) if params_path else ROOT / prov["params_file"]
    params = load_params(params_path)
    fail, notes = _check_provenance(prov, params_path, params, strict)
    pages = sorted(p.name for p in report_dir.glob("*.html"))
    for name in pages:
        missing = _provenance_stated((report_dir / name).read_text(errors="replace"), prov)
        if missing:
            fail.append(f"{name}: the provenance block does not state the recorded "
                        + ", ".join(missing))
    with tempfile.TemporaryDirectory() as tmp:
        render_one(params_path, out_root=tmp)
        fresh_dir = Path(tmp) / params.programme
        fresh = json.loads((fresh_dir / "results.json").read_text())
        keys = ("notebooks", "headline_result")
        a = _leaves({k: stored.get(k) for k in keys})
        b = _leaves({k: fresh.get(k) for k in keys})
        diffs = []
        for key in sorted(set(a) | set(b)):
            if key not in b:
                diffs.append(f"results.json {key}: missing in re-run")
            elif key not in a:
                diffs.append(f"results.json {key}: new in re-run")
            elif not _same(a[key], b[key], rtol, atol):
                diffs.append(f"results.json {key}: stored {a[key]!r}, re-run {b[key]!r}")
        n_json = len(diffs)
        fresh_pages = sorted(p.name for p in fresh_dir.glob("*.html"))
        for name in sorted(set(pages) | set(fresh_pages)):
            if name not in fresh_pages:
                diffs.append(f"{name}: published, but the plan no longer renders it")
            elif name not in pages:
                diffs.append(f"{name}: rendered by the plan, but not published")
            else:
                diffs += compare_pages((report_dir / name).read_text(errors="replace"),
                                       (fresh_dir / name).read_text(errors="replace"),
                                       page=name, rtol=rtol, atol=atol)
    msgs = list(fail)
    if n_json:
        msgs.append(f"{n_json} number(s) or label(s) differ from results.json")
    if len(diffs) > n_json:
        msgs.append(f"{len(diffs) - n_json} difference(s) in what the HTML pages show")
    msgs += diffs
    if not diffs:
        msgs.append(f"all {len(a)} recorded values and everything shown on {len(pages)} page(s) "
                    f"reproduce (rtol {rtol:g})")
    msgs += [f"note: {n}" for n in notes]
    return CheckResult(not fail and not diffs, msgs, diffs)


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
