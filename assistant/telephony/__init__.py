"""Telephony ingress: one module per platform protocol (Twilio Media Streams, Genesys AudioHook,
Asterisk AudioSocket, FreeSWITCH mod_audio_fork / mod_audio_stream), each turning its wire
messages into call metadata and audio for the shared driver (``driver.py``)."""
