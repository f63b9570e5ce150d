"""Helpers shared by the bus's management commands."""

from __future__ import annotations

from common.conf import env_int


def add_metrics_port(parser, env_name: str) -> None:
    parser.add_argument("--metrics-port", type=int, default=env_int(env_name, 0),
                        help=f"serve Prometheus metrics on this port (0: off; env {env_name})")


def start_metrics(port: int) -> None:
    if port:
        from prometheus_client import start_http_server

        start_http_server(port)
