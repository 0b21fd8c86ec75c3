"""Telephony ingress authentication: each platform's connection checked the way that platform
signs it, and each credential bound to the tenant (and campaign) its calls land in.

- Twilio Media Streams: ``X-Twilio-Signature`` on the WebSocket upgrade, HMAC-SHA1 of the stream
  URL as Twilio requested it (``RAFIQ_PUBLIC_URL`` + path and query) with the account's auth
  token, checked by the ``twilio`` package's ``RequestValidator``.
- Genesys AudioHook: the HTTP message signature (RFC 9421, hmac-sha256) Genesys puts on the
  upgrade when the integration has a client secret, as the AudioHook specification asks:
  covered components, ``keyid`` = the X-API-KEY, a nonce of 22+ characters never seen before,
  ``created`` at most ``AUDIOHOOK_MAX_AGE_S`` old within ``CLOCK_SKEW_S``.
- FreeSWITCH: a shared token in the URL query (``token``) or the ``X-Rafiq-Token`` /
  ``Authorization: Bearer`` header, compared in constant time.
- Asterisk AudioSocket (no authentication in its protocol): allowed source networks.

Every credential variable is a comma-separated list of entries ``credential[@tenant[/campaign]]``:
a bound entry puts the call in that tenant (and campaign) whatever the connection claims. A
variable left empty leaves that ingress open (development); ``open_ingresses`` names them for the
start-up log and the admin's settings page.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping

from http_message_signatures import HTTPMessageVerifier, HTTPSignatureKeyResolver, InvalidSignature, algorithms
from http_message_signatures.exceptions import HTTPMessageSignaturesException
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

# AudioHook specification (and Genesys's reference server): what a signature must cover, how old
# it may be, the clock skew tolerated and the shortest nonce.
AUDIOHOOK_COMPONENTS = ("@request-target", "@authority", "audiohook-organization-id", "audiohook-session-id",
                        "audiohook-correlation-id", "x-api-key")
AUDIOHOOK_MAX_AGE_S = 10
CLOCK_SKEW_S = 3
NONCE_MIN_LENGTH = 22
FREESWITCH_TOKEN_HEADER = "x-rafiq-token"


class Refused(Exception):
    """A connection that did not authenticate; ``detail`` is for the log, never the peer."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class Binding:
    """Where the calls of one credential land: None leaves it to the connection's own metadata."""

    tenant: str | None = None
    campaign: str | None = None

    def apply(self, tenant: str | None, campaign: str | None, what: str) -> tuple[str | None, str | None]:
        """(tenant, campaign) of a call whose connection claimed these."""
        if self.tenant is not None and tenant not in (None, self.tenant):
            log.warning("telephony: a bound credential's call claimed another tenant; it stays in its own",
                        extra={"ingress": what, "claimed": tenant, "tenant": self.tenant})
        return (self.tenant or tenant, self.campaign or campaign)


UNBOUND = Binding()


def parse_entry(entry: str) -> tuple[str, Binding]:
    """'secret@tenant/campaign' → ('secret', Binding(tenant, campaign))."""
    credential, _, scope = entry.strip().partition("@")
    tenant, _, campaign = scope.partition("/")
    return credential.strip(), Binding(tenant.strip() or None, campaign.strip() or None)


def parse_entries(entries: tuple[str, ...] | list[str]) -> list[tuple[str, Binding]]:
    parsed = [parse_entry(entry) for entry in entries if entry.strip()]
    return [(credential, binding) for credential, binding in parsed if credential]


# --- Twilio -----------------------------------------------------------------------------------


def twilio_url(public_url: str, path: str, query: str, fallback: str) -> str:
    """The URL Twilio signed: ``RAFIQ_PUBLIC_URL`` + path and query (``fallback``, the request's
    own URL, when no public URL is set)."""
    if not public_url:
        return fallback
    return public_url.rstrip("/") + path + (f"?{query}" if query else "")


def check_twilio(tokens: list[tuple[str, Binding]], url: str, signature: str | None) -> Binding:
    """The binding of the auth token that signed ``url``; raises ``Refused``."""
    if not signature:
        raise Refused("no X-Twilio-Signature header")
    for token, binding in tokens:
        # Media Streams sign the URL alone: a WebSocket upgrade has no POST parameters.
        if RequestValidator(token).validate(url, {}, signature):
            return binding
    raise Refused(f"X-Twilio-Signature does not match {url}")


