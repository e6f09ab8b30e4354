"""Fast in-process tests of the bot's pieces: texts, buttons, settings, uploads, logging."""

from __future__ import annotations

import logging
import string

import pytest

from bot import callback_data as cd
from bot.delivery.limits import as_photo
from bot.delivery.status import progress_bar, status_text
from bot.logging_setup import REDACTED, RedactToken
from bot.settings import BotSettings, SettingsError
from bot.store.people import Person, PersonCache
from bot.texts import LANGUAGES, Texts, en, pick_language, ru
from bot.uploads import UploadRejected, check_upload
from engine.jobs.models import JobState
from engine.video.limits import CPU_LIMITS, GPU_LIMITS
from tests.support.pictures import draw_image

TOKEN = "123456789:AAH-valid_looking_token_0123456789abc"


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_language_has_the_same_texts_and_placeholders() -> None:
    assert en.TEXTS.keys() == ru.TEXTS.keys()
    for key, text in en.TEXTS.items():
        assert fields(text) == fields(ru.TEXTS[key]), key
        assert text.strip() and ru.TEXTS[key].strip(), key


def test_language_follows_telegram_until_chosen() -> None:
    assert pick_language(None, "ru-RU") == "ru"
    assert pick_language(None, "de") == "en"
    assert pick_language("en", "ru") == "en"
    assert set(LANGUAGES) == {"en", "ru"}
    assert Texts("ru")("queued", position=3).startswith("В очереди")


@pytest.mark.parametrize(
    "action",
    [
        cd.PickPreset("starry-night"),
        cd.GalleryPage(3),
        cd.CancelJob(2**40),
        cd.SwapJob(7),
        cd.Rerun(12, "s"),
        cd.SettingsMenu(),
        cd.SettingsMenu("size"),
        cd.SettingsMenu("quality", "high"),
        cd.ChooseLanguage("ru"),
    ],
)
def test_callback_data_round_trips_within_64_bytes(action: cd.Action) -> None:
    data = cd.encode(action)
    assert len(data.encode()) <= 64
    assert cd.parse(data) == action


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "x",
        "x:",
        "x:0",
        "x:-1",
        "x:1e5",
        "x:99999999999999999999",
        "x:1:2",
        "r:5:z",
        "r:5",
        "p:../etc",
        "p:UPPER",
        "s:size:9999",
        "s:nope",
        "l:de",
        "g:-1",
        "q:1",
        "x:١٢",
        "p:" + "a" * 70,
    ],
)
def test_forged_callback_data_is_rejected(data: str | None) -> None:
    assert cd.parse(data) is None


def test_settings_from_env() -> None:
    settings = BotSettings.from_env(
        {
            "BOT_TOKEN": TOKEN,
            "ADMIN_IDS": "1, 2",
            "ALLOWED_USERS": "",
            "MAX_UPLOAD_BYTES": str(50 * 2**20),
            "DATA_DIR": "/tmp/x",
        }
    )
    assert settings.admin_ids == {1, 2}
    assert settings.allowed_users is None
    assert settings.max_upload_bytes == 20 * 2**20  # Telegram's getFile limit caps it
    assert settings.database_url.startswith("sqlite:////tmp/x/")
    assert not settings.webhook
    assert (settings.max_attempts, settings.delivery_poll_seconds) == (3, 0.1)
    with pytest.raises(SettingsError, match="JOB_MAX_ATTEMPTS must be a whole number"):
        BotSettings.from_env({"BOT_TOKEN": TOKEN, "JOB_MAX_ATTEMPTS": "2.5"})
    # Clips are held to a CPU worker's limits unless every worker has a GPU.
    assert settings.video_limits == CPU_LIMITS
    gpu = BotSettings.from_env({"BOT_TOKEN": TOKEN, "VIDEO_LIMITS": "GPU"})
    assert gpu.video_limits == GPU_LIMITS
    with pytest.raises(SettingsError, match="VIDEO_LIMITS must be cpu or gpu"):
        BotSettings.from_env({"BOT_TOKEN": TOKEN, "VIDEO_LIMITS": "tpu"})


