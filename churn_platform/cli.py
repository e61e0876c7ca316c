"""``churn-platform``: commands for people (demo, backtest, train, promote, dev).

Errors a user can fix (bad data, missing model, unreachable store) are printed in one red line,
without a traceback, and the command exits with status 2.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from churn_platform.errors import (
    ChurnPlatformError,
    ConfigurationError,
    InvalidActorError,
    safe_text,
)

if TYPE_CHECKING:
    from churn_platform.runtime import Runtime

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


def _bootstrap() -> tuple[Runtime, dict[str, Any]]:
    """Read the environment once, start the embedded PostgreSQL if nothing is configured,
    and build the resource set every command uses (pools are closed at process exit)."""
    from churn_platform.defs.resources import build_resources
    from churn_platform.runtime import bootstrap
    from churn_platform.settings import Settings

    rt = bootstrap(Settings.from_env())
    return rt, build_resources(rt.settings, as_env_vars=False)


def _probe_tracking_store() -> None:
    """Fail in seconds, naming it, when a configured HTTP MLflow server is down (MLflow's own
    client would retry for minutes); run before anything imports MLflow."""
    from churn_platform.io.http_probe import check_tracking_store
    from churn_platform.settings import Settings

    uri = Settings.from_env().mlflow_tracking_uri
    if uri:
        check_tracking_store(uri)


def user_errors(fn: F) -> F:
    """Print ChurnPlatformError as a clean message and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ChurnPlatformError as exc:
            console.print(
                f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}",
                highlight=False,
                soft_wrap=True,  # one line whatever the terminal width
            )
            raise typer.Exit(code=2) from None
        except OSError as exc:  # full or read-only folder, missing path: name it, say the fix
            where = f" ({exc.filename})" if exc.filename else ""
            cause = safe_text(exc.strerror or str(exc), 500).replace("\n", " ")
            console.print(
                f"[bold red]error:[/] {type(exc).__name__}: {escape(cause)}{escape(where)}; "
                "check that the path exists, is writable and its disk has free space",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def _at_least(option: str, value: int, minimum: int) -> None:
    """Refuse a count below ``minimum`` with one line naming the option (exit 2)."""
    if value < minimum:
        raise ConfigurationError(f"{option} must be at least {minimum}, got {value}")


def _named(option: str, text: str) -> str:
    """Refuse a blank or control-character name (approver) with one line naming the option."""
    if not text.strip():
        raise InvalidActorError(f"{option} must name a person, got an empty value")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise InvalidActorError(f"{option} must be printable text (no control characters)")
    return text.strip()


def _writable_file(option: str, path: Path) -> None:
    """Fail before the work when ``path`` cannot be written (missing or read-only folder)."""
    import os

    folder = path.expanduser().resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK) or path.is_dir():
        raise ConfigurationError(
            f"{option} {path}: cannot write there (folder missing or read-only); "
            "choose a writable path"
        )


HORIZONS_HELP = "horizons in days, comma-separated (default: domain.schema.DEFAULT_HORIZONS)"


def _horizons(text: str | None) -> tuple[int, ...]:
    if text is None:
        from churn_platform.domain.schema import DEFAULT_HORIZONS

        return DEFAULT_HORIZONS
    try:
        hs = tuple(sorted({int(x) for x in text.split(",") if x.strip()}))
    except ValueError:
        raise typer.BadParameter(f"horizons must be comma-separated days, got {text!r}") from None
    if not hs or hs[0] <= 0:
        raise typer.BadParameter("horizons must be positive numbers of days")
    return hs


