"""bot/http.py: python-telegram-bot's requests over aiohttp, against a real local server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import NetworkError, TimedOut

from bot.http import AiohttpRequest

TOKEN = "123:secret-token-for-the-test"


class Server:
    """Answers like the Bot API and remembers what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.delay = 0.0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            form = await request.post()
            fields = {
                name: (value.file.read(), value.filename, value.content_type)
                if isinstance(value, web.FileField)
                else value
                for name, value in form.items()
            }
            self.received.append(
                {"method": request.match_info["method"], "type": request.content_type, **fields}
            )
            result = {"message_id": 7, "date": 0, "chat": {"id": 1, "type": "private"}}
            return web.json_response({"ok": True, "result": result})
        finally:
            self.in_flight -= 1


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    server = Server()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/bot"
    yield server
    await runner.cleanup()


async def started(request: AiohttpRequest) -> AiohttpRequest:
    await request.initialize()
    return request


async def test_a_message_goes_as_a_form_and_comes_back_parsed(server: Server) -> None:
    bot = Bot(TOKEN, base_url=server.url, request=AiohttpRequest())
    await bot.request.initialize()
    try:
        message = await bot.send_message(1, "Next in the queue", disable_notification=True)
    finally:
        await bot.request.shutdown()
    assert message.message_id == 7
    [sent] = server.received
    assert sent["method"] == "sendMessage"
    assert sent["type"] == "application/x-www-form-urlencoded"
    assert sent["chat_id"] == "1" and sent["text"] == "Next in the queue"
    assert sent["disable_notification"] == "true"


async def test_a_photo_goes_as_multipart_with_its_fields(server: Server) -> None:
    bot = Bot(TOKEN, base_url=server.url, request=AiohttpRequest())
    await bot.request.initialize()
    try:
        await bot.send_photo(5, InputFile(b"\xff\xd8 jpeg", filename="result.jpg"), caption="Done")
    finally:
        await bot.request.shutdown()
    [sent] = server.received
    assert sent["type"] == "multipart/form-data"
    assert sent["chat_id"] == "5" and sent["caption"] == "Done"
    assert sent["photo"] == (b"\xff\xd8 jpeg", "result.jpg", "image/jpeg")


async def test_no_more_connections_than_asked_for(server: Server) -> None:
    server.delay = 0.05
    request = await started(AiohttpRequest(connections=2))
    try:
        await asyncio.gather(
            *(request.do_request(f"{server.url}{TOKEN}/getMe", "POST") for _ in range(6))
        )
    finally:
        await request.shutdown()
    assert len(server.received) == 6
    assert server.most_in_flight == 2


async def test_a_slow_answer_is_timed_out(server: Server) -> None:
    server.delay = 1.0
    request = await started(AiohttpRequest(read=0.1))
    try:
        with pytest.raises(TimedOut):
            await request.do_request(f"{server.url}{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()


async def test_waiting_for_a_connection_is_timed_out(server: Server) -> None:
    server.delay = 1.0
    request = await started(AiohttpRequest(connections=1))
    try:
        first = asyncio.ensure_future(request.do_request(f"{server.url}{TOKEN}/a", "POST"))
        await asyncio.sleep(0.1)  # the only connection is busy
        with pytest.raises(TimedOut):
            await request.do_request(
                f"{server.url}{TOKEN}/b", "POST", pool_timeout=0.1, connect_timeout=0.1
            )
        assert (await first)[0] == 200  # the first call was not disturbed
    finally:
        await request.shutdown()


async def test_an_unreachable_server_is_a_network_error_without_the_token() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = await started(AiohttpRequest())
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert TOKEN not in str(caught.value)


async def test_calls_before_initialize_are_refused() -> None:
    with pytest.raises(RuntimeError):
        await AiohttpRequest().do_request("http://127.0.0.1:1/bot/getMe", "POST")
