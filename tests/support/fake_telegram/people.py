"""Simulated people: they send messages, photos and files to the bot and press its buttons.

Each person has a private chat with the bot (chat id = user id, as in Telegram). What they do
becomes an update on the fake server; what the bot answers is read back from the chat.
"""

from __future__ import annotations

import io
import itertools
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from ..pictures import draw_image
from .server import JSON, ChatMessage, FakeTelegram

_user_ids = itertools.count(1001)


class Person:
    """A Telegram user talking to the bot in a private chat."""

    def __init__(
        self,
        tg: FakeTelegram,
        *,
        first_name: str = "Alice",
        language_code: str | None = "en",
        user_id: int | None = None,
        username: str | None = None,
    ) -> None:
        self.tg = tg
        self.id = next(_user_ids) if user_id is None else user_id
        self.user: JSON = {"id": self.id, "is_bot": False, "first_name": first_name}
        if username:
            self.user["username"] = username
        if language_code:
            self.user["language_code"] = language_code
        self.chat: JSON = {"id": self.id, "type": "private", "first_name": first_name}
        tg.chats.setdefault(self.id, [])

    # -- what the person does -----------------------------------------------------------------

    def _send(self, **content: Any) -> JSON:
        message: JSON = {
            "message_id": self.tg.new_message_id(),
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            **content,
        }
        self.tg.record_message(self.id, message, from_bot=False)
        self.tg.push_update({"message": message})
        return message

    def send_text(self, text: str) -> JSON:
        """Type a message; a leading /command is marked as one, as Telegram does."""
        content: JSON = {"text": text}
        if text.startswith("/"):
            length = len(text.split()[0])
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._send(**content)

    def command(self, name: str, *args: str) -> JSON:
        return self.send_text(" ".join([f"/{name}", *args]))

    def send_photo(self, data: bytes, *, caption: str | None = None) -> JSON:
        """Send a picture as a photo: Telegram keeps a few recompressed sizes, 1280 at most."""
        sizes = self.tg._photo_sizes(data)
        content: JSON = {"photo": sizes}
        if caption:
            content["caption"] = caption
        return self._send(**content)

    def send_document(
        self,
        data: bytes,
        *,
        file_name: str = "picture.jpg",
        mime_type: str | None = "image/jpeg",
        claimed_size: int | None = None,
        hide_size: bool = False,
    ) -> JSON:
        """Send a file as it is (full quality); ``claimed_size`` fakes a huge file;
        ``hide_size``: Telegram gives no ``file_size``; ``mime_type`` None: nor a type."""
        if claimed_size is None:
            info = self.tg.add_file(
                data,
                path_prefix="documents",
                suffix=file_name.rsplit(".", 1)[-1],
                hide_size=hide_size,
            )
        else:
            info = self.tg.add_virtual_file(claimed_size)
        document = dict(info, file_name=file_name)
        if mime_type is not None:
            document["mime_type"] = mime_type
        return self._send(document=document)

    def send_sticker(self) -> JSON:
        info = self.tg.add_file(
            draw_image(64, 64, format="PNG"), path_prefix="stickers", suffix="webp"
        )
        return self._send(
            sticker=dict(
                info,
                width=512,
                height=512,
                is_animated=False,
                is_video=False,
                type="regular",
                emoji="🙂",
            )
        )

    def send_animation(
        self,
        data: bytes = b"GIF89a" + b"\0" * 32,
        *,
        width: int = 64,
        height: int = 64,
        duration: int = 1,
    ) -> JSON:
        """Send a GIF (Telegram hands it on as an MP4 animation: ``data``); by default bytes
        that are no clip at all."""
        info = self.tg.add_file(data, path_prefix="animations", suffix="mp4")
        animation = dict(
            info,
            width=width,
            height=height,
            duration=duration,
            file_name="a.gif.mp4",
            mime_type="video/mp4",
        )
        # Telegram sends a GIF as an animation with a document alongside.
        return self._send(animation=animation, document=dict(animation))

    def send_video(
        self, data: bytes = b"\0" * 64, *, width: int = 64, height: int = 64, duration: int = 1
    ) -> JSON:
        info = self.tg.add_file(data, path_prefix="videos", suffix="mp4")
        video = dict(info, width=width, height=height, duration=duration, mime_type="video/mp4")
        return self._send(video=video)

    def send_video_note(self, data: bytes, *, length: int = 64, duration: int = 1) -> JSON:
        """A round video message: square, its side ``length``."""
        info = self.tg.add_file(data, path_prefix="video_notes", suffix="mp4")
        return self._send(video_note=dict(info, length=length, duration=duration))

    def send_voice(self) -> JSON:
        info = self.tg.add_file(b"OggS" + b"\0" * 64, path_prefix="voice", suffix="oga")
        return self._send(voice=dict(info, duration=1, mime_type="audio/ogg"))

    def press(self, message: ChatMessage | JSON, button: str) -> str:
        """Press a button of a bot message, found by its text or callback_data.

        Only buttons the message shows now can be pressed, as in a real client.
        """
        entry = message if isinstance(message, ChatMessage) else self._entry(message)
        for b in entry.buttons:
            if button in (b.get("text"), b.get("callback_data")) and "callback_data" in b:
                return self.press_data(entry, b["callback_data"])
        shown = [b.get("text") for b in entry.buttons]
        raise AssertionError(f"no button {button!r} on the message; it shows {shown}")

    def press_data(self, message: ChatMessage | JSON, data: str) -> str:
        """Send any callback_data as if a button had it (a forged or stale press)."""
        entry = message if isinstance(message, ChatMessage) else self._entry(message)
        query_id = self.tg.new_callback_id()
        self.tg.register_callback_query(query_id)
        self.tg.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self.user,
                    "message": entry.message,
                    "chat_instance": f"ci{self.id}",
                    "data": data,
                }
            }
        )
        return query_id

    def delete(self, message: ChatMessage) -> None:
        """Delete a bot message from the chat (a private chat lets a person do that); the bot
        can no longer edit it."""
        self.tg.chats[self.id].remove(message)

    def block_bot(self) -> None:
        """From now on the bot's messages to this person fail with 403 Forbidden."""
        self.tg.blocked_by.add(self.id)

    # -- what the person sees -----------------------------------------------------------------

    def _entry(self, message: JSON) -> ChatMessage:
        entry = self.tg.find_message(self.id, int(message["message_id"]))
        assert entry is not None, "that message is not in the chat (deleted?)"
        return entry

    @property
    def messages(self) -> list[ChatMessage]:
        """Everything the bot has sent this person, oldest first, as it stands now."""
        return self.tg.bot_messages(self.id)

    def sent_after(self, mark: int) -> list[ChatMessage]:
        """Bot messages sent after ``mark`` (a count taken from ``len(person.messages)``)."""
        return self.messages[mark:]

    async def wait_message(
        self,
        predicate: Callable[[ChatMessage], bool] = lambda m: True,
        *,
        after: int = 0,
        timeout: float = 15.0,
    ) -> ChatMessage:
        """Wait for a bot message (sent after ``after``) that matches ``predicate``."""

        def found() -> ChatMessage | None:
            return next((m for m in self.sent_after(after) if predicate(m)), None)

        try:
            return await self.tg.wait_for(found, timeout)
        except TimeoutError:
            seen = [(m.kind, m.text[:80]) for m in self.messages]
            raise AssertionError(
                f"no such message in {timeout:.0f} s; the chat has {seen}"
            ) from None

    async def wait_reply(
        self, text: str | None = None, *, after: int = 0, timeout: float = 15.0
    ) -> ChatMessage:
        """Wait for a bot message whose text or caption contains ``text``."""
        return await self.wait_message(
            lambda m: text is None or text in m.text, after=after, timeout=timeout
        )

    async def wait_answer(self, query_id: str, timeout: float = 10.0) -> JSON:
        """Wait for the bot to answer a button press; returns ``{"text", "show_alert"}``."""
        return await self.tg.wait_for(lambda: self.tg.callback_answers.get(query_id), timeout)

    async def wait_edit(
        self, message: ChatMessage, predicate: Callable[[ChatMessage], bool], timeout: float = 15.0
    ) -> ChatMessage:
        """Wait until an edited message matches ``predicate``."""
        return await self.tg.wait_for(lambda: message if predicate(message) else None, timeout)

    def download(self, file_id: str) -> bytes:
        return self.tg.download(file_id)

    def largest_photo(self, message: ChatMessage) -> Image.Image:
        """The biggest size Telegram kept of a photo message, decoded."""
        sizes = message.message["photo"]
        best = max(sizes, key=lambda s: s["width"] * s["height"])
        return Image.open(io.BytesIO(self.download(best["file_id"])))