def training_progress(progress: Progress, max_rounds: int) -> Callable[[int, float], None]:
    task = progress.add_task("boosting (early stopping)", total=max_rounds)

    def report(iteration: int, loss: float) -> None:
        progress.update(
            task, completed=iteration + 1, description=f"boosting  val nloglik {loss:.4f}"
        )

    return report


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command()
@user_errors
def backtest(
    data: Annotated[
        Path | None, typer.Option(help="CSV or Parquet file with one row per customer")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="customer id column")] = None,
    duration_column: Annotated[
        str | None, typer.Option(help="time observed (to churn or to censoring)")
    ] = None,
    event_column: Annotated[str | None, typer.Option(help="churn indicator column")] = None,
    data_config: Annotated[
        Path | None,
        typer.Option(help="weekly source YAML (snapshots + labels): stacked past cohorts"),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option(help="with --data-config: train as of this week (default: last)")
    ] = None,
    event_value: Annotated[
        str, typer.Option(help="value of the event column meaning churned")
    ] = "1",
    time_unit: Annotated[str, typer.Option(help="days|weeks|months")] = "days",
    drop_columns: Annotated[str, typer.Option(help="comma-separated columns to ignore")] = "",
    test_size: Annotated[float, typer.Option(min=0.05, max=0.9)] = 0.3,
    seed: int = 0,
    horizons: Annotated[str | None, typer.Option(help=HORIZONS_HELP)] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write metrics as JSON")] = None,
    min_events: Annotated[int, typer.Option(help="refuse to train on fewer churn events")] = 50,
) -> None:
    """Train on part of YOUR data and compare xgboost_cox, coxph and km_null on the rest.

    Either a weekly source (--data-config: past cohorts stacked, labels from the churn events)
    or one file with a duration and an event column per customer (--data and the column flags).
    """
    from churn_platform.app.backtest import run_backtest
    from churn_platform.domain.mapping import apply_mapping, mapping_from_cli
    from churn_platform.io.sources import read_table_file

    if json_out is not None:
        _writable_file("--json", json_out)  # before minutes of training, not after
    hs = _horizons(horizons)
    if data_config is not None:
        from datetime import date

        from churn_platform.app.training_data import load_training_data

        when = date.fromisoformat(as_of) if as_of else None
        frame, contract = load_training_data(data_config, n_customers=0, seed=seed, as_of=when)
        data = data_config
    else:
        if data is None or id_column is None or duration_column is None or event_column is None:
            raise typer.BadParameter(
                "give --data-config FILE, or --data FILE with --id-column, --duration-column "
                "and --event-column"
            )
        raw = read_table_file(data)
        mapping = mapping_from_cli(
            id_column=id_column,
            duration_column=duration_column,
            event_column=event_column,
            event_value=event_value,
            time_unit=time_unit,
            drop_columns=[c.strip() for c in drop_columns.split(",") if c.strip()],
        )
        frame, contract = apply_mapping(raw, mapping)
    console.print(
        f"[dim]{len(frame)} rows (customers x cohort weeks), "
        f"{int(frame[contract.event_column].sum())} churn events, "
        f"{len(contract.features)} features[/]"
    )
    with _progress() as progress:
        report = run_backtest(
            frame,
            contract,
            test_size=test_size,
            seed=seed,
            horizons=hs,
            min_events=min_events,
            progress=training_progress(progress, 2000),
        )
    _print_metrics(
        report.table(),
        f"Backtest on {data.name}: {report.n_train} train / {report.n_test} held out",
    )
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2))
        console.print(f"metrics written to {json_out}")


def _print_metrics(frame: Any, title: str) -> None:
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="left" if col == "model" else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*[v if isinstance(v, str) else f"{v:.4f}" for v in row])
    out.print(table)