# --- Genesys AudioHook ------------------------------------------------------------------------


@dataclass
class AudioHookKey:
    api_key: str
    secret: bytes | None  # None: the integration has no client secret, the key alone is checked
    binding: Binding


def audiohook_keys(api_keys: tuple[str, ...], client_secrets: tuple[str, ...]) -> dict[str, AudioHookKey]:
    """RAFIQ_AUDIOHOOK_API_KEY entries (``key[@tenant[/campaign]]``) with their client secrets from
    RAFIQ_AUDIOHOOK_CLIENT_SECRET (base64; ``key:secret`` entries, or one bare secret for every key)."""
    keys = {key: AudioHookKey(key, None, binding) for key, binding in parse_entries(api_keys)}
    for entry in client_secrets:
        entry = entry.strip()
        if not entry:
            continue
        owner, sep, secret = entry.rpartition(":")
        try:
            decoded = base64.b64decode(secret, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("RAFIQ_AUDIOHOOK_CLIENT_SECRET: each secret must be base64 (as Genesys shows it)") from None
        if not keys:
            raise ValueError("RAFIQ_AUDIOHOOK_CLIENT_SECRET is set without RAFIQ_AUDIOHOOK_API_KEY (the key it signs with)")
        targets = [owner] if sep else list(keys)
        for key in targets:
            if key not in keys:
                raise ValueError(f"RAFIQ_AUDIOHOOK_CLIENT_SECRET names an API key not in RAFIQ_AUDIOHOOK_API_KEY: {key!r}")
            keys[key].secret = decoded
    return keys


@dataclass
class SignedRequest:
    """The upgrade request as the signature library reads a request."""

    method: str
    url: str
    headers: Mapping[str, str]


class NonceCache:
    """Nonces seen within the signature age window: a replayed upgrade is refused."""

    def __init__(self, window_s: float = AUDIOHOOK_MAX_AGE_S + 2 * CLOCK_SKEW_S):
        self.window_s = window_s
        self._seen: dict[str, float] = {}

    def first_use(self, nonce: str) -> bool:
        now = time.monotonic()
        for old, at in list(self._seen.items()):
            if now - at > self.window_s:
                del self._seen[old]
        if nonce in self._seen:
            return False
        self._seen[nonce] = now
        return True


class _SecretResolver(HTTPSignatureKeyResolver):
    def __init__(self, secret: bytes):
        self.secret = secret

    def resolve_public_key(self, key_id: str):
        return self.secret

    def resolve_private_key(self, key_id: str):
        return self.secret


def check_audiohook(keys: dict[str, AudioHookKey], request: SignedRequest, nonces: NonceCache) -> Binding:
    """The binding of the API key that opened this AudioHook session; raises ``Refused``."""
    api_key = request.headers.get("x-api-key", "")
    # Constant-time over every configured key: which one matched does not show in the timing.
    matched = None
    for key in keys.values():
        if hmac.compare_digest(api_key.encode(), key.api_key.encode()):
            matched = key
    if matched is None:
        raise Refused("X-API-KEY missing or not accepted")
    if matched.secret is None:
        return matched.binding
    if "signature-input" not in request.headers and "signature" not in request.headers:
        raise Refused("the request is not signed and this API key has a client secret")
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=_SecretResolver(matched.secret))
    verifier.max_clock_skew = timedelta(seconds=CLOCK_SKEW_S)
    try:
        results = verifier.verify(request, max_age=timedelta(seconds=AUDIOHOOK_MAX_AGE_S),
                                  require_components=AUDIOHOOK_COMPONENTS)
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise Refused(f"signature: {exc}") from None
    params = results[0].parameters
    if params.get("keyid") != api_key:
        raise Refused("the signature's keyid is not the X-API-KEY")
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or len(nonce) < NONCE_MIN_LENGTH:
        raise Refused(f"the signature needs a nonce of {NONCE_MIN_LENGTH}+ characters")
    if not nonces.first_use(nonce):
        raise Refused("nonce already used (a replayed request)")
    return matched.binding


# --- FreeSWITCH -------------------------------------------------------------------------------


