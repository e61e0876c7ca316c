"""MLflow "models from code" entry point for the churn model (see ``pyfunc.py``)."""

from mlflow.models import set_model

from churn_platform.model.pyfunc import ChurnPyfunc

set_model(ChurnPyfunc())
