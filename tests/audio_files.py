"""Write test audio in real container formats (wav, flac, mp3, ogg) with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

CODECS = {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame", ".ogg": "libopus"}


def write_audio(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """samples: float32 (channels, n) in [-1, 1]."""
    channels = samples.shape[0]
    codec = CODECS[path.suffix]
    out_rate = 48000 if codec == "libopus" else rate
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=out_rate, layout="mono" if channels == 1 else "stereo")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.T.reshape(1, -1), format="s16",
                                           layout="mono" if channels == 1 else "stereo")
        frame.sample_rate = rate
        if out_rate != rate:
            resampler = av.AudioResampler(format=stream.codec_context.format, layout=stream.codec_context.layout,
                                          rate=out_rate)
            frames = resampler.resample(frame) + resampler.resample(None)
        else:
            frames = [frame]
        for f in frames:
            for packet in stream.encode(f):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
