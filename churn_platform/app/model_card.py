"""Model card: the one page an approver reads before making a challenger ``production``.

Built for every trained version and logged to its MLflow run (``model_card/model_card.html``);
the challenger notification links to it. One self-contained HTML file (plots embedded as PNG
data URIs, no external assets) with:

* the training data: window (cohort week followed until the as-of week), rows, churns;
* holdout metrics of the new version next to the current production model on the *same*
  holdout customers (Harrell's C, Uno's C, Brier at each horizon, integrated Brier), and the
  lifelines CoxPH and Kaplan-Meier null baselines;
* the validation gate's verdict and reasons;
* calibration at each horizon (predicted vs observed churn by decile of predicted risk, observed
  from Kaplan-Meier within the decile, so censoring is handled);
* survival curves by risk decile (observed Kaplan-Meier vs the model's mean predicted curve);
* the top features by total gain;
* the drift status of the production model's latest monitored week;
* after promotion, who approved it and why (:func:`with_approval`).
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jinja2 import Environment, select_autoescape

from churn_platform.domain.metrics import SurvivalEvaluation, km_survival_at
from churn_platform.io.registry import ModelRegistry
from churn_platform.model.gate import GateResult
from churn_platform.model.train import TrainingResult
from churn_platform.viz.plots import _fig_png

MODEL_CARD_ARTIFACT = "model_card/model_card.html"
APPROVAL_MARKER = "<!-- approval -->"


@dataclass(frozen=True)
class Champion:
    """The production model at training time, evaluated on the challenger's holdout."""

    version: int
    evaluation: SurvivalEvaluation


@dataclass(frozen=True)
class CardContext:
    """Everything the card shows besides the training result itself."""

    model_name: str
    version: int
    run_id: str
    gate: GateResult
    champion: Champion | None = None
    training_window: Mapping[str, str] | None = None
    drift: pd.DataFrame | None = None  # drift_results rows of the latest monitored week


def _png_uri(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode()


def calibration_png(result: TrainingResult) -> bytes:
    """Predicted vs observed P(churn within h) by decile of predicted risk, one panel per h."""
    model, test = result.model, result.test_frame
    contract = model.contract
    pred = model.predict_frame(test)
    d = test[contract.duration_column].to_numpy(float)
    e = test[contract.event_column].to_numpy(int)
    hs = list(model.horizons)
    fig, axes = plt.subplots(1, len(hs), figsize=(3.6 * len(hs), 3.4), squeeze=False)
    for ax, h in zip(axes[0], hs, strict=True):
        p = pred[f"churn_prob_{h}d"].to_numpy(float)
        bins = np.unique(np.quantile(p, np.linspace(0, 1, 11)))
        idx = np.clip(np.searchsorted(bins, p, side="right") - 1, 0, max(len(bins) - 2, 0))
        xs, ys = [], []
        for b in np.unique(idx):
            m = idx == b
            if m.sum() < 10:
                continue
            xs.append(float(p[m].mean()))
            ys.append(float(1.0 - km_survival_at(d[m], e[m], [h])[0]))
        top = max([*xs, *ys, 0.01]) * 1.05
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1)
        ax.plot(xs, ys, marker="o", color="#4C72B0")
        ax.set_title(f"Calibration at {h} days")
        ax.set_xlabel("predicted P(churn)")
        ax.set_ylabel("observed (Kaplan-Meier)")
    return _fig_png(fig)


