"""Test-session set-up shared by the package tests and the nbval notebook checks.

The notebooks' default parameters read ``data/synthetic/<programme>/``; when notebooks are
collected, the synthetic extracts are generated (deterministically, from the seeds in
params/*.yaml) if they are absent, so a fresh clone can run ``make test`` with no other step.
"""


def pytest_collection_modifyitems(session, config, items):
    if not any(str(getattr(item, "path", "")).endswith(".ipynb") for item in items):
        return
    from evaluation.params import ROOT, load_params
    from evaluation.render import ensure_data
    for f in sorted((ROOT / "params").glob("*.yaml")):
        ensure_data(load_params(f))
