"""The watts behind each call's energy estimate (assistant.compute): configured per device."""

from assistant.compute import asr_watts, energy_wh
from assistant.config import Settings


def test_watts_come_from_the_device_default_unless_one_figure_is_set():
    defaults = Settings.from_env({})
    assert asr_watts(defaults, "cpu") == 65.0 and asr_watts(defaults, "cuda") == 300.0
    tuned = Settings.from_env({"RAFIQ_ASR_WATTS_CPU": "28", "RAFIQ_ASR_WATTS_CUDA": "410"})
    assert asr_watts(tuned, "cpu") == 28.0 and asr_watts(tuned, "cuda") == 410.0
    measured = Settings.from_env({"RAFIQ_ASR_WATTS": "120", "RAFIQ_ASR_WATTS_CPU": "28"})
    assert asr_watts(measured, "cpu") == asr_watts(measured, "cuda") == 120.0


def test_energy_is_busy_seconds_times_watts_over_3600():
    assert energy_wh(36.0, 100.0) == 1.0
    assert energy_wh(0.0, 65.0) == 0.0