def survival_by_decile_png(result: TrainingResult) -> bytes:
    """Observed Kaplan-Meier survival (solid) vs mean predicted survival (dashed) per decile."""
    model, test = result.model, result.test_frame
    contract = model.contract
    lph = model.log_partial_hazard(test)
    d = test[contract.duration_column].to_numpy(float)
    e = test[contract.event_column].to_numpy(int)
    t_max = float(np.quantile(d, 0.95))
    grid = np.linspace(0.0, t_max, 60)
    decile = np.clip((pd.Series(lph).rank(pct=True).to_numpy() * 10).astype(int), 0, 9)
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(7, 4))
    for k in range(10):
        m = decile == k
        if m.sum() < 10:
            continue
        colour = cmap(k / 9)
        ax.step(grid, km_survival_at(d[m], e[m], grid), where="post", color=colour)
        pred = np.exp(-np.outer(np.exp(lph[m]), model.baseline.at(grid))).mean(axis=0)
        ax.plot(grid, pred, linestyle="--", color=colour, label=f"decile {k + 1}")
    ax.set_title("Survival by risk decile (solid: observed, dashed: predicted)")
    ax.set_xlabel("days")
    ax.set_ylabel("P(still a customer)")
    ax.legend(fontsize=7, ncol=2)
    return _fig_png(fig)


