"""Hand-written asyncio/aiohttp baseline for the benchmark journey (bench/journey.yaml).

The fastest reasonable script a person would write for the same three requests per row:
one shared ClientSession, `--concurrency` journeys in flight, a token per login, the same
five assertions, a pass/fail count at the end. No reporting, no redaction, no evidence.

    python bench/baseline_aiohttp.py http://127.0.0.1:PORT data.csv --concurrency 20
    python bench/baseline_aiohttp.py ... --processes 2   # rows split across processes

Prints one JSON line: {"passed": N, "failed": N}. Exit 0 only when every journey passed.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import multiprocessing
import sys
from collections.abc import Iterator

import aiohttp

PASSWORD = "bench-password"


def rows(path: str, part: int = 0, parts: int = 1) -> Iterator[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if index % parts == part:
                yield row


async def journey(session: aiohttp.ClientSession, base: str, row: dict[str, str]) -> bool:
    login = {"username": row["user"], "password": PASSWORD}
    async with session.post(f"{base}/login", json=login) as resp:
        token = (await resp.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    async with session.get(f"{base}/profile", headers=auth) as resp:
        body = await resp.json()
        ok = (
            resp.status == 200
            and resp.headers.get("Content-Type", "").startswith("application/json")
            and body.get("plan") == "pro"
        )
    order = {"user": row["user"], "quantity": int(row.get("qty") or 1)}
    async with session.post(f"{base}/orders", json=order, headers=auth) as resp:
        body = await resp.json()
        return ok and resp.status == 201 and body.get("status") == "created"


async def run(base: str, path: str, concurrency: int, part: int, parts: int) -> tuple[int, int]:
    counts = [0, 0]
    source = rows(path, part, parts)
    connector = aiohttp.TCPConnector(limit=concurrency + 4)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for row in source:  # shared iterator: each worker pulls the next row
                counts[0 if await journey(session, base, row) else 1] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts[0], counts[1]


def _part(args: tuple[str, str, int, int, int]) -> tuple[int, int]:
    return asyncio.run(run(*args))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("data")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    if args.processes <= 1:
        passed, failed = asyncio.run(run(base, args.data, args.concurrency, 0, 1))
    else:
        jobs = [
            (base, args.data, args.concurrency, i, args.processes) for i in range(args.processes)
        ]
        with multiprocessing.get_context("fork").Pool(args.processes) as pool:
            results = pool.map(_part, jobs)
        passed, failed = sum(r[0] for r in results), sum(r[1] for r in results)
    print(json.dumps({"passed": passed, "failed": failed}))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
