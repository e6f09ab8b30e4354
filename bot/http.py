"""python-telegram-bot's requests over aiohttp instead of httpx.

python-telegram-bot sends every Bot API call through ``HTTPXRequest``: httpx over httpcore
and h11, pure Python from the connection pool down to the HTTP parser, about a third of the
bot's CPU in a burst. aiohttp parses HTTP in C, keeps connections alive the same way and
costs a fraction of that per call (bench/bench_http_client.py). This class is a drop-in
``BaseRequest`` (the interface python-telegram-bot documents for other HTTP libraries): the
same timeouts, a pool of ``connections``, and the same errors for the library to handle
(``TimedOut``, ``NetworkError``).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput, UploadFileDict
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DOWNLOAD_CHUNK = 64 * 1024


class TooLarge(Exception):
    """A download passed its cap and was abandoned; ``size`` is what the server announced
    (None: it announced nothing and sent more than the cap)."""

    def __init__(self, size: int | None) -> None:
        super().__init__(f"larger than allowed ({size if size is not None else 'unannounced'})")
        self.size = size


class AiohttpRequest(BaseRequest):
    """Bot API calls through one aiohttp session of at most ``connections`` connections.

    Timeouts as ``HTTPXRequest`` takes them, in aiohttp's terms: ``read`` between bytes of
    the answer, ``connect`` to open a connection, and ``pool + connect`` for a connection
    from the pool (aiohttp counts the wait for a free one and the opening together); the
    whole call is bounded by all four together, ``write`` being ``media_write`` for
    uploads. None: no limit.
    """

    def __init__(
        self,
        *,
        connections: int = 8,
        connect: float | None = 5.0,
        read: float | None = 5.0,
        write: float | None = 5.0,
        pool: float | None = 1.0,
        media_write: float | None = 20.0,
    ) -> None:
        self._connections = connections
        self._timeouts = {"connect": connect, "read": read, "write": write, "pool": pool}
        self._media_write = media_write
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._timeouts["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections)
            # No session-wide timeout: each call passes its own.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = request_data.multipart_data if request_data else None
        read = self._given(read_timeout, "read")
        connect = self._given(connect_timeout, "connect")
        pool = self._given(pool_timeout, "pool")
        if isinstance(write_timeout, DefaultValue):
            write = self._media_write if files else self._timeouts["write"]
        else:
            write = write_timeout
        timeout = aiohttp.ClientTimeout(
            total=_sum(connect, pool, write, read),
            connect=_sum(connect, pool),  # a free connection from the pool, or a new one
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method,
                url,
                data=_body(request_data, files),
                timeout=timeout,
            ) as response:
                return response.status, await response.read()
        except TimeoutError as e:  # aiohttp's own timeouts derive from it too
            raise TimedOut from e
        except aiohttp.ClientError as e:  # the URL holds the token: never in the message
            raise NetworkError(f"aiohttp.{type(e).__name__}: {str(e).replace(url, '<url>')}") from e

    async def download(self, url: str, *, limit: int, timeout: float = 120.0) -> bytes:
        """A file's bytes, read as they come and abandoned (:class:`TooLarge`) as soon as they
        pass ``limit``: python-telegram-bot's own downloads read the whole answer, however
        large, when Telegram gives no ``file_size``. Errors as for API calls."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout_ = aiohttp.ClientTimeout(
            total=timeout,
            connect=_sum(self._timeouts["connect"], self._timeouts["pool"]),
            sock_read=self._timeouts["read"],
        )
        try:
            async with self._session.get(url, timeout=timeout_) as response:
                if response.status != 200:
                    raise NetworkError(f"the file server answered {response.status}")
                if response.content_length is not None and response.content_length > limit:
                    response.close()  # the connection, too: its unread rest is not wanted
                    raise TooLarge(response.content_length)
                data = bytearray()
                async for chunk in response.content.iter_chunked(DOWNLOAD_CHUNK):
                    data += chunk
                    if len(data) > limit:
                        response.close()
                        raise TooLarge(None)
                return bytes(data)
        except TimeoutError as e:
            raise TimedOut from e
        except aiohttp.ClientError as e:  # the URL holds the token: never in the message
            raise NetworkError(f"aiohttp.{type(e).__name__}: {str(e).replace(url, '<url>')}") from e

    def _given(self, value: ODVInput[float], name: str) -> float | None:
        return self._timeouts[name] if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None, files: UploadFileDict | None) -> Any:
    """Form fields, as multipart when there are files (python-telegram-bot's own encoding)."""
    fields = request_data.json_parameters if request_data else None
    if not files:
        return fields or None
    form = aiohttp.FormData()
    for name, value in (fields or {}).items():
        form.add_field(name, value)
    for name, (filename, content, mime) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form


def _sum(*parts: float | None) -> float | None:
    """A bound made of several limits; None (no bound) when any of them is unlimited."""
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
