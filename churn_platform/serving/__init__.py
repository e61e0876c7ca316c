"""Optional real-time scoring endpoint (FastAPI + uvicorn) over the ``production`` model."""

from churn_platform.serving.app import MAX_CUSTOMERS, create_app, request_model_for

__all__ = ["MAX_CUSTOMERS", "create_app", "request_model_for"]
