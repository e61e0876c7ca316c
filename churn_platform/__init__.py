"""churn_platform: weekly batch churn scoring with survival models.

Dagster assets load customer features, score them with the MLflow model that holds the
``production`` alias, write predictions with lineage to PostgreSQL, and monitor drift and
delayed-label performance to trigger retraining.
"""

__version__ = "0.1.0"