def freeswitch_token(query: Mapping[str, str], headers: Mapping[str, str]) -> str:
    """The token a mod_audio_fork / mod_audio_stream connection presents."""
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return headers.get(FREESWITCH_TOKEN_HEADER) or query.get("token") or ""


def check_token(tokens: list[tuple[str, Binding]], presented: str, what: str) -> Binding:
    matched = None
    for token, binding in tokens:
        if hmac.compare_digest(presented.encode(), token.encode()):
            matched = binding
    if matched is None:
        raise Refused(f"{what} token missing or not accepted")
    return matched


# --- Asterisk AudioSocket ---------------------------------------------------------------------


def audiosocket_networks(entries: tuple[str, ...]) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Binding]]:
    """RAFIQ_AUDIOSOCKET_ALLOW entries ``cidr[@tenant[/campaign]]``, most specific first."""
    networks = []
    for cidr, binding in parse_entries(entries):
        try:
            networks.append((ipaddress.ip_network(cidr, strict=False), binding))
        except ValueError:
            raise ValueError(f"RAFIQ_AUDIOSOCKET_ALLOW: {cidr!r} is not a network (e.g. 10.0.0.0/8)") from None
    return sorted(networks, key=lambda item: -item[0].prefixlen)


def check_source(networks, address: str) -> Binding:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise Refused(f"source address {address!r} unreadable") from None
    if getattr(ip, "ipv4_mapped", None) is not None:
        ip = ip.ipv4_mapped
    for network, binding in networks:
        if ip.version == network.version and ip in network:
            return binding
    raise Refused(f"source {address} is not in RAFIQ_AUDIOSOCKET_ALLOW")


# --- All ingresses ----------------------------------------------------------------------------


class IngressAuth:
    """The process's telephony credentials, parsed once from the settings."""

    def __init__(self, settings):
        self.public_url = settings.public_url
        self.twilio = parse_entries(settings.twilio_auth_token)
        self.audiohook = audiohook_keys(settings.audiohook_api_key, settings.audiohook_client_secret)
        self.freeswitch = parse_entries(settings.freeswitch_token)
        self.audiosocket = audiosocket_networks(settings.audiosocket_allow)
        self.audiosocket_on = bool(settings.audiosocket_port)
        self.nonces = NonceCache()

    def ingresses(self) -> list[dict]:
        """Each ingress, how it is authenticated, and whether its credentials bind tenants."""
        hook_signed = bool(self.audiohook) and all(key.secret is not None for key in self.audiohook.values())
        rows = [
            {"ingress": "twilio", "path": "/v1/ingest/twilio", "authenticated": bool(self.twilio),
             "method": "X-Twilio-Signature" if self.twilio else None,
             "bound_tenants": sorted({b.tenant for _, b in self.twilio if b.tenant})},
            {"ingress": "audiohook", "path": "/v1/ingest/audiohook", "authenticated": bool(self.audiohook),
             "method": ("X-API-KEY + HTTP message signature" if hook_signed else "X-API-KEY") if self.audiohook else None,
             "bound_tenants": sorted({k.binding.tenant for k in self.audiohook.values() if k.binding.tenant})},
            {"ingress": "freeswitch", "path": "/v1/ingest/freeswitch", "authenticated": bool(self.freeswitch),
             "method": "token" if self.freeswitch else None,
             "bound_tenants": sorted({b.tenant for _, b in self.freeswitch if b.tenant})},
        ]
        if self.audiosocket_on:
            rows.append({"ingress": "audiosocket", "path": None, "authenticated": bool(self.audiosocket),
                         "method": "source network" if self.audiosocket else None,
                         "bound_tenants": sorted({b.tenant for _, b in self.audiosocket if b.tenant})})
        return rows

    def open_ingresses(self) -> list[str]:
        return [row["ingress"] for row in self.ingresses() if not row["authenticated"]]

    def log_startup(self) -> None:
        opened = self.open_ingresses()
        if opened:
            log.warning("telephony ingress open without authentication", extra={"ingresses": opened})
        if self.twilio and not self.public_url:
            log.warning("RAFIQ_TWILIO_AUTH_TOKEN is set without RAFIQ_PUBLIC_URL: signatures are checked against "
                        "the URL the request reached, which a TLS proxy changes")