@app.command()
@user_errors
def train(
    data_config: Annotated[
        Path | None, typer.Option(help="data source YAML; default: built-in simulator")
    ] = None,
    n_customers: Annotated[int, typer.Option(help="simulator size when no config")] = 20_000,
    seed: int = 0,
    horizons: Annotated[str | None, typer.Option(help=HORIZONS_HELP)] = None,
    changed_by: Annotated[str, typer.Option(help="who/what requested this training")] = "cli",
    request_key: Annotated[
        str | None,
        typer.Option(help="unique key of this request (e.g. the CI run id): recorded once"),
    ] = None,
) -> None:
    """Train, log and register a model; it becomes `challenger` if it passes the gate.

    Recorded in the retrain ledger (it counts for the retraining sensor's cooldown)."""
    from churn_platform.app.retraining import pipeline_request, recorded_training
    from churn_platform.app.training import train_and_register
    from churn_platform.app.training_data import load_training_data
    from churn_platform.defs.resources import WarehouseResource
    from churn_platform.model.train import TrainConfig

    if data_config is None:
        _at_least("--n-customers", n_customers, 1)
    rt, resources = _bootstrap()
    hs = _horizons(horizons)
    frame, contract = load_training_data(data_config, n_customers=n_customers, seed=seed)
    base = resources["warehouse"]
    warehouse = WarehouseResource(  # the same database and pool, with this model's horizons
        database_url=base.database_url,
        db_schema=base.db_schema,
        horizons=list(hs),
        pool_size=base.pool_size,
        max_overflow=base.max_overflow,
    )
    warehouse.setup()
    registry = resources["mlflow_resource"].registry(warehouse)
    request = pipeline_request(request_key, changed_by, "churn-platform train")
    with _progress() as progress:
        outcome = recorded_training(
            warehouse.retrain_ledger(),
            registry.model_name,
            request,
            lambda: train_and_register(
                frame,
                contract,
                registry,
                config=TrainConfig(horizons=hs, seed=seed),
                changed_by=changed_by,
                progress=training_progress(progress, 2000),
                notifier=resources["notifier"].notifier(),
                drift=warehouse.drift().read(kind="feature"),
            ),
            lambda o: o.version,
        )
    if outcome.notification_problem is not None:
        problem = escape(outcome.notification_problem)
        console.print(
            f"[yellow]warning:[/] notification not delivered ({problem})", highlight=False
        )
    from churn_platform.app.backtest import BacktestReport

    report = BacktestReport(outcome.result.n_train, outcome.result.n_test, hs, outcome.result)
    _print_metrics(report.table(), f"{rt.model_name} v{outcome.version} (run {outcome.run_id})")
    verdict = "[green]challenger[/]" if outcome.became_challenger else "[red]not promoted[/]"
    out.print(f"gate: {verdict}")
    for reason in outcome.gate.reasons:
        out.print(f"  - {reason}")
    if outcome.model_card_uri is not None:
        out.print(f"model card: {outcome.model_card_uri}")
    if not outcome.became_challenger:
        raise typer.Exit(code=1)


def _lifecycle_registry() -> Any:
    """The registry with its PostgreSQL ledger, for lifecycle commands."""
    _probe_tracking_store()  # before MLflow is even imported: seconds, not minutes
    _rt, resources = _bootstrap()
    return resources["mlflow_resource"].registry(resources["warehouse"])


def _after_transition(registry: Any, result: Any) -> None:
    """Print the committed transition (user text escaped: it is data, not markup), then
    notify; a notification failure is reported but the command still succeeds."""
    from churn_platform.app.promotion import (
        current_states,
        ledger_of,
        notify_safely,
        transition_notification,
    )
    from churn_platform.io.notify import notifier_from_env

    out.print(escape(result.describe()), highlight=False)
    out.print(f"  by {escape(result.actor)}: {escape(result.reason)}", highlight=False)
    states = current_states(registry, ledger_of(registry))
    out.print(
        "  states: " + ", ".join(f"v{v} {s.value}" for v, s in sorted(states.items())),
        highlight=False,
    )
    problem = notify_safely(notifier_from_env(), transition_notification(result))
    if problem is not None:
        console.print(
            f"[yellow]warning:[/] notification not delivered ({escape(problem)}); "
            "the change above is committed",
            highlight=False,
        )


@app.command()
@user_errors
def promote(
    version: Annotated[int, typer.Option(help="model version (must be the challenger)")],
    approver: Annotated[str, typer.Option(help="name of the person approving")],
    reason: Annotated[str, typer.Option(help="why")] = "approved via CLI",
) -> None:
    """Human approval: the challenger VERSION becomes production; the old one is archived."""
    approver = _named("--approver", approver)
    registry = _lifecycle_registry()  # probes the stores before MLflow is imported
    from churn_platform.app.promotion import approve_challenger

    outcome = approve_challenger(registry, version, approver=approver, reason=reason)
    if outcome.transition is not None:
        _after_transition(registry, outcome.transition)


