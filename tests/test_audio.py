"""Audio formats: files of every container, wire frames of any length, resampling, mu-law."""

import numpy as np
import pytest

from speech.audio import FrameDecoder, MULAW_TO_FLOAT, StreamResampler, decode_file, float_to_mulaw, float_to_pcm16
from tests.audio_files import write_audio
from tests.conftest import STEREO_CLIP, fleurs_clip


def test_pcm_frames_split_mid_sample_decode_exactly():
    rng = np.random.default_rng(0)
    left, right = rng.uniform(-0.9, 0.9, (2, 3001)).astype(np.float32)
    wire = float_to_pcm16(np.stack([left, right]).T.reshape(-1))
    decoder = FrameDecoder("pcm_s16le", channels=2)
    pieces, position = [], 0
    for size in rng.integers(1, 37, 10_000):  # odd sizes cut samples and channels in half
        pieces.append(decoder.decode(wire[position:position + size]))
        position += size
        if position >= len(wire):
            break
    audio = np.concatenate(pieces, axis=1)
    assert audio.shape == (2, 3001)
    assert np.abs(audio[0] - left).max() < 1e-4
    assert np.abs(audio[1] - right).max() < 1e-4
    assert decoder.pending_bytes == 0


def test_mulaw_round_trip_keeps_the_signal():
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    decoded = MULAW_TO_FLOAT[np.frombuffer(float_to_mulaw(tone), dtype=np.uint8)]
    snr = 10 * np.log10(np.sum(tone**2) / np.sum((tone - decoded) ** 2))
    assert snr > 30  # G.711 gives about 38 dB on a loud tone


def test_stream_resampler_8k_to_16k_keeps_duration_and_pitch():
    rate = 8000
    tone = np.sin(2 * np.pi * 1000 * np.arange(rate * 2) / rate).astype(np.float32)[None, :]
    resampler = StreamResampler(rate, channels=1)
    out = np.concatenate([resampler.process(tone[:, i:i + 160]) for i in range(0, tone.shape[1], 160)]
                         + [resampler.process(np.zeros((1, 0), np.float32), last=True)], axis=1)
    assert abs(out.shape[1] - 32000) <= 16
    window = out[0, 4000:20000]
    peak_hz = np.argmax(np.abs(np.fft.rfft(window))) * 16000 / len(window)
    assert abs(peak_hz - 1000) < 5


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".ogg"])
def test_decode_file_reads_each_container_at_16k(tmp_path, suffix):
    clip, _ = fleurs_clip("es", 0)
    original = decode_file(clip)
    path = write_audio(tmp_path / f"clip{suffix}", original[:, :16000 * 3], rate=16000)
    decoded = decode_file(path)
    assert decoded.shape[0] == 1
    assert abs(decoded.shape[1] - 48000) < 16000 * 0.1  # codecs pad a little


def test_decode_file_keeps_stereo_channels_apart():
    audio = decode_file(STEREO_CLIP)
    assert audio.shape == (2, 80000)
    assert not np.allclose(audio[0], audio[1])


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_decode_file_keeps_left_as_channel_0_and_right_as_channel_1(tmp_path, suffix):
    """A 440 Hz tone on the left, 1000 Hz on the right: row 0 is the left (customer), row 1 the
    right (agent), through every container, so a call's roles are never swapped."""
    t = np.arange(16000 * 2) / 16000
    left, right = 0.5 * np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 1000 * t)
    decoded = decode_file(write_audio(tmp_path / f"lr{suffix}", np.stack([left, right]).astype(np.float32)))
    assert decoded.shape[0] == 2
    for row, hz in ((0, 440), (1, 1000)):
        window = decoded[row, 4000:20000]
        assert abs(np.argmax(np.abs(np.fft.rfft(window))) * 16000 / len(window) - hz) < 5


def test_interleaved_wire_frames_put_the_first_sample_of_each_pair_on_channel_0():
    decoder = FrameDecoder("pcm_s16le", channels=2)
    frames = decoder.decode(float_to_pcm16(np.array([0.5, -0.5] * 100, np.float32)))
    assert np.all(frames[0] > 0.49) and np.all(frames[1] < -0.49)
    mulaw = FrameDecoder("pcm_mulaw", channels=2).decode(float_to_mulaw(np.array([0.5, -0.5] * 100, np.float32)))
    assert np.all(mulaw[0] > 0.45) and np.all(mulaw[1] < -0.45)
