"""churn_platform: weekly batch churn scoring with survival models.

Dagster assets load customer features, score them with the MLflow model that holds the
``production`` alias, write predictions with lineage to PostgreSQL, and monitor drift and
delayed-label performance to trigger retraining.
"""

import os

# OpenMP threads that spin while waiting are catastrophic on small, shared machines (measured
# 15x slower XGBoost training on 2 busy cores). Must be set before xgboost loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _numba_cache() -> None:
    """Point numba's kernel cache at a writable folder before any ``@njit(cache=True)`` kernel
    is defined (numba picks the cache location at decoration time): the package folder when
    writable, else under the platform home (read-only Docker root filesystem)."""
    from churn_platform.runtime import numba_cache_dir
    from churn_platform.settings import Settings

    folder = numba_cache_dir(Settings.from_env())
    if folder is not None:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(folder))


_numba_cache()

__version__ = "0.1.0"