@app.command()
@user_errors
def reject(
    version: Annotated[int, typer.Option(help="model version to reject (not production)")],
    approver: Annotated[str, typer.Option(help="name of the person rejecting")],
    reason: Annotated[str, typer.Option(help="why")],
) -> None:
    """Reject a candidate, the challenger or an archived version: it is never promoted again."""
    approver = _named("--approver", approver)
    registry = _lifecycle_registry()  # probes the stores before MLflow is imported
    from churn_platform.app.promotion import reject as reject_version

    result = reject_version(registry, version, approver=approver, reason=reason)
    _after_transition(registry, result)


@app.command()
@user_errors
def rollback(
    approver: Annotated[str, typer.Option(help="name of the person rolling back")],
    reason: Annotated[str, typer.Option(help="why")],
    to_version: Annotated[
        int | None, typer.Option(help="archived former production version; default: previous")
    ] = None,
) -> None:
    """Put a former production version back in production; the current one is archived."""
    approver = _named("--approver", approver)
    registry = _lifecycle_registry()  # probes the stores before MLflow is imported
    from churn_platform.app.promotion import rollback as rollback_to

    result = rollback_to(registry, approver=approver, reason=reason, to_version=to_version)
    _after_transition(registry, result)


@app.command()
@user_errors
def demo(
    weeks: Annotated[int, typer.Option(help="weeks of history to simulate and score")] = 30,
    n_customers: Annotated[int, typer.Option(help="customers in the simulated base")] = 20_000,
    seed: int = 0,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh/--keep",
            help="start from empty embedded databases, Dagster home and artifacts (default), "
            "or keep earlier demo state",
        ),
    ] = True,
) -> None:
    """Simulate a subscription base and run the weekly loop end to end (embedded defaults)."""
    _at_least("--weeks", weeks, 1)
    _at_least("--n-customers", n_customers, 1)
    from churn_platform.entry.demo import run_demo

    run_demo(weeks=weeks, n_customers=n_customers, seed=seed, console=out, fresh=fresh)


@app.command()
@user_errors
def run(
    start: Annotated[str, typer.Option(help="first week to score (a Monday, YYYY-MM-DD)")],
    end: Annotated[str, typer.Option(help="last week to score (a Monday, inclusive)")],
    data_config: Annotated[
        Path | None,
        typer.Option(help="weekly data source YAML (snapshots + labels); default: simulator"),
    ] = None,
    approver: Annotated[
        str | None, typer.Option(help="who approves challengers (else: stop and ask)")
    ] = None,
    label_lag_weeks: Annotated[
        int, typer.Option(help="evaluate each week's predictions this many weeks later")
    ] = 13,
    n_customers: Annotated[int, typer.Option(help="simulator size when no config")] = 20_000,
    seed: int = 0,
) -> None:
    """Replay weeks START..END of your data through the weekly Dagster loop."""
    from datetime import date

    from churn_platform.entry.run import run_replay

    try:
        start_week, end_week = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise typer.BadParameter(f"weeks are ISO dates (YYYY-MM-DD): {exc}") from None
    run_replay(
        data_config,
        start_week,
        end_week,
        approver=approver,
        console=out,
        label_lag_weeks=label_lag_weeks,
        n_customers=n_customers,
        seed=seed,
    )


@app.command("export-simulator")
@user_errors
def export_simulator_cmd(
    out: Annotated[Path, typer.Option(help="folder for snapshots, churn events, source.yaml")],
    n_customers: Annotated[int, typer.Option(help="customers in the simulated base")] = 2_000,
    weeks: Annotated[int, typer.Option(help="weekly snapshots to export")] = 30,
    seed: int = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv | csv.gz | parquet")] = "csv",
    churn_per_year: Annotated[float, typer.Option(help="baseline yearly churn hazard")] = 0.25,
) -> None:
    """Export the simulator as weekly snapshot + churn-event files with a source.yaml."""
    from churn_platform.entry.export import export_simulator

    if fmt not in ("csv", "csv.gz", "parquet"):
        raise typer.BadParameter(f"--format must be csv, csv.gz or parquet, got {fmt!r}")
    path = export_simulator(
        out,
        n_customers=n_customers,
        n_weeks=weeks,
        seed=seed,
        fmt=fmt,
        baseline_hazard_per_year=churn_per_year,
    )
    console.print(f"wrote {path.parent}: snapshots, churn_events.csv and {path.name}")


