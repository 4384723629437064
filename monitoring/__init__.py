"""Monitoring: drift sidecar, Prometheus rules and Grafana dashboards."""
