"""Container health probe for the single churn_platform image.

The same image runs five processes; ``CHURN_SERVICE_ROLE`` tells which one to probe:

* ``webserver``     GET http://127.0.0.1:3000/server_info
* ``code-location`` ``dagster api grpc-health-check -p 4000``
* ``daemon``        ``dagster-daemon liveness-check`` (recent heartbeats in the instance DB)
* ``mlflow``        GET http://127.0.0.1:5000/health
* ``realtime``      GET http://127.0.0.1:8000/healthz (200 only once a model is loaded)

Exit code 0 = healthy, 1 = unhealthy (Docker HEALTHCHECK / ECS healthCheck semantics).
Standard library only, so it adds nothing to the image.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

TIMEOUT_S = 8


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


def _command_ok(*argv: str) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def main() -> int:
    role = os.environ.get("CHURN_SERVICE_ROLE", "webserver")
    probes = {
        "webserver": lambda: _http_ok("http://127.0.0.1:3000/server_info"),
        "code-location": lambda: _command_ok("dagster", "api", "grpc-health-check", "-p", "4000"),
        "daemon": lambda: _command_ok("dagster-daemon", "liveness-check"),
        "mlflow": lambda: _http_ok("http://127.0.0.1:5000/health"),
        "realtime": lambda: _http_ok("http://127.0.0.1:8000/healthz"),
    }
    probe = probes.get(role)
    if probe is None:
        print(f"unknown CHURN_SERVICE_ROLE={role!r}; expected one of {sorted(probes)}")
        return 1
    healthy = probe()
    print(f"{role}: {'healthy' if healthy else 'unhealthy'}")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