@app.command()
def dev(port: int = 3000) -> None:
    """Start the Dagster UI (webserver + daemon) against the embedded/configured stores."""
    from churn_platform.entry.devserver import run_dev

    run_dev(port=port)


@app.command()
@user_errors
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    alias: Annotated[str, typer.Option(help="registry alias to serve")] = "production",
    refresh_seconds: Annotated[float, typer.Option(help="alias re-check interval")] = 30.0,
) -> None:
    """Real-time scoring endpoint (FastAPI): POST /v1/score, /healthz, /metrics.

    Needs CHURN_API_KEY (clients send it in the X-API-Key header)."""
    import uvicorn

    from churn_platform.serving import create_app

    _rt, resources = _bootstrap()
    registry = resources["mlflow_resource"].registry()
    api = create_app(registry, alias=alias, refresh_seconds=refresh_seconds)
    uvicorn.run(api, host=host, port=port, log_level="info")


@app.command()
@user_errors
def retention(
    keep_weeks: Annotated[int, typer.Option(min=1, help="most recent scored weeks to keep")],
    dry_run: Annotated[bool, typer.Option(help="only list what would be dropped")] = False,
    migrate: Annotated[
        bool,
        typer.Option(help="first convert an unpartitioned predictions table to weekly partitions"),
    ] = False,
) -> None:
    """Drop the prediction weeks older than the KEEP_WEEKS most recent ones (whole partitions)."""
    from churn_platform.io.partitions import apply_retention, migrate_to_partitions

    rt, resources = _bootstrap()
    engine = resources["warehouse"].database().engine  # the process's pool, closed at exit
    if migrate and not dry_run:
        moved = migrate_to_partitions(engine, rt.db_schema)
        out.print(f"migrated {moved} week(s) into weekly partitions" if moved else "")
    result = apply_retention(engine, rt.db_schema, keep_weeks, dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    how = "partition(s)" if result.partitioned else f"week(s), {result.deleted_rows} rows"
    weeks = ", ".join(w.isoformat() for w in result.dropped_weeks) or "none"
    out.print(f"{verb} {len(result.dropped_weeks)} {how}: {weeks}", highlight=False)
    out.print(f"kept {len(result.kept_weeks)} week(s)", highlight=False)


stack_app = typer.Typer(
    no_args_is_help=True,
    help="The production-shaped stack on 127.0.0.1 without containers: PostgreSQL, S3 (moto), "
    "MLflow server, Dagster code server, webserver and daemon (docs/automation.md).",
)
app.add_typer(stack_app, name="stack")
STACK_HOME = Path(".churn_platform/stack")


@stack_app.command("up")
@user_errors
def stack_up_cmd(
    home: Annotated[Path, typer.Option(help="state, logs and Dagster home")] = STACK_HOME,
) -> None:
    """Start every service in the background; prints the URLs."""
    from churn_platform.entry.stack import stack_up

    stack = stack_up(home)
    out.print(f"Dagster UI : {stack.webserver_url}")
    out.print(f"MLflow UI  : {stack.mlflow_url}")
    out.print(f"S3 (moto)  : {stack.s3_url}")
    out.print(f"logs       : {Path(stack.home) / 'logs'}   stop: churn-platform stack down")


@stack_app.command("down")
@user_errors
def stack_down_cmd(
    home: Annotated[Path, typer.Option(help="state, logs and Dagster home")] = STACK_HOME,
    purge: Annotated[bool, typer.Option(help="also drop the stack's databases and files")] = False,
) -> None:
    """Stop every service of the stack (and with --purge, delete its data)."""
    from churn_platform.entry.stack import stack_down

    stopped = stack_down(home, purge=purge)
    out.print(f"stopped: {', '.join(stopped) or 'nothing'}")


def main() -> None:  # pragma: no cover
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    from churn_platform.errors import install_log_masking

    install_log_masking()  # every log line: credentials masked, long values cut
    app()
