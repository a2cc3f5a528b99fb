"""`python -m reqflo.demo [--host H] [--port P]`: serve the demo API until interrupted."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from reqflo.demo.app import create_app
from reqflo.demo.state import DEMO_USERS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m reqflo.demo", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    parser.add_argument("--quiet", action="store_true", help="no access log")
    args = parser.parse_args(argv)
    if not args.quiet:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    users = ", ".join(f"{name}/{password}" for name, password in DEMO_USERS.items())
    banner = (
        f"Reqflo demo API on http://{args.host}:{args.port} (demo users: {users}); Ctrl+C stops"
    )
    web.run_app(
        create_app(),
        host=args.host,
        port=args.port,
        print=lambda _: print(banner, flush=True),
        access_log=None if args.quiet else logging.getLogger("aiohttp.access"),
    )


if __name__ == "__main__":
    main()
