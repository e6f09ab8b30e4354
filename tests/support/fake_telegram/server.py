"""A fake Telegram Bot API server over real HTTP, faithful for the methods the bot uses.

It speaks the Bot API's wire format (``POST /bot<token>/<method>`` with form or multipart
bodies, ``{"ok": ..., "result": ...}`` answers, the same error codes and descriptions) so the
real python-telegram-bot library can be pointed at it with ``base_url``/``base_file_url``.
Tests drive it through :class:`~tests.fake_telegram.people.Person` (simulated people who
send photos and press buttons) and read back what the bot sent.

Where the real server would refuse a request (a photo that is too large, an edit that changes
nothing, a button answer given twice, a download over 20 MB), this one refuses it the same way,
so the bot's handling of those answers is tested too. What the bot uploads is checked as
Telegram would process it: a photo must decode (Pillow), an animation must be an MP4 that
decodes (PyAV) with one H.264 video stream and no sound, a video the same with or without
sound; their frames are counted (:attr:`FakeTelegram.animations`, :attr:`FakeTelegram.videos`).

It also misbehaves the way Telegram sometimes does, when a test asks: error answers of any code
(5xx, 400 "message to edit not found"...) for the next calls of a method or a chat
(:meth:`FakeTelegram.inject_error`); replies that never come although the request was applied
(:meth:`~FakeTelegram.lose_replies`); a storm of 429s (:meth:`~FakeTelegram.storm`); a chat
whose sends always fail (:meth:`~FakeTelegram.fail_chat`); a group that migrated to a
supergroup (:meth:`~FakeTelegram.migrate_chat`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from PIL import Image

logger = logging.getLogger(__name__)

T = TypeVar("T")
JSON = dict[str, Any]

DEFAULT_TOKEN = "123456789:TEST-fake-token_for_the_fake_server00"
BOT_USER: JSON = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Style Bot",
    "username": "fake_style_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

# Telegram's documented limits (https://core.telegram.org/bots/api).
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile
MAX_PHOTO_BYTES = 10 * 1024 * 1024  # sendPhoto
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024  # sendDocument
MAX_PHOTO_SIDES_SUM = 10000
MAX_PHOTO_ASPECT = 20
CALLBACK_DATA_MAX_BYTES = 64
MESSAGE_TEXT_MAX = 4096
CAPTION_MAX = 1024
# The sizes Telegram keeps of a photo: a few thumbnails and the largest at most 1280 pixels.
PHOTO_SIZES = (90, 320, 800, 1280)


class ApiError(Exception):
    """An error answer, in the Bot API's own words."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    # Telegram may leave file_size out (of the message and of getFile alike); this fake then
    # also sends the file without a Content-Length, the worst a downloader can get.
    hide_size: bool = False


@dataclass
class Call:
    """One request the bot made, for tests that check what was called and when."""

    method: str
    params: JSON
    at: float
    error: str | None = None


@dataclass(frozen=True)
class Film:
    """An animation the bot sent, as decoded: what tests check of a time-lapse."""

    codec: str
    width: int
    height: int
    frames: int
    seconds: float
    sound: bool = False  # a video's; an animation never has any


