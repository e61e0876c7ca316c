"""The real-time endpoint over real HTTP on loopback, against a real MLflow registry."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from churn_platform.app.training import train_and_register
from churn_platform.domain.schema import DEFAULT_CONTRACT
from churn_platform.io.registry import CHALLENGER, PRODUCTION, ModelRegistry
from churn_platform.model.train import TrainConfig
from churn_platform.model.xgb_cox import plain_features
from churn_platform.serving import MAX_CUSTOMERS, create_app
from churn_platform_tests.support.serving import (
    AUTH,
    TEST_API_KEY,
    LiveServer,
    customers,
    live_server,
    new_registry,
)

TIMEOUT = 30


def post(server: LiveServer, body: Any) -> requests.Response:
    return requests.post(f"{server.url}/v1/score", json=body, headers=AUTH, timeout=TIMEOUT)


def test_valid_request_matches_the_loaded_model(
    server: LiveServer, served_registry: ModelRegistry, frame: pd.DataFrame
) -> None:
    body = {"customers": customers(frame, 50), "top_drivers": 3}
    resp = post(server, body)
    assert resp.status_code == 200, resp.text
    payload = resp.json()
    loaded = served_registry.load(PRODUCTION)
    assert payload["model"] == {
        "name": served_registry.model_name,
        "version": loaded.version,
        "run_id": loaded.run_id,
        "alias": PRODUCTION,
    }
    expected = loaded.predict(plain_features(frame.head(50), DEFAULT_CONTRACT), top_drivers=3)
    got = pd.DataFrame(payload["predictions"])
    assert list(got["customer_id"]) == [c["customer_id"] for c in body["customers"]]
    cols = ["risk_score", "churn_prob_30d", "churn_prob_90d", "churn_prob_180d"]
    np.testing.assert_allclose(got[cols].to_numpy(), expected[cols].to_numpy(), rtol=1e-12)
    assert list(got["top_drivers"]) == [json.loads(d) for d in expected["top_drivers"]]
    assert all(isinstance(d, list) and len(d) <= 3 for d in got["top_drivers"])
    # top_drivers defaults to 3; 0 gives empty lists
    none = post(server, {"customers": body["customers"][:2], "top_drivers": 0}).json()
    assert [p["top_drivers"] for p in none["predictions"]] == [[], []]


def _bad(frame: pd.DataFrame, mutate: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"customers": customers(frame, 3)}
    mutate(body)
    return body


BAD_INPUTS: list[tuple[str, Any, list[Any], str]] = [
    (
        "missing_field",
        lambda b: b["customers"][1].pop("monthly_charges"),
        ["body", "customers", 1, "monthly_charges"],
        "missing",
    ),
    (
        "missing_customer_id",
        lambda b: b["customers"][0].pop("customer_id"),
        ["body", "customers", 0, "customer_id"],
        "missing",
    ),
    (
        "wrong_type_text_in_numeric",
        lambda b: b["customers"][2].__setitem__("tenure_days", "12"),
        ["body", "customers", 2, "tenure_days"],
        "float_type",
    ),
    (
        "wrong_type_fraction_in_integer",
        lambda b: b["customers"][0].__setitem__("support_calls_90d", 1.5),
        ["body", "customers", 0, "support_calls_90d"],
        "int_type",
    ),
    (
        "out_of_range_high",
        lambda b: b["customers"][0].__setitem__("monthly_charges", 250.0),
        ["body", "customers", 0, "monthly_charges"],
        "less_than_equal",
    ),
    (
        "out_of_range_low",
        lambda b: b["customers"][1].__setitem__("num_products", 0),
        ["body", "customers", 1, "num_products"],
        "greater_than_equal",
    ),
    (
        "unknown_category",
        lambda b: b["customers"][0].__setitem__("contract", "three-year"),
        ["body", "customers", 0, "contract"],
        "literal_error",
    ),
    (
        "extra_field",
        lambda b: b["customers"][2].__setitem__("favourite_colour", "blue"),
        ["body", "customers", 2, "favourite_colour"],
        "extra_forbidden",
    ),
    (
        "empty_list",
        lambda b: b.__setitem__("customers", []),
        ["body", "customers"],
        "too_short",
    ),
    (
        "too_many_top_drivers",
        lambda b: b.__setitem__("top_drivers", 99),
        ["body", "top_drivers"],
        "less_than_equal",
    ),
    (
        "extra_top_level_field",
        lambda b: b.__setitem__("model", "mine"),
        ["body", "model"],
        "extra_forbidden",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "loc", "error_type"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_422_naming_the_field(
    server: LiveServer, frame: pd.DataFrame, mutate: Any, loc: list[Any], error_type: str
) -> None:
    resp = post(server, _bad(frame, mutate))
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert [(e["loc"], e["type"]) for e in detail] == [(loc, error_type)], detail


def test_non_json_and_too_many_customers_are_refused(
    server: LiveServer, frame: pd.DataFrame
) -> None:
    resp = requests.post(
        f"{server.url}/v1/score",
        data=b"{not json",
        headers={"content-type": "application/json", **AUTH},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["type"] == "json_invalid"
    one = customers(frame, 1)[0]
    resp = post(server, {"customers": [one] * (MAX_CUSTOMERS + 1)})
    assert resp.status_code == 422
    assert [(e["loc"], e["type"]) for e in resp.json()["detail"]] == [
        (["body", "customers"], "too_long")
    ]


def test_schema_healthz_and_metrics(server: LiveServer, served_registry: ModelRegistry) -> None:
    schema = requests.get(f"{server.url}/v1/schema", headers=AUTH, timeout=TIMEOUT).json()
    customer = schema["$defs"]["Customer"]
    assert set(customer["required"]) == {"customer_id", *DEFAULT_CONTRACT.feature_names}
    assert customer["additionalProperties"] is False
    assert customer["properties"]["monthly_charges"]["maximum"] == 200.0
    assert customer["properties"]["region"]["enum"] == ["north", "south", "east", "west"]

    health = requests.get(f"{server.url}/healthz", timeout=TIMEOUT)
    assert health.status_code == 200
    version = int(served_registry.version_for_alias(PRODUCTION).version)  # type: ignore[union-attr]
    assert health.json()["model_version"] == version
    assert health.json()["model_name"] == served_registry.model_name

    metrics = requests.get(f"{server.url}/metrics", headers=AUTH, timeout=TIMEOUT)
    assert metrics.status_code == 200
    text = metrics.text
    assert (
        f'churn_realtime_model_version{{alias="production",model_name="{served_registry.model_name}"}}'
        f" {float(version)}" in text
    )
    assert 'churn_realtime_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'churn_realtime_request_seconds_bucket{le="0.001",route="/healthz"}' in text
    assert "churn_realtime_model_loaded 1.0" in text


def test_no_production_model_is_503_until_one_is_promoted(
    pg_url: str, mlflow_tracking_uri: str, frame: pd.DataFrame
) -> None:
    registry = new_registry(pg_url, mlflow_tracking_uri)
    with live_server(create_app(registry, api_key=TEST_API_KEY, refresh_seconds=0.0)) as live:
        health = requests.get(f"{live.url}/healthz", timeout=TIMEOUT)
        assert health.status_code == 503
        assert "@production" in health.json()["error"]
        resp = post(live, {"customers": customers(frame, 1)})
        assert resp.status_code == 503
        outcome = train_and_register(
            frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20)
        )
        registry.promote(outcome.version, approver="test", reason="first model")
        resp = post(live, {"customers": customers(frame, 1)})
        assert resp.status_code == 200, resp.text
        assert resp.json()["model"]["version"] == outcome.version


def test_model_reloads_when_the_production_alias_moves(
    pg_url: str, mlflow_tracking_uri: str, frame: pd.DataFrame
) -> None:
    registry = new_registry(pg_url, mlflow_tracking_uri)
    first = train_and_register(frame, DEFAULT_CONTRACT, registry, config=TrainConfig(min_events=20))
    registry.promote(first.version, approver="test", reason="v1")
    body = {"customers": customers(frame, 20)}
    with live_server(create_app(registry, api_key=TEST_API_KEY, refresh_seconds=0.1)) as live:
        before = post(live, body).json()
        assert before["model"]["version"] == first.version

        # a second version, trained differently, goes through challenger -> production
        second = train_and_register(
            frame.sample(frac=0.7, random_state=1),
            DEFAULT_CONTRACT,
            registry,
            config=TrainConfig(min_events=20, seed=1, max_depth=2),
        )
        if not second.became_challenger:  # the gate may prefer v1; the test is about the swap
            registry.set_alias(CHALLENGER, second.version, changed_by="test", reason="reload")
        registry.promote(second.version, approver="test", reason="v2")

        deadline = time.monotonic() + 30
        after = before
        while after["model"]["version"] != second.version and time.monotonic() < deadline:
            time.sleep(0.15)
            after = post(live, body).json()
        assert after["model"]["version"] == second.version
        assert after["model"]["run_id"] == second.run_id
        expected = registry.load(PRODUCTION).predict(
            plain_features(frame.head(20), DEFAULT_CONTRACT)
        )
        np.testing.assert_allclose(
            [p["churn_prob_90d"] for p in after["predictions"]],
            expected["churn_prob_90d"].to_numpy(),
            rtol=1e-12,
        )
        assert [p["risk_score"] for p in after["predictions"]] != [
            p["risk_score"] for p in before["predictions"]
        ]
        health = requests.get(f"{live.url}/healthz", timeout=TIMEOUT).json()
        assert health["model_version"] == second.version
        metrics = requests.get(f"{live.url}/metrics", headers=AUTH, timeout=TIMEOUT).text
        assert 'churn_realtime_model_reloads_total{outcome="loaded"} 2.0' in metrics


# --------------------------------------------------------------------------------------------
# Access and content type
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": ""},
        {"X-API-Key": TEST_API_KEY[:-1]},
        {"X-API-Key": TEST_API_KEY + "x"},
        {"X-API-Key": TEST_API_KEY.upper()},
        {"Authorization": f"Basic {TEST_API_KEY}"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "empty", "prefix", "longer", "case", "basic-scheme", "bearer-empty"],
)
def test_every_route_but_healthz_needs_the_api_key(
    server: LiveServer, frame: pd.DataFrame, headers: dict[str, str]
) -> None:
    body = {"customers": customers(frame, 1)}
    for method, path in [("POST", "/v1/score"), ("GET", "/v1/schema"), ("GET", "/metrics")]:
        resp = requests.request(
            method, f"{server.url}{path}", json=body, headers=headers, timeout=TIMEOUT
        )
        assert resp.status_code == 401, (path, resp.text)
        assert "X-API-Key" in resp.json()["detail"]
        assert TEST_API_KEY not in resp.text
    assert (
        requests.get(f"{server.url}/healthz", headers=headers, timeout=TIMEOUT).status_code == 200
    )


def test_bearer_token_is_accepted_as_the_key(server: LiveServer, frame: pd.DataFrame) -> None:
    resp = requests.post(
        f"{server.url}/v1/score",
        json={"customers": customers(frame, 1)},
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None],
)
def test_only_json_bodies_are_scored(
    server: LiveServer, frame: pd.DataFrame, content_type: str | None
) -> None:
    headers = dict(AUTH)
    if content_type is not None:
        headers["content-type"] = content_type
    resp = requests.post(
        f"{server.url}/v1/score",
        data=json.dumps({"customers": customers(frame, 1)}).encode(),
        headers=headers,
        timeout=TIMEOUT,
    )
    assert resp.status_code == 415, resp.text
    ok = requests.post(
        f"{server.url}/v1/score",
        data=json.dumps({"customers": customers(frame, 1)}).encode(),
        headers={**AUTH, "content-type": "application/json; charset=utf-8"},
        timeout=TIMEOUT,
    )
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("customer_id", [2**63, -(2**63) - 1, 10**30, True, 1.0, "7"])
def test_customer_id_must_fit_the_tables_bigint(
    server: LiveServer, frame: pd.DataFrame, customer_id: Any
) -> None:
    record = customers(frame, 1)[0]
    record["customer_id"] = customer_id
    resp = post(server, {"customers": [record]})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"] == ["body", "customers", 0, "customer_id"]
    for edge in (2**63 - 1, -(2**63)):
        record["customer_id"] = edge
        ok = post(server, {"customers": [record]})
        assert ok.status_code == 200 and ok.json()["predictions"][0]["customer_id"] == edge


def test_the_app_refuses_to_start_without_a_key(
    served_registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from churn_platform.errors import ConfigurationError

    monkeypatch.delenv("CHURN_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="CHURN_API_KEY"):
        create_app(served_registry)
    with pytest.raises(ConfigurationError, match="shorter"):
        create_app(served_registry, api_key="short")
    monkeypatch.setenv("CHURN_API_KEY", TEST_API_KEY)
    assert create_app(served_registry) is not None
