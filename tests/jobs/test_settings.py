"""The engine's settings (the job system's and the style engine's) come from the environment;
a bad value stops start-up with its name."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.env import SettingsError
from engine.jobs.settings import EngineSettings
from engine.style.settings import StyleSettings


def test_defaults_and_overrides() -> None:
    default = EngineSettings.from_env({})
    assert default.database_url == f"sqlite:///{Path('data/stylebot.db').resolve()}"
    assert (default.lease_seconds, default.poll_seconds) == (60.0, 0.5)
    assert default.cpu_nice == 10
    assert (default.preview_seconds, default.timelapse_frames, default.output_budget) == (
        5.0,
        48,
        0.03,
    )
    # compose passes unset variables as empty strings: they mean "the default".
    assert EngineSettings.from_env({"JOB_LEASE_SECONDS": "", "ENGINE_DEVICE": ""}) == default

    custom = EngineSettings.from_env(
        {
            "DATA_DIR": "/srv/stylebot",
            "JOB_LEASE_SECONDS": "120",
            "PREVIEW_SECONDS": "0",
            "TIMELAPSE_FRAMES": "12",
            "OUTPUT_BUDGET": "0.1",
        }
    )
    assert custom.database_url == "sqlite:////srv/stylebot/stylebot.db"
    assert custom.lease_seconds == 120.0
    assert (custom.preview_seconds, custom.timelapse_frames, custom.output_budget) == (0, 12, 0.1)
    style = StyleSettings.from_env(
        {"ENGINE_DEVICE": "cuda:1", "VGG_WEIGHTS": "/weights/vgg19.safetensors"}
    )
    assert style == StyleSettings(device="cuda:1", weights_path=Path("/weights/vgg19.safetensors"))
    assert StyleSettings.from_env({"ENGINE_DEVICE": "", "VGG_WEIGHTS": ""}) == StyleSettings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JOB_LEASE_SECONDS": "soon"}, "JOB_LEASE_SECONDS must be a number, got 'soon'"),
        ({"JOB_LEASE_SECONDS": "1"}, "JOB_LEASE_SECONDS must be at least 5"),
        ({"WORKER_POLL_SECONDS": "0"}, "WORKER_POLL_SECONDS must be at least 0.01"),
        ({"WORKER_CPU_NICE": "20"}, "WORKER_CPU_NICE must be 0 to 19, got 20"),
        ({"WORKER_CPU_NICE": "-1"}, "WORKER_CPU_NICE must be at least 0"),
        ({"TIMELAPSE_FRAMES": "49"}, "TIMELAPSE_FRAMES must be 0 to 48, got 49"),
        ({"PREVIEW_SECONDS": "-1"}, "PREVIEW_SECONDS must be at least 0"),
        ({"OUTPUT_BUDGET": "some"}, "OUTPUT_BUDGET must be a number, got 'some'"),
        (
            {"JOB_LEASE_SECONDS": "10", "JOB_HEARTBEAT_SECONDS": "10"},
            "JOB_HEARTBEAT_SECONDS must be shorter than JOB_LEASE_SECONDS",
        ),
    ],
)
def test_a_bad_value_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        EngineSettings.from_env(env)
