"""Observability: Prometheus export, Grafana/Prometheus provisioning, docs figure."""
