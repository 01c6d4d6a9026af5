"""overview: trajectories and outcome means from a Panel (engine aggregates over the panel files)
equal those computed from the person-month frame in pandas."""
from __future__ import annotations

import pandas as pd
import pytest

from evaluation import overview, synthetic
from evaluation.panel import build_panel


@pytest.fixture(scope="module")
def panel():
    return build_panel(synthetic.generate("alna_aktiv", n_persons=600, seed=2).extracts)


@pytest.mark.parametrize("by", ["arm", "office"])
@pytest.mark.parametrize("time", ["month", "event_time"])
def test_trajectories_from_the_engine_equal_pandas(panel, by, time):
    a = overview.trajectories(panel.data, "on_social_assistance", by=by, time=time)
    b = overview.trajectories(panel, "on_social_assistance", by=by, time=time)
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)


@pytest.mark.parametrize("by", ["arm", "office"])
def test_outcome_means_from_the_engine_equal_pandas(panel, by):
    outs = ["on_social_assistance", "employed", "earnings"]
    pd.testing.assert_frame_equal(overview.outcome_means(panel.data, outs, by=by),
                                  overview.outcome_means(panel, outs, by=by), rtol=1e-12)


def test_describe_by_from_the_person_table_equals_the_panel_rows(panel):
    pd.testing.assert_frame_equal(overview.describe_by(panel.data, "arm"),
                                  overview.describe_by(panel.persons(), "arm"))
