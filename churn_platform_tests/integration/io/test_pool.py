"""One bounded pool per process and database, shared by every store; settings and bootstrap."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from churn_platform.defs.resources import WarehouseResource, build_resources
from churn_platform.errors import StorageError
from churn_platform.io.db import Database, database_for
from churn_platform.io.predictions import PredictionsRepository
from churn_platform.io.results import AliasHistory, DriftStore, EvaluationStore
from churn_platform.runtime import numba_cache_dir
from churn_platform.settings import Settings


def _backends(engine: sa.Engine, application: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
                {"a": application},
            ).scalar_one()
        )


def test_every_store_on_a_url_shares_the_process_pool(pg_url: str) -> None:
    schema = f"pool_{uuid.uuid4().hex[:8]}"
    db = database_for(pg_url)
    assert database_for(pg_url) is db
    stores = [
        PredictionsRepository(pg_url, schema),
        EvaluationStore(pg_url, schema),
        DriftStore(db, schema),
        AliasHistory(db.engine, schema),
    ]
    assert {id(s.engine) for s in stores} == {id(db.engine)}
    engine = db.engine
    db.dispose()  # teardown keeps the engine (a fresh pool), so holders still share it
    assert db.engine is engine
    assert stores[1].read().empty


def test_the_pool_never_opens_more_than_its_bound(pg_url: str) -> None:
    app = f"bound_{uuid.uuid4().hex[:8]}"
    url = sa.make_url(pg_url).update_query_dict({"application_name": app})
    db = Database(url, pool_size=1, max_overflow=1)
    barrier = threading.Barrier(6)
    seen: list[int] = []

    def work() -> None:
        barrier.wait()
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_sleep(0.3)"))
            seen.append(_backends(database_for(pg_url).engine, app))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 6  # all six finished: the others waited for a free connection
    assert max(seen) <= db.max_connections == 2
    db.dispose()


def test_resources_refuse_to_start_servers_when_not_configured(tmp_path: Path) -> None:
    resources = build_resources(Settings(home=tmp_path), as_env_vars=False)
    with pytest.raises(StorageError, match="DATABASE_URL"):
        resources["warehouse"].predictions()
    with pytest.raises(StorageError, match="MLFLOW_TRACKING_URI"):
        resources["mlflow_resource"].registry()
    with pytest.raises(StorageError, match="CHURN_ARTIFACT_ROOT"):
        resources["artifacts"].store()
    assert not (tmp_path / "pgdata").exists()


def test_build_resources_takes_bounds_and_overrides_from_settings(pg_url: str) -> None:
    settings = Settings(database_url=pg_url, db_pool_size=3, db_max_overflow=1)
    custom = WarehouseResource(database_url=pg_url, db_schema="other")
    resources = build_resources(settings, as_env_vars=False)
    assert resources["warehouse"].pool_size == 3 and resources["warehouse"].max_overflow == 1
    assert build_resources(settings, warehouse=custom)["warehouse"] is custom


def test_settings_read_the_environment_and_name_bad_integers() -> None:
    env = {"DATABASE_URL": "postgresql://h/db", "CHURN_DB_POOL_SIZE": "4", "CHURN_HOME": "/x"}
    s = Settings.from_env(env)
    assert s.database_url == "postgresql://h/db" and s.db_pool_size == 4
    assert s.home == Path("/x") and "DATABASE_URL" in s.from_environment
    assert s.needs_embedded_postgres  # no MLflow store configured
    with pytest.raises(ValueError, match="CHURN_DB_MAX_OVERFLOW"):
        Settings.from_env({"CHURN_DB_MAX_OVERFLOW": "many"})


def test_numba_cache_goes_under_home_when_configured(tmp_path: Path) -> None:
    assert numba_cache_dir(Settings(numba_cache_dir=str(tmp_path))) == tmp_path
