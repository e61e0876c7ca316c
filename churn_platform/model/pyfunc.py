"""The MLflow pyfunc flavour of the churn model.

One class serves batch scoring, the CLI and any MLflow consumer: given a DataFrame of contract
features it returns ``risk_score`` (hazard ratio, higher = churns sooner), ``churn_prob_<h>d``
for every horizon the model was trained with and, when asked with ``params={"top_drivers": k}``,
a JSON list of each customer's top risk drivers.

It is logged "from code" (``churn_model.py`` next to this file) so that loading never unpickles
a Python object: the booster, baseline and contract travel as plain artifact files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from churn_platform.model.xgb_cox import XGBCoxModel

MODEL_DIR_ARTIFACT = "model_dir"
MODEL_CODE = Path(__file__).resolve().with_name("churn_model.py")
"""The "models from code" module MLflow logs and runs at load time."""


class ChurnPyfunc(PythonModel):
    """Survival churn model: risk score + churn probabilities at horizons (+ top drivers)."""

    def __init__(self) -> None:
        self.model: XGBCoxModel | None = None

    def load_context(self, context: Any) -> None:
        self.model = XGBCoxModel.load(Path(context.artifacts[MODEL_DIR_ARTIFACT]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        if self.model is None:  # pragma: no cover - MLflow always calls load_context first
            self.load_context(context)
        assert self.model is not None
        top = int((params or {}).get("top_drivers", 0) or 0)
        return self.model.predict_frame(model_input, top_drivers=top)