@pytest.mark.parametrize("token", ["", "   ", "123:short", "YOUR_TOKEN_HERE", "abc:" + "x" * 35])
def test_missing_or_malformed_token_is_refused_without_echoing_it(token: str) -> None:
    with pytest.raises(SettingsError, match="BOT_TOKEN") as caught:
        BotSettings.from_env({"BOT_TOKEN": token})
    if token.strip():
        assert token not in str(caught.value)


def test_webhook_needs_a_secret() -> None:
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        BotSettings.from_env({"BOT_TOKEN": TOKEN, "WEBHOOK_URL": "https://example.org/hook"})


def test_token_is_redacted_from_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    redactor = RedactToken(TOKEN)
    logger = logging.getLogger("httpx.test")
    caplog.handler.addFilter(redactor)
    try:
        logger.warning("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
        try:
            raise RuntimeError(f"failed url .../bot{TOKEN}/sendPhoto")
        except RuntimeError:
            logger.exception("boom")
    finally:
        caplog.handler.removeFilter(redactor)
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text
    assert REDACTED in caplog.text


def picture(width: int, height: int, fmt: str = "JPEG") -> bytes:
    return draw_image(width, height, color=(10, 200, 30), format=fmt, stripes=False)


def test_uploads_are_checked() -> None:
    upload = check_upload(picture(300, 200), max_pixels=10**6)
    assert (upload.width, upload.height, upload.mime) == (300, 200, "image/jpeg")
    webp = check_upload(picture(100, 100, "WEBP"), max_pixels=10**6)
    assert webp.mime == "image/jpeg"  # re-encoded for the engine
    for data, key in [
        (b"%PDF-1.4 not a picture", "not_image"),
        (picture(2000, 1000), "too_many_pixels"),
        (picture(400, 10), "bad_shape"),
        (picture(300, 200)[: len(picture(300, 200)) * 2 // 3], "damaged"),
    ]:
        with pytest.raises(UploadRejected) as caught:
            check_upload(data, max_pixels=10**6)
        assert caught.value.key == key


def test_what_goes_as_a_photo() -> None:
    assert as_photo(1000, 1280, 960)
    assert not as_photo(11 * 2**20, 1280, 960)
    assert not as_photo(1000, 6000, 5000)
    assert not as_photo(1000, 2100, 100)


def test_status_text_shows_position_then_a_bar_with_eta() -> None:
    t = Texts("en")
    assert "place 3" in status_text(t, JobState.QUEUED, position=3)
    assert status_text(t, JobState.QUEUED, position=1) == status_text(t, JobState.QUEUED)
    text = status_text(t, JobState.RUNNING, progress=0.42, eta_seconds=75.0)
    assert progress_bar(0.42) in text and "42%" in text and "75 s" in text


# -- people's settings kept in memory ---------------------------------------------------------


def a_person(user_id: int, quality: str = "balanced") -> Person:
    return Person(
        id=user_id,
        language=None,
        quality=quality,
        size=None,
        strength=1.0,
        keep_colors=False,
        send_file=False,
    )


def test_people_keeps_what_it_was_given_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("bot.store.people.time.monotonic", lambda: now[0])
    people = PersonCache(ttl=60)
    assert people.get(1) is None
    people.put(a_person(1))
    people.put(a_person(1, quality="best"))  # a setting changed: the newer one counts
    cached = people.get(1)
    assert cached is not None and cached.quality == "best"
    now[0] += 61
    assert people.get(1) is None  # read again from the database after the ttl


def test_people_forgets_the_least_recently_seen_first() -> None:
    people = PersonCache(size=2)
    people.put(a_person(1))
    people.put(a_person(2))
    assert people.get(1) is not None  # 1 is now the most recently seen
    people.put(a_person(3))
    assert people.get(2) is None
    assert people.get(1) is not None and people.get(3) is not None
