"""One survival convention for every model: right-continuous steps between event times."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.model.train import TrainConfig, fit_coxph


def test_coxph_survival_is_a_step_at_the_last_event_time(small_frame: pd.DataFrame) -> None:
    train = small_frame.iloc[:3000]
    coxph = fit_coxph(train, DEFAULT_CONTRACT, TrainConfig(nthread=1))
    rows = small_frame.iloc[3000:3200]
    # a horizon strictly between two observed days, the later one a churn day: lifelines
    # interpolates H0 towards that churn, the step stays at the earlier day's value
    days = np.sort(train["duration_days"].unique())
    churn_days = set(train.loc[train["event"] == 1, "duration_days"])
    k = next(i for i in range(len(days) // 2, len(days)) if days[i] in churn_days)
    before, mid = float(days[k - 1]), float(days[k - 1] + days[k]) / 2
    lifelines_at_event = coxph.fitter.predict_survival_function(
        coxph.design(rows), times=[before]
    ).loc[before]
    lifelines_interpolated = coxph.fitter.predict_survival_function(
        coxph.design(rows), times=[mid]
    ).loc[mid]
    ours_at_event = coxph.baseline.survival(coxph.log_partial_hazard(rows), before)
    ours_mid = coxph.baseline.survival(coxph.log_partial_hazard(rows), mid)
    # at an observed day the step equals lifelines' own value
    np.testing.assert_allclose(ours_at_event, lifelines_at_event.to_numpy(), rtol=1e-10)
    # between event times the step stays at the last event time; lifelines interpolates
    np.testing.assert_allclose(ours_mid, ours_at_event, rtol=1e-14)
    assert np.max(np.abs(lifelines_interpolated.to_numpy() - ours_mid)) > 1e-6
    # churn_probabilities at whole-day horizons use the same step
    h = int(np.ceil(mid))
    np.testing.assert_allclose(
        coxph.churn_probabilities(rows, [h])[h],
        1.0 - coxph.baseline.survival(coxph.log_partial_hazard(rows), float(h)),
    )
