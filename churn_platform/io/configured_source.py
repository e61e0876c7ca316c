"""Bring-your-own data: a company's customer table behind the same interface as the simulator.

The data-source YAML (see ``configs/``) names the table or file, the id/duration/event columns
and the feature columns. The contract (feature types, category levels) is inferred once from the
whole source and then enforced on every weekly snapshot, so a level that appears later is
reported instead of silently becoming a new feature value.

Scope: the source table holds, per snapshot week (``week_column``), each customer's features and
the duration/churn flag as known at that snapshot. Labels for the delayed evaluation of an old
cohort are the later snapshot's duration/event of the same customers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from churn_platform.domain.mapping import DataSourceConfig, apply_mapping
from churn_platform.domain.schema import FeatureContract
from churn_platform.io.sources import load_data_config, read_source


@dataclass(frozen=True)
class ByoSource:
    config: DataSourceConfig

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def from_path(path: str) -> ByoSource:
        return ByoSource(load_data_config(Path(path)))

    @functools.cached_property
    def contract(self) -> FeatureContract:
        _, contract = apply_mapping(
            read_source(self.config), self.config.columns, self.config.policies
        )
        return contract

    def _mapped(self, week: date | None) -> pd.DataFrame:
        frame, _ = apply_mapping(
            read_source(self.config, week),
            self.config.columns,
            self.config.policies,
            contract=self.contract,
        )
        return frame

    def features_for_week(self, week: date) -> pd.DataFrame:
        frame = self._mapped(week)
        return frame[[self.contract.id_column, *self.contract.feature_names]]

    def training_frame(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        """Features of ``cohort_week`` with targets as known in the ``as_of`` snapshot."""
        features = self.features_for_week(cohort_week)
        return features.merge(
            self.labels_for_cohort(cohort_week, as_of), on=self.contract.id_column
        )

    def labels_for_cohort(self, cohort_week: date, as_of: date) -> pd.DataFrame:
        c = self.contract
        later = self._mapped(as_of if self.config.source.week_column else None)
        cohort_ids = self.features_for_week(cohort_week)[[c.id_column]]
        labels = cohort_ids.merge(
            later[[c.id_column, c.duration_column, c.event_column]], on=c.id_column
        )
        return labels
