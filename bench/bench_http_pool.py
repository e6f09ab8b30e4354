"""What the size of the bot's HTTP connection pool costs per Bot API request.

    python bench/bench_http_pool.py                 # pools of 4, 8, 16 and 32 connections
    python bench/bench_http_pool.py --sizes 8 16 --requests 3000

python-telegram-bot sends every request through an httpx ``AsyncClient`` whose pool size the
bot sets (``HTTP_CONNECTIONS`` in bot/app.py). httpcore looks over every connection in the
pool for each request, and checks each idle one with a ``select()``, so a bigger pool costs
CPU on every call. This sends small form posts, as the Bot API's are, to a local aiohttp
server (what our fake Telegram runs on) with 1 and 8 requests in flight, and prints the CPU
time per request of this one process (client and server together: the server's share does
not depend on the pool), each pool warmed first, the sizes in the order given and then
again in reverse (a drift in the machine's load shows as a difference between the rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from aiohttp import web

PORT = 18_089


async def serve() -> web.AppRunner:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True, "result": {"message_id": 1}})

    app = web.Application()
    app.router.add_post("/bot/sendMessage", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()
    return runner


async def cpu_per_request(size: int, in_flight: int, requests: int) -> float:
    """Milliseconds of this process's CPU per request through a pool of ``size``."""
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    url = f"http://127.0.0.1:{PORT}/bot/sendMessage"
    form = {"chat_id": "1", "text": "Next in the queue"}
    async with httpx.AsyncClient(limits=limits) as client:
        # Open every connection the pool may hold, as a burst does.
        await asyncio.gather(*(client.post(url, data=form) for _ in range(size * 4)))

        async def send(count: int) -> None:
            for _ in range(count):
                await client.post(url, data=form)

        began = time.process_time()
        await asyncio.gather(*(send(requests // in_flight) for _ in range(in_flight)))
        return (time.process_time() - began) / requests * 1000


async def main(sizes: list[int], requests: int) -> None:
    runner = await serve()
    try:
        print("| pool | in flight | round 1 (ms CPU/request) | round 2 |")
        print("|---:|---:|---:|---:|")
        results: dict[tuple[int, int], list[float]] = {}
        for order in (sizes, list(reversed(sizes))):
            for size in order:
                for in_flight in (1, 8):
                    cost = await cpu_per_request(size, in_flight, requests)
                    results.setdefault((size, in_flight), []).append(cost)
        for (size, in_flight), costs in results.items():
            print(f"| {size} | {in_flight} | {costs[0]:.3f} | {costs[1]:.3f} |")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.requests))
