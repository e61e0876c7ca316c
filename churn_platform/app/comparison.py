"""Two model versions on the same customers: did the retrain learn the new world?

The question after a drift is not "is the new version good on its own holdout" but "does it rank
the customers we score now better than the version it replaced". This use case takes one scoring
week (a cohort), keeps the customers neither version trained on (the stable hash holdout every
training run uses), follows them until ``as_of`` (censored where the outcome is not known yet)
and scores them with both versions: C-index of each with its bootstrap interval, and the paired
bootstrap interval of the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pandas as pd

from churn_platform.domain.bootstrap import PairedComparison, paired_c_index
from churn_platform.domain.schema import FeatureContract
from churn_platform.io.registry import ModelRegistry
from churn_platform.model.train import holdout_mask


@dataclass(frozen=True)
class VersionComparison:
    """``old`` vs ``new`` on the held-out customers of ``cohort_week`` followed to ``as_of``."""

    cohort_week: date
    as_of: date
    old_version: int
    new_version: int
    result: PairedComparison

    def describe(self) -> str:
        return f"cohort {self.cohort_week} followed to {self.as_of}: " + self.result.describe(
            f"v{self.old_version}", f"v{self.new_version}"
        )


def compare_versions_on_cohort(
    registry: ModelRegistry,
    contract: FeatureContract,
    training_frame: Callable[[date, date], pd.DataFrame],
    cohort_week: date,
    as_of: date,
    old_version: int,
    new_version: int,
    *,
    holdout_fraction: float = 0.25,
    seed: int = 0,
    resamples: int = 500,
) -> VersionComparison:
    """Paired comparison of two registered versions on one cohort's held-out customers.

    ``training_frame(cohort_week, as_of)`` returns the cohort's features with the survival
    target known on ``as_of`` (the data source's own method). ``holdout_fraction``/``seed``
    must match the training runs' (defaults do), so no compared customer was trained on.
    """
    frame = contract.validate(training_frame(cohort_week, as_of), with_target=True)
    held = frame[holdout_mask(frame[contract.id_column], holdout_fraction, seed)]
    features = held[list(contract.feature_names)]
    old = registry.load_version(old_version).predict(features)["risk_score"]
    new = registry.load_version(new_version).predict(features)["risk_score"]
    result = paired_c_index(
        held[contract.duration_column].to_numpy(float),
        held[contract.event_column].to_numpy(int),
        old.to_numpy(float),
        new.to_numpy(float),
        resamples=resamples,
        seed=seed,
    )
    return VersionComparison(cohort_week, as_of, old_version, new_version, result)
