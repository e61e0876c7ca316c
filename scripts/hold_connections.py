"""Open N connections to a PostgreSQL server and hold them until interrupted (or a command ends).

Simulates other clients sharing the server (issue 13: `make test` must pass while another client
holds 60 connections to the same server, max_connections at the stock 100)::

    uv run python scripts/hold_connections.py --url postgresql://postgres@127.0.0.1:5433/postgres \\
        -n 60 -- env CHURN_TEST_PG_ADMIN_URL=... make test

Without a command it holds the connections until Ctrl-C. Each connection is idle in a plain
session (``application_name=hold_connections``), which is what a pooled application server
looks like to PostgreSQL.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading

import psycopg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="libpq URL (postgresql://...)")
    parser.add_argument("-n", type=int, default=60, help="connections to hold")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    url = args.url.replace("postgresql+psycopg2://", "postgresql://")
    held = [psycopg.connect(url, application_name="hold_connections") for _ in range(args.n)]
    with held[0].cursor() as cur:
        cur.execute("SHOW max_connections")
        row = cur.fetchone()
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        total = cur.fetchone()
    print(
        f"holding {len(held)} connections (server max_connections={row[0] if row else '?'}, "
        f"client backends now {total[0] if total else '?'})",
        flush=True,
    )
    try:
        if command:
            return subprocess.call(command)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        for conn in held:
            conn.close()


if __name__ == "__main__":
    sys.exit(main())
