"""CPU per Bot API call: python-telegram-bot's httpx request against ours over aiohttp.

    python bench/bench_http_client.py                  # 2000 calls each, 1 and 8 in flight
    python bench/bench_http_client.py --calls 5000

Each call is a real ``Bot.send_message`` (python-telegram-bot builds the request, sends it and
parses the answer into a Message) to a local aiohttp server that answers as the Bot API does,
through a pool of 8 connections (``HTTP_CONNECTIONS`` in bot/app.py). Printed: milliseconds of
this process's CPU per call (client and server together; the server's share is the same for
both), the clients in turn and then again in reverse order, so that a drift in the machine's
load shows as a difference between the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable

from aiohttp import web
from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.app import HTTP_CONNECTIONS
from bot.http import AiohttpRequest

PORT = 18_090
TOKEN = "123:bench"
MESSAGE = {
    "message_id": 1,
    "date": 0,
    "chat": {"id": 1, "type": "private"},
    "from": {"id": 123, "is_bot": True, "first_name": "Bench"},
    "text": "Next in the queue",
}

CLIENTS: dict[str, Callable[[], BaseRequest]] = {
    "httpx (python-telegram-bot's)": lambda: HTTPXRequest(connection_pool_size=HTTP_CONNECTIONS),
    "aiohttp (bot/http.py)": lambda: AiohttpRequest(connections=HTTP_CONNECTIONS),
}


async def serve() -> web.AppRunner:
    async def answer(request: web.Request) -> web.Response:
        await request.post()
        return web.json_response({"ok": True, "result": MESSAGE})

    app = web.Application()
    app.router.add_post(f"/bot{TOKEN}/sendMessage", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", PORT).start()
    return runner


async def cpu_per_call(make: Callable[[], BaseRequest], in_flight: int, calls: int) -> float:
    """Milliseconds of this process's CPU per send_message."""
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{PORT}/bot", request=make())
    await bot.request.initialize()
    try:

        async def send(count: int) -> None:
            for _ in range(count):
                await bot.send_message(1, "Next in the queue")

        await asyncio.gather(*(send(20) for _ in range(HTTP_CONNECTIONS)))  # warm the pool
        began = time.process_time()
        await asyncio.gather(*(send(calls // in_flight) for _ in range(in_flight)))
        return (time.process_time() - began) / calls * 1000
    finally:
        await bot.request.shutdown()


async def main(calls: int) -> None:
    runner = await serve()
    try:
        results: dict[tuple[str, int], list[float]] = {}
        names = list(CLIENTS)
        for order in (names, list(reversed(names))):
            for name in order:
                for in_flight in (1, 8):
                    cost = await cpu_per_call(CLIENTS[name], in_flight, calls)
                    results.setdefault((name, in_flight), []).append(cost)
        print("| client | in flight | round 1 (ms CPU/call) | round 2 |")
        print("|---|---:|---:|---:|")
        for (name, in_flight), costs in results.items():
            print(f"| {name} | {in_flight} | {costs[0]:.3f} | {costs[1]:.3f} |")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.calls))
