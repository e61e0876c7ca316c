"""Where the test session's throwaway databases are created (the admin connection)."""

from __future__ import annotations

import os

ADMIN_URL = os.environ.get(
    "CHURN_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
