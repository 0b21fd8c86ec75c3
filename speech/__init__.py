"""Speech: decode call audio, find speech with VAD, and transcribe it as it streams.

The entry point is :class:`speech.streaming.CallTranscriber`: feed it 16 kHz float audio per
channel and it emits partial and final transcript segments, decoded by a shared
:class:`speech.engine.SpeechEngine` (one Whisper model per process).
"""
