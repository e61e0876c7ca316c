"""Run a command and sample its PostgreSQL connections from ``pg_stat_activity`` every ~0.2 s.

Used to measure the demo's peak concurrent connections (issue 13: target <= 15, both servers
together). Each ``--server`` is ``URL`` or ``URL#db1,db2`` (count only client backends connected
to those databases, for a server shared with other clients); ``--embedded-home DIR`` starts (or
attaches to) the embedded PostgreSQL under ``DIR/pgdata`` first, exactly as the demo would, and
samples every database on it. The sampler's own connection is never counted.

    uv run python scripts/pg_connection_sampler.py --embedded-home /tmp/h \\
        -- env CHURN_HOME=/tmp/h churn-platform demo --weeks 4

Prints one JSON object: the peak per server, the peak of the per-sample sum over servers, the
number of samples and the command's exit status (the script exits with that status).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

QUERY = """
SELECT datname, count(*) AS n
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY datname
"""


@dataclass
class Server:
    label: str
    url: str
    databases: tuple[str, ...] = ()
    peak: int = 0
    peak_by_db: dict[str, int] = field(default_factory=dict)


def parse_server(text: str) -> Server:
    url, _, dbs = text.partition("#")
    databases = tuple(d for d in dbs.split(",") if d)
    return Server(
        label=sa.make_url(url).render_as_string(hide_password=True), url=url, databases=databases
    )


def sample_once(conn: sa.Connection, server: Server) -> int:
    rows = conn.execute(sa.text(QUERY)).all()
    total = 0
    for datname, n in rows:
        if server.databases and datname not in server.databases:
            continue
        total += int(n)
        key = str(datname)
        server.peak_by_db[key] = max(server.peak_by_db.get(key, 0), int(n))
    server.peak = max(server.peak, total)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", action="append", default=[], help="URL[#db1,db2]")
    parser.add_argument("--embedded-home", type=Path, help="CHURN_HOME of the embedded server")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")

    servers = [parse_server(s) for s in args.server]
    if args.embedded_home is not None:
        from churn_platform.io.embedded import start_embedded_postgres

        base = start_embedded_postgres((args.embedded_home / "pgdata").resolve())
        servers.append(Server(label="embedded", url=base))

    # AUTOCOMMIT: pg_stat_activity is a per-transaction snapshot; in one long transaction every
    # sample would repeat the first one.
    engines = [
        sa.create_engine(s.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
        for s in servers
    ]
    conns = [e.connect() for e in engines]
    peak_sum = 0
    samples = 0
    stop = threading.Event()

    def loop() -> None:
        nonlocal peak_sum, samples
        while not stop.is_set():
            t = time.perf_counter()
            peak_sum = max(
                peak_sum, sum(sample_once(c, s) for c, s in zip(conns, servers, strict=True))
            )
            samples += 1
            stop.wait(max(0.0, args.interval - (time.perf_counter() - t)))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    rc = subprocess.call(command)
    stop.set()
    thread.join()
    for c in conns:
        c.close()
    result = {
        "command": command,
        "returncode": rc,
        "seconds": round(time.perf_counter() - t0, 1),
        "samples": samples,
        "peak_total": peak_sum,
        "servers": {s.label: {"peak": s.peak, "peak_by_database": s.peak_by_db} for s in servers},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
