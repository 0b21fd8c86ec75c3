"""Web pages of Rafiq: the agent panel (static HTML/JS served by the assistant)."""

import pathlib

STATIC_DIR = pathlib.Path(__file__).parent / "static"