def importance_png(result: TrainingResult, top: int = 10) -> bytes:
    """Top features by share of total gain."""
    imp = sorted(result.model.feature_importance().items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    fig, ax = plt.subplots(figsize=(6, 0.32 * len(imp) + 1))
    ax.barh([k for k, _ in imp], [v for _, v in imp], color="#4C72B0")
    ax.invert_yaxis()
    ax.set_xlabel("share of total gain")
    ax.set_title("Top features")
    return _fig_png(fig)


def _metrics_rows(
    result: TrainingResult, champion: Champion | None, horizons: Sequence[int]
) -> tuple[list[str], list[list[str]]]:
    evals: dict[str, SurvivalEvaluation] = {
        "this version (xgboost_cox)": result.evaluations["xgboost_cox"]
    }
    if champion is not None:
        evals[f"production v{champion.version}"] = champion.evaluation
    evals["lifelines CoxPH"] = result.evaluations["coxph"]
    evals["Kaplan-Meier null"] = result.evaluations["km_null"]
    header = ["model", "C-index", "Uno's C", *[f"Brier@{h}d" for h in horizons], "IBS"]
    rows = [
        [
            name,
            f"{ev.c_index:.4f}",
            f"{ev.uno_c:.4f}",
            *[f"{ev.brier.get(int(h), float('nan')):.4f}" for h in horizons],
            f"{ev.ibs:.4f}",
        ]
        for name, ev in evals.items()
    ]
    return header, rows


_TEMPLATE = (
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Model card: {{ name }} v{{ version }}</title>
<style>
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 24px 32px;
       color: #222; max-width: 1100px; }
h1 { margin-bottom: 0; } .sub { color: #666; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #c62828; font-weight: 600; }
.grid { display: flex; flex-wrap: wrap; gap: 16px; } img { max-width: 100%; }
section { margin-bottom: 18px; }
</style></head><body>
<h1>{{ name }} v{{ version }}</h1>
<p class="sub">MLflow run {{ run_id }} &middot; card generated {{ generated }}</p>
<section><h2>Training data</h2>
<table>{% for k, v in training %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}</table>
</section>
<section><h2>Holdout metrics vs the current champion</h2>
<p>Same holdout customers for every model (a stable hash of customer ids).</p>
<table><tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}
</table>
<p>Validation gate: <span class="{{ 'pass' if gate_passed else 'fail' }}">
{{ 'passed' if gate_passed else 'failed' }}</span></p>
<ul>{% for r in gate_reasons %}<li>{{ r }}</li>{% endfor %}</ul>
</section>
<section><h2>Calibration at each horizon</h2><img src="{{ calibration }}" alt="calibration">
</section>
<section><h2>Survival curves by risk decile</h2><div class="grid">
<img src="{{ survival }}" alt="survival by decile">
<img src="{{ importance }}" alt="top features"></div></section>
<section><h2>Drift status</h2><p>{{ drift_summary }}</p>
{% if drift_rows %}<table><tr><th>column</th><th>test</th><th>effect</th><th>p-value</th>
<th>breached</th></tr>{% for r in drift_rows %}<tr>{% for c in r %}<td>{{ c }}</td>
{% endfor %}</tr>{% endfor %}</table>{% endif %}</section>
<section><h2>Approval</h2>
"""
    + APPROVAL_MARKER
    + """
<p>Pending: a named human approves with <code>churn-platform promote --version {{ version }}
--approver NAME</code> or the Dagster <code>promote_model_job</code>.</p>
</section></body></html>
"""
)


def build_model_card(result: TrainingResult, card: CardContext) -> str:
    """The model card as one self-contained HTML document."""
    horizons = list(result.model.horizons)
    header, rows = _metrics_rows(result, card.champion, horizons)
    training: list[tuple[str, str]] = [(k, str(v)) for k, v in (card.training_window or {}).items()]
    training += [
        (
            "training rows (fit / early-stopping / holdout)",
            f"{result.n_train:,} / {result.n_validation:,} / {result.n_test:,}",
        ),
        ("churns in training", f"{result.n_events_train:,}"),
        ("boosting rounds", str(result.model.best_iteration + 1)),
        ("horizons (days)", ", ".join(str(h) for h in horizons)),
    ]
    drift_rows: list[list[str]] = []
    if card.drift is None or card.drift.empty:
        drift_summary = "No drift results yet (no monitored week)."
    else:
        latest = card.drift[card.drift["week"] == card.drift["week"].max()]
        breached = sorted(latest.loc[latest["breached"].astype(bool), "column_name"].astype(str))
        version = latest["model_version"].dropna()
        who = f"production v{int(version.iloc[0])}" if not version.empty else "production"
        drift_summary = f"Week {latest['week'].iloc[0]} ({who}): " + (
            f"drift breached on {', '.join(breached)}." if breached else "no breach."
        )
        shown = latest.sort_values("effect", ascending=False).head(8)
        drift_rows = [
            [
                str(r.column_name),
                str(r.test),
                f"{r.effect:.3f}",
                f"{r.p_value:.2g}",
                str(r.breached),
            ]
            for r in shown.itertuples()
        ]
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    return env.from_string(_TEMPLATE).render(
        name=card.model_name,
        version=card.version,
        run_id=card.run_id,
        generated=datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        training=training,
        header=header,
        rows=rows,
        gate_passed=card.gate.passed,
        gate_reasons=list(card.gate.reasons),
        calibration=_png_uri(calibration_png(result)),
        survival=_png_uri(survival_by_decile_png(result)),
        importance=_png_uri(importance_png(result)),
        drift_summary=drift_summary,
        drift_rows=drift_rows,
    )


def with_approval(card_html: str, approver: str, reason: str, when: datetime) -> str:
    """The card after promotion: records who approved the version, when and why."""
    if APPROVAL_MARKER not in card_html:
        raise ValueError("not a model card (approval marker missing)")
    block = (
        f'<p class="pass">Promoted to production by {html_lib.escape(approver)} on '
        f"{when.astimezone().strftime('%Y-%m-%d %H:%M %Z')}.</p>"
        f"<p>Reason: {html_lib.escape(reason)}</p>"
    )
    head, tail = card_html.split(APPROVAL_MARKER, 1)
    end = tail.find("</section>")
    return head + APPROVAL_MARKER + block + tail[end:]


def publish_model_card(registry: ModelRegistry, result: TrainingResult, card: CardContext) -> str:
    """Render the card, log it to the version's MLflow run and return its artifact URI."""
    html = build_model_card(result, card)
    registry.log_artifact_bytes(card.run_id, html.encode(), MODEL_CARD_ARTIFACT)
    return model_card_uri(registry, card.run_id)


def model_card_uri(registry: ModelRegistry, run_id: str) -> str:
    """Where the card of a run lives in the MLflow artifact store."""
    return registry.artifact_uri(run_id, MODEL_CARD_ARTIFACT)


def record_approval(
    registry: ModelRegistry, run_id: str, approver: str, reason: str, when: datetime
) -> str:
    """After a promotion: add the approver and reason to the run's card and re-log it."""
    card_html = registry.read_artifact_text(run_id, MODEL_CARD_ARTIFACT)
    updated = with_approval(card_html, approver, reason, when)
    registry.log_artifact_bytes(run_id, updated.encode(), MODEL_CARD_ARTIFACT)
    return model_card_uri(registry, run_id)
