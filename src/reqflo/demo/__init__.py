"""A small demo target API for Reqflo's examples, README command and integration tests.

Run it with `python -m reqflo.demo --port 8765`, or in-process with `start_demo()` /
`demo_server()`. Demo users (public demo data): `demo` / `demo-password` and
`alice` / `alice-password`. State is in memory, per application instance. See
`reqflo.demo.orders`, `reqflo.demo.tools` and `reqflo.demo.graphql` for the routes.
"""

from reqflo.demo.app import create_app, demo_server, start_demo
from reqflo.demo.state import DEMO_PASSWORD, DEMO_USERS

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "create_app", "demo_server", "start_demo"]