def decode_film(data: bytes, *, sound: bool = False) -> Film:
    """An MP4 animation (``sound``: a video, which may have sound) decoded with PyAV; ApiError
    as Telegram would refuse it otherwise."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            has_sound = bool(container.streams.audio)
            if has_sound and not sound:
                raise ApiError(400, "Bad Request: an animation has no sound")
            (video,) = container.streams.video
            frames = sum(1 for _ in container.decode(video=0))
            seconds = float(container.duration or 0) / 1_000_000
            film = Film(
                video.codec_context.name, video.width, video.height, frames, seconds, has_sound
            )
    except (av.FFmpegError, ValueError) as e:
        raise ApiError(400, f"Bad Request: failed to process the animation ({e})") from None
    if film.codec != "h264" or film.width % 2 or film.height % 2 or not film.frames:
        raise ApiError(400, f"Bad Request: not an H.264 animation of even size: {film}")
    return film


@dataclass
class Injected:
    """A failure to answer instead of the next calls to ``method`` (or any method: ``"*"``),
    in ``chat_id`` only when it is given."""

    method: str
    code: int
    description: str
    parameters: JSON | None
    count: int
    chat_id: int | None = None

    def matches(self, method: str, chat_id: int | None) -> bool:
        return (
            self.count > 0
            and self.method in (method, "*")
            and (self.chat_id is None or self.chat_id == chat_id)
        )


@dataclass
class LostReply:
    """The next ``count`` calls of ``method`` (``"*"``: any that names a chat) in ``chat_id``
    (None: any chat) are applied, and then their reply never comes: the connection is held
    for ``hang`` seconds and closed without an answer."""

    method: str
    count: int
    hang: float
    chat_id: int | None = None

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.count <= 0 or (self.chat_id is not None and self.chat_id != chat_id):
            return False
        return self.method == method or (self.method == "*" and chat_id is not None)


@dataclass
class SlowReply:
    """The next ``count`` calls of ``method`` are applied at once and answered ``seconds``
    later."""

    method: str
    count: int
    seconds: float

    def matches(self, method: str) -> bool:
        return self.count > 0 and self.method == method


@dataclass
class Storm:
    """Every call but ``getUpdates`` answers 429 until ``until`` (the server's monotonic
    clock), asking to wait ``retry_after`` seconds."""

    until: float
    retry_after: int


@dataclass
class ChatMessage:
    """A message in a chat as it stands now, with the history of its edits."""

    message: JSON
    from_bot: bool
    edits: list[tuple[float, JSON]] = field(default_factory=list)  # (when, message before)
    sent_at: float = field(default_factory=time.monotonic)

    @property
    def message_id(self) -> int:
        return int(self.message["message_id"])

    @property
    def text(self) -> str:
        return str(self.message.get("text") or self.message.get("caption") or "")

    @property
    def buttons(self) -> list[JSON]:
        markup = self.message.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]

    @property
    def kind(self) -> str:
        for key in (
            "photo",
            "document",
            "text",
            "sticker",
            "animation",
            "video",
            "video_note",
            "voice",
        ):
            if key in self.message:
                return key
        return "other"


class FakeTelegram:
    """The fake Bot API server: state, HTTP handlers, and hooks for tests.

    Use it inside a running event loop (``await tg.start()`` / ``await tg.stop()``, or
    ``async with FakeTelegram() as tg``), or from synchronous code with
    :func:`serve_in_thread`. ``api_url`` and ``file_url`` are what the bot needs as
    ``TELEGRAM_API_URL`` and ``TELEGRAM_FILE_URL``.
    """

    def __init__(self, *, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port = 0
        self.bot_user = dict(BOT_USER, id=int(token.split(":")[0]))
        self.calls: list[Call] = []
        self.chats: dict[int, list[ChatMessage]] = {}
        self.files: dict[str, StoredFile] = {}
        self.commands: dict[str, list[JSON]] = {}  # language_code ("" for all) -> commands
        self.callback_answers: dict[str, JSON] = {}
        self.animations: dict[str, Film] = {}  # file_id -> the animation as decoded
        self.videos: dict[str, Film] = {}  # file_id -> the video as decoded
        self.blocked_by: set[int] = set()  # chats whose person blocked the bot
        self.failing_chats: dict[int, ApiError] = {}  # chats whose every call fails so
        self.migrated: dict[int, int] = {}  # group chat id -> the supergroup it became
        self.lost_replies: list[Call] = []  # calls applied whose reply never came
        self.webhook: JSON = {"url": ""}
        self._updates: list[JSON] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._confirmed = 0  # updates below this id have been confirmed by an offset
        self._injected: list[Injected] = []
        self._lost: list[LostReply] = []
        self._slow: list[SlowReply] = []
        self._storms: list[Storm] = []
        self._virtual_sizes: dict[str, int] = {}  # file_id -> the size a file claims to have
        self.file_bytes_sent: dict[str, int] = {}  # file_path -> bytes written to downloaders
        self._photos: dict[str, list[JSON]] = {}  # file_id of any size -> the photo's sizes
        self._callback_queries: set[str] = set()  # ids of button presses sent to the bot
        self._chat_types: dict[int, JSON] = {}  # chats that are no person's private chat
        self._started = False
        self._waiters: list[asyncio.Future[None]] = []  # wait_for calls until the next change
        self._wake_scheduled = False
        self._pusher: asyncio.Task[None] | None = None  # posts updates to a webhook
        self._closing = False
        self._runner: web.AppRunner | None = None

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The base address for Bot API calls; the bot appends its token."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def file_url(self) -> str:
        """The base address for file downloads; the bot appends its token."""
        return f"http://{self.host}:{self.port}/file/bot"

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_DOCUMENT_BYTES + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        return app

    async def start(self, port: int = 0) -> FakeTelegram:
        self._started = True
        # handler_cancellation: a long poll whose client went away ends, as on Telegram.
        self._runner = web.AppRunner(self.make_app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        logger.info("fake Telegram listening on %s", self.api_url)
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify()  # long polls still waiting answer now
        await asyncio.sleep(0)
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- hooks for tests ----------------------------------------------------------------------

    def inject_error(
        self,
        method: str = "*",
        *,
        code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        count: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (in ``chat_id`` only, if given) with an
        error (429 by default), without applying them."""
        error = _error(code, description, retry_after)
        self._injected.append(
            Injected(method, error.code, error.description, error.parameters, count, chat_id)
        )

    def lose_replies(
        self, method: str = "*", *, count: int = 1, hang: float = 0.0, chat_id: int | None = None
    ) -> None:
        """Apply the next ``count`` calls of ``method`` (``"*"``: any call that names a chat),
        then never answer them: after ``hang`` seconds the connection is closed. The bot sees
        a network error or a timeout for a message that did reach the chat: a lost reply."""
        self._lost.append(LostReply(method, count, hang, chat_id))

    def slow_replies(self, method: str, *, seconds: float, count: int = 1) -> None:
        """Apply the next ``count`` calls of ``method`` at once, and answer ``seconds`` later."""
        self._slow.append(SlowReply(method, count, seconds))

    def storm(self, seconds: float, *, retry_after: int = 1) -> None:
        """Flood control for ``seconds``: every call but getUpdates answers 429."""
        self._storms.append(Storm(time.monotonic() + seconds, retry_after))

    def fail_chat(self, chat_id: int, *, code: int = 403, description: str | None = None) -> None:
        """From now on every call into ``chat_id`` fails with this error (403 "bot was blocked
        by the user" by default); ``heal_chat`` ends it."""
        self.failing_chats[chat_id] = _error(code, description, None)

    def heal_chat(self, chat_id: int) -> None:
        self.failing_chats.pop(chat_id, None)

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: calls into the old id fail with 400 and
        ``migrate_to_chat_id`` (python-telegram-bot raises ChatMigrated); the new chat starts
        empty."""
        self.migrated[old_chat_id] = new_chat_id
        old = self._chat_of(old_chat_id)
        self.chats.setdefault(new_chat_id, [])
        self._chat_types[new_chat_id] = dict(old, id=new_chat_id, type="supergroup")

    def add_group(self, chat_id: int, *, title: str = "A group") -> None:
        """A group chat the bot is in (group ids are negative)."""
        self.chats.setdefault(chat_id, [])
        self._chat_types[chat_id] = {"id": chat_id, "type": "group", "title": title}

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def bot_messages(self, chat_id: int) -> list[ChatMessage]:
        return [m for m in self.chats.get(chat_id, []) if m.from_bot]

    def find_message(self, chat_id: int, message_id: int) -> ChatMessage | None:
        for m in self.chats.get(chat_id, []):
            if m.message_id == message_id:
                return m
        return None

    def pending_updates(self) -> list[JSON]:
        """Updates the bot has not yet confirmed."""
        return [u for u in self._updates if u["update_id"] >= self._confirmed]

    def add_file(
        self,
        data: bytes,
        *,
        path_prefix: str = "photos",
        suffix: str = "jpg",
        hide_size: bool = False,
    ) -> JSON:
        """Store bytes as a Telegram file; returns its ``file_id``/``file_unique_id``/size
        (``hide_size``: without ``file_size``, as Telegram sometimes sends files)."""
        n = next(self._file_ids)
        stored = StoredFile(
            file_id=f"FILE{n:06d}-{'x' * 20}",
            file_unique_id=f"U{n:06d}",
            data=data,
            file_path=f"{path_prefix}/file_{n}.{suffix}",
            hide_size=hide_size,
        )
        self.files[stored.file_id] = stored
        info: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if not hide_size:
            info["file_size"] = len(data)
        return info

    def files_downloaded(self) -> list[str]:
        """The paths of the files anyone has started to download, in order."""
        return list(self.file_bytes_sent)

    def add_virtual_file(self, size: int) -> JSON:
        """A file that claims ``size`` bytes without holding them (for too-large uploads)."""
        info = self.add_file(b"", path_prefix="documents", suffix="bin")
        info["file_size"] = size
        self._virtual_sizes[info["file_id"]] = size
        return info

    def download(self, file_id: str) -> bytes:
        return self.files[file_id].data

    def push_update(self, update: JSON) -> JSON:
        """Queue an update for ``getUpdates`` (an ``update_id`` is assigned)."""
        update = dict(update, update_id=next(self._update_ids))
        self._updates.append(update)
        self._notify()
        return update

    def new_message_id(self) -> int:
        return next(self._message_ids)

    def new_callback_id(self) -> str:
        return f"{next(self._callback_ids)}{time.time_ns() % 10**9}"

    def record_message(self, chat_id: int, message: JSON, *, from_bot: bool) -> ChatMessage:
        entry = ChatMessage(message=message, from_bot=from_bot)
        self.chats.setdefault(chat_id, []).append(entry)
        self._notify()
        return entry

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 10.0) -> T:
        """Wait until ``predicate()`` returns something truthy, and return it.

        The predicate is tried again after every change (a call, a message, an update).
        """
        assert self._started, "start() the server first"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"waited {timeout:.0f} s for the bot")
            changed = loop.create_future()
            self._waiters.append(changed)
            timer = loop.call_later(left, _settle, changed)
            try:
                await changed
            finally:
                timer.cancel()

    def _notify(self) -> None:
        """Wake every wait_for once, after the current step (however many changes it made)."""
        if not self._started or self._wake_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no running loop: nobody can be waiting
            return
        self._wake_scheduled = True
        loop.call_soon(self._wake)

    def _wake(self) -> None:
        self._wake_scheduled = False
        waiters, self._waiters = self._waiters, []
        for changed in waiters:
            _settle(changed)

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params = await self._read_params(request)
        call = Call(method=method, params=params, at=time.monotonic())
        self.calls.append(call)
        self._notify()  # someone may be waiting for this call (say, the first long poll)
        try:
            if ":" not in token:
                raise ApiError(404, "Not Found")
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            chat_id = _chat_key(params.get("chat_id"))
            self._raise_injected(method, chat_id)
            handler = getattr(self, "api_" + method.lower(), None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            result = await handler(params)
            lost = next((x for x in self._lost if x.matches(method, chat_id)), None)
            if lost is not None:
                lost.count -= 1
                call.error = "reply lost"
                self.lost_replies.append(call)
                await self._never_answer(request, lost.hang)
            slow = next((x for x in self._slow if x.matches(method)), None)
            if slow is not None:
                slow.count -= 1
                await asyncio.sleep(slow.seconds)
        except ApiError as e:
            call.error = f"{e.code} {e.description}"
            body: JSON = {"ok": False, "error_code": e.code, "description": e.description}
            if e.parameters:
                body["parameters"] = e.parameters
            return web.json_response(body, status=e.code)
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """A file, written in chunks as a file server does, counting what was written (a
        downloader that gives up early leaves the rest unsent)."""
        if request.match_info["token"] != self.token:
            return web.Response(status=401, text="Unauthorized")
        path = request.match_info["path"]
        stored = next((f for f in self.files.values() if f.file_path == path), None)
        if stored is None:
            return web.Response(status=404, text="Not Found")
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if stored.hide_size:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(stored.data)
        self.file_bytes_sent.setdefault(path, 0)
        await response.prepare(request)
        chunk = 64 * 1024
        try:
            for start in range(0, len(stored.data), chunk):
                part = stored.data[start : start + chunk]
                await response.write(part)
                self.file_bytes_sent[path] += len(part)
            await response.write_eof()
        except (ConnectionResetError, ConnectionError):
            pass  # the downloader hung up
        return response

    async def _read_params(self, request: web.Request) -> JSON:
        """Form, multipart or JSON bodies, and query strings, as the real server accepts."""
        params: JSON = dict(request.query)
        if request.content_type == "application/json":
            with contextlib.suppress(ValueError):
                params.update(await request.json())
            return params
        if request.body_exists:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):  # an uploaded file
                    params[key] = {
                        "filename": value.filename,
                        "data": value.file.read(),
                        "content_type": value.content_type,
                    }
                else:
                    params[key] = value
        return params

    def _raise_injected(self, method: str, chat_id: int | None) -> None:
        now = time.monotonic()
        self._storms = [storm for storm in self._storms if storm.until > now]
        if self._storms and method != "getUpdates":
            retry_after = max(storm.retry_after for storm in self._storms)
            raise _error(429, None, retry_after)
        for injected in self._injected:
            if injected.matches(method, chat_id):
                injected.count -= 1
                raise ApiError(injected.code, injected.description, injected.parameters)

    async def _never_answer(self, request: web.Request, hang: float) -> None:
        """Hold the request for ``hang`` seconds, then close its connection unanswered."""
        if hang > 0:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(hang)
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # aiohttp ends the handler without writing anything

    # -- parameter helpers --------------------------------------------------------------------

    @staticmethod
    def _json_param(params: JSON, name: str) -> Any:
        value = params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
        return value

    def _chat_id(self, params: JSON) -> int:
        raw = params.get("chat_id")
        try:
            chat_id = int(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        if chat_id in self.migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.migrated[chat_id]},
            )
        if chat_id not in self.chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self.blocked_by:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.failing_chats:
            error = self.failing_chats[chat_id]
            raise ApiError(error.code, error.description, error.parameters)
        return chat_id

    def _reply_markup(self, params: JSON) -> JSON | None:
        markup = self._json_param(params, "reply_markup")
        if markup is None:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_MAX_BYTES:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
        return dict(markup)

    def _chat_of(self, chat_id: int) -> JSON:
        if chat_id in self._chat_types:
            return dict(self._chat_types[chat_id])
        for m in self.chats.get(chat_id, []):
            return dict(m.message["chat"])
        return {"id": chat_id, "type": "private"}

    def _new_bot_message(self, chat_id: int, params: JSON, **content: Any) -> JSON:
        message: JSON = {
            "message_id": self.new_message_id(),
            "from": self.bot_user,
            "chat": self._chat_of(chat_id),
            "date": int(time.time()),
            **content,
        }
        markup = self._reply_markup(params)
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        reply_to = params.get("reply_to_message_id")
        reply_parameters = self._json_param(params, "reply_parameters")
        if reply_parameters:
            reply_to = reply_parameters.get("message_id")
        if reply_to is not None:
            original = self.find_message(chat_id, int(reply_to))
            if original is None and not (reply_parameters or {}).get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
            if original is not None:
                message["reply_to_message"] = original.message
        self.record_message(chat_id, message, from_bot=True)
        return message

    def _upload(self, params: JSON, name: str) -> tuple[bytes, str | None, str | None]:
        """The bytes of an uploaded file, or of a file sent before by its file_id."""
        value = params.get(name)
        if isinstance(value, dict):
            return value["data"], value.get("filename"), value.get("content_type")
        if isinstance(value, str) and value.startswith("attach://"):
            return self._upload(params, value.removeprefix("attach://"))
        if isinstance(value, str) and value in self.files:
            return self.files[value].data, None, None
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: failed to get HTTP URL content")
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    def _photo_sizes(self, data: bytes) -> list[JSON]:
        """What Telegram keeps of a photo: it checks the limits, then recompresses."""
        if len(data) > MAX_PHOTO_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                picture = image.convert("RGB")
        except Exception:
            raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED") from None
        w, h = picture.size
        if w + h > MAX_PHOTO_SIDES_SUM or max(w, h) / max(1, min(w, h)) > MAX_PHOTO_ASPECT:
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        sizes = []
        for limit in PHOTO_SIZES:
            scale = min(1.0, limit / max(w, h))
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            buffer = io.BytesIO()
            picture.resize(size).save(buffer, "JPEG", quality=87)
            info = self.add_file(buffer.getvalue())
            sizes.append(dict(info, width=size[0], height=size[1]))
            if scale == 1.0:
                break
        for entry in sizes:
            self._photos[entry["file_id"]] = sizes
        return sizes

    def _document(self, data: bytes, filename: str | None, mime: str | None) -> JSON:
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        suffix = (filename or "file.bin").rsplit(".", 1)[-1]
        info = self.add_file(data, path_prefix="documents", suffix=suffix)
        return dict(
            info, file_name=filename or "file", mime_type=mime or "application/octet-stream"
        )

    def _caption(self, params: JSON) -> JSON:
        caption = params.get("caption")
        if caption is None:
            return {}
        if len(caption) > CAPTION_MAX:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": caption}

    def _editable(self, params: JSON) -> ChatMessage:
        if "inline_message_id" in params:
            raise ApiError(400, "Bad Request: inline messages are not supported by this fake")
        chat_id = self._chat_id(params)
        try:
            message_id = int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: message identifier is not specified") from None
        entry = self.find_message(chat_id, message_id)
        if entry is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not entry.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return entry

    def _apply_edit(self, entry: ChatMessage, new: JSON) -> JSON:
        if new == entry.message:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of "
                "the message",
            )
        entry.edits.append((time.monotonic(), entry.message))
        entry.message = new
        self._notify()
        return dict(new, edit_date=int(time.time()))

    def _with_markup(self, new: JSON, params: JSON) -> JSON:
        markup = self._reply_markup(params)
        new.pop("reply_markup", None)
        if markup is not None and markup.get("inline_keyboard"):
            new["reply_markup"] = markup
        return new

    # -- Bot API methods ----------------------------------------------------------------------

    async def api_getme(self, params: JSON) -> JSON:
        return self.bot_user

    async def api_logout(self, params: JSON) -> bool:
        return True

    async def api_close(self, params: JSON) -> bool:
        return True

    async def api_deletewebhook(self, params: JSON) -> bool:
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._confirmed = next(self._update_ids)
            self._update_ids = itertools.count(self._confirmed + 1)
        self.webhook = {"url": ""}
        return True

    async def api_setwebhook(self, params: JSON) -> bool:
        url = params.get("url", "")
        if url and not url.startswith(("https://", "http://")):
            raise ApiError(400, "Bad Request: bad webhook: unsupported URL protocol")
        self.webhook = {"url": url, "secret_token": params.get("secret_token")}
        if url and (self._pusher is None or self._pusher.done()):
            self._pusher = asyncio.get_running_loop().create_task(self._push_to_webhook())
        return True

    async def api_getwebhookinfo(self, params: JSON) -> JSON:
        return {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates()),
        }

    async def _push_to_webhook(self) -> None:
        """Deliver updates to the webhook, as Telegram does once one is set."""
        async with aiohttp.ClientSession() as session:
            while url := self.webhook.get("url"):
                for update in self.pending_updates():
                    headers = {}
                    if self.webhook.get("secret_token"):
                        headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
                    try:
                        async with session.post(url, json=update, headers=headers) as response:
                            if response.status == 200:
                                self._confirmed = update["update_id"] + 1
                    except aiohttp.ClientError:
                        break
                await asyncio.sleep(0.1)

    async def api_getupdates(self, params: JSON) -> list[JSON]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(100, max(1, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        if offset > 0:
            self._confirmed = max(self._confirmed, offset)
        allowed = self._json_param(params, "allowed_updates")

        def ready() -> list[JSON] | bool:
            if self._closing:
                return True
            found = [u for u in self._updates if u["update_id"] >= self._confirmed]
            if allowed:
                found = [u for u in found if any(kind in u for kind in allowed)]
            return found[:limit]

        with contextlib.suppress(TimeoutError):
            found = await self.wait_for(ready, timeout=timeout) if timeout > 0 else ready()
            return found if isinstance(found, list) else []
        return []

    async def api_sendmessage(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        text = params.get("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > MESSAGE_TEXT_MAX:
            raise ApiError(400, "Bad Request: message is too long")
        return self._new_bot_message(chat_id, params, text=text)

    async def api_sendphoto(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        return self._new_bot_message(
            chat_id, params, photo=self._photo_param(params, "photo"), **self._caption(params)
        )

    def _photo_param(self, params: JSON, name: str) -> list[JSON]:
        """A photo's sizes. A photo sent again by the file_id of one of its sizes keeps them
        (Telegram does not recompress it); anything else is a new photo."""
        known = self._photos.get(str(params.get(name)))
        if known is not None:
            return [dict(size) for size in known]
        data, _, _ = self._upload(params, name)
        return self._photo_sizes(data)

    async def api_sendanimation(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        data, filename, _ = self._upload(params, "animation")
        return self._new_bot_message(
            chat_id, params, animation=self._animation(data, filename), **self._caption(params)
        )

    def _animation(self, data: bytes, filename: str | None) -> JSON:
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        film = decode_film(data)
        info = self.add_file(data, path_prefix="animations", suffix="mp4")
        self.animations[info["file_id"]] = film
        return dict(
            info,
            width=film.width,
            height=film.height,
            duration=round(film.seconds),
            file_name=filename or "animation.mp4",
            mime_type="video/mp4",
        )

    async def api_sendvideo(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        data, filename, _ = self._upload(params, "video")
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        film = decode_film(data, sound=True)
        info = self.add_file(data, path_prefix="videos", suffix="mp4")
        self.videos[info["file_id"]] = film
        video = dict(
            info,
            width=film.width,
            height=film.height,
            duration=round(film.seconds),
            file_name=filename or "video.mp4",
            mime_type="video/mp4",
        )
        return self._new_bot_message(chat_id, params, video=video, **self._caption(params))

    async def api_senddocument(self, params: JSON) -> JSON:
        chat_id = self._chat_id(params)
        data, filename, mime = self._upload(params, "document")
        return self._new_bot_message(
            chat_id, params, document=self._document(data, filename, mime), **self._caption(params)
        )

    async def api_sendchataction(self, params: JSON) -> bool:
        self._chat_id(params)
        return True

    async def api_setmycommands(self, params: JSON) -> bool:
        commands = self._json_param(params, "commands") or []
        for command in commands:
            if not (1 <= len(command.get("command", "")) <= 32 and command.get("description")):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self.commands[params.get("language_code") or ""] = commands
        return True

    async def api_getmycommands(self, params: JSON) -> list[JSON]:
        return self.commands.get(params.get("language_code") or "", [])

    async def api_deletemycommands(self, params: JSON) -> bool:
        self.commands.pop(params.get("language_code") or "", None)
        return True

    async def api_answercallbackquery(self, params: JSON) -> bool:
        query_id = params.get("callback_query_id")
        if query_id not in self._callback_queries or query_id in self.callback_answers:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        text = params.get("text") or ""
        if len(text) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers[query_id] = {
            "text": text,
            "show_alert": str(params.get("show_alert", "")).lower() == "true",
        }
        return True

    def register_callback_query(self, query_id: str) -> None:
        self._callback_queries.add(query_id)

    async def api_editmessagetext(self, params: JSON) -> JSON:
        entry = self._editable(params)
        if "text" not in entry.message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = params.get("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        return self._apply_edit(entry, self._with_markup(dict(entry.message, text=text), params))

    async def api_editmessagecaption(self, params: JSON) -> JSON:
        entry = self._editable(params)
        if "text" in entry.message:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        new = dict(entry.message)
        new.pop("caption", None)
        new.update(self._caption(params))
        return self._apply_edit(entry, self._with_markup(new, params))

    async def api_editmessagereplymarkup(self, params: JSON) -> JSON:
        entry = self._editable(params)
        return self._apply_edit(entry, self._with_markup(dict(entry.message), params))

    async def api_editmessagemedia(self, params: JSON) -> JSON:
        entry = self._editable(params)
        if "text" in entry.message:
            raise ApiError(400, "Bad Request: there is no media in the message to edit")
        media = self._json_param(params, "media") or {}
        upload = dict(params, _media=media.get("media"))
        new = {k: v for k, v in entry.message.items() if k not in ("photo", "document", "caption")}
        if media.get("type") == "photo":
            new["photo"] = self._photo_param(upload, "_media")
        elif media.get("type") == "document":
            new["document"] = self._document(*self._upload(upload, "_media"))
        else:
            raise ApiError(400, "Bad Request: unsupported media type in this fake")
        new.update(self._caption({"caption": media.get("caption") or None}))
        return self._apply_edit(entry, self._with_markup(new, params))

    async def api_deletemessage(self, params: JSON) -> bool:
        chat_id = self._chat_id(params)
        entry = self.find_message(chat_id, int(params.get("message_id") or 0))
        if entry is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self.chats[chat_id].remove(entry)
        return True

    async def api_getfile(self, params: JSON) -> JSON:
        file_id = params.get("file_id") or ""
        stored = self.files.get(file_id)
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        size = self._virtual_sizes.get(file_id, len(stored.data))
        if size > MAX_DOWNLOAD_BYTES:
            raise ApiError(400, "Bad Request: file is too big")
        found: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_path": stored.file_path,
        }
        if not stored.hide_size:
            found["file_size"] = size
        return found


class ThreadedFakeTelegram:
    """The fake server on its own event loop in a background thread, for synchronous code.

    ``call(coroutine_function, *args)`` runs something on the server's loop (people act
    there), and returns its result.
    """

    def __init__(self, tg: FakeTelegram) -> None:
        self.tg = tg
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, daemon=True, name="fake-telegram"
        )

    def start(self) -> ThreadedFakeTelegram:
        self._thread.start()
        self.call(self.tg.start)
        return self

    def call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
        return asyncio.run_coroutine_threadsafe(function(*args, **kwargs), self.loop).result()

    def stop(self) -> None:
        self.call(self.tg.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def __enter__(self) -> ThreadedFakeTelegram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(**kwargs: Any) -> ThreadedFakeTelegram:
    """Start a :class:`FakeTelegram` in a background thread; stop it with ``.stop()``."""
    return ThreadedFakeTelegram(FakeTelegram(**kwargs)).start()


def _error(code: int, description: str | None, retry_after: int | None) -> ApiError:
    """An error answer in Telegram's words (a 429 carries its retry_after)."""
    parameters = None
    if code == 429:
        retry_after = 1 if retry_after is None else retry_after
        description = description or f"Too Many Requests: retry after {retry_after}"
        parameters = {"retry_after": retry_after}
    description = description or {
        400: "Bad Request",
        403: "Forbidden: bot was blocked by the user",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }.get(code, "Error")
    return ApiError(code, description, parameters)


def _chat_key(raw: object) -> int | None:
    try:
        return int(raw)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
