"""Accounts in the database (SQLite by default, PostgreSQL by URL): users, tokens, API keys,
sign-in failures and tenant settings. Secrets are never stored: passwords as argon2id hashes,
tokens and API keys (random, 256 bits) as their SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from storage import UtcDateTime, ensure_schema

from .models import HUMAN_ROLES, ROLES, ApiKey, Principal, TenantSettings, User

log = logging.getLogger(__name__)

metadata = sa.MetaData()

users_table = sa.Table(
    "users", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("team", sa.String(64), nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.text("false")),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

tokens_table = sa.Table(
    "access_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(32), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # bearer | session
    sa.Column("csrf", sa.String(64), nullable=True),  # sessions: the token changing requests echo
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=False, index=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

api_keys_table = sa.Table(
    "api_keys", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("tenant", sa.String(64), nullable=False, index=True),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_by", sa.String(64), nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
    sa.Column("last_used_at", UtcDateTime(), nullable=True),
)

sign_in_failures_table = sa.Table(
    "sign_in_failures", metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_until", UtcDateTime(), nullable=True),
    sa.Column("last_failure_at", UtcDateTime(), nullable=False),
)

tenant_settings_table = sa.Table(
    "tenant_settings", metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("redact", sa.JSON, nullable=False),
    sa.Column("retention_days", sa.Integer, nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

TOKEN_PREFIX = "rfq_"
API_KEY_PREFIX = "rfk_"
# After this many failed sign-ins in a row a username is locked, 30 s the first time and twice as
# long at each further failure, up to 15 minutes: slow enough to stop guessing, short enough that a
# locked-out agent is back on the floor within a break.
FREE_FAILURES = 5
LOCK_BASE_S = 30
LOCK_MAX_S = 900


class AccountError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class SignInLocked(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_roles(roles: Iterable[str], allowed: tuple[str, ...] = HUMAN_ROLES) -> list[str]:
    roles = list(dict.fromkeys(roles))
    unknown = [r for r in roles if r not in allowed]
    if not roles or unknown:
        raise AccountError("bad_roles", f"roles must be a non-empty list of {', '.join(allowed)}")
    return roles


class AccountStore:
    def __init__(self, engine: sa.Engine, *, default_redact: Iterable[str] = (), default_retention_days: int = 0):
        self.engine = engine
        self.hasher = PasswordHasher()  # argon2id with the library's current parameters
        # Verified against when the username is unknown, so a miss costs as long as a wrong password.
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        self.default_redact = list(default_redact)
        self.default_retention_days = default_retention_days
        ensure_schema(engine, metadata)

    # -- users ------------------------------------------------------------------------------------

    @staticmethod
    def _user(row) -> User:
        return User(id=row["id"], username=row["username"], display_name=row["display_name"], roles=row["roles"],
                    tenant=row["tenant"], team=row["team"], disabled=bool(row["disabled"]),
                    created_at=row["created_at"], updated_at=row["updated_at"])

    def add_user(self, username: str, password: str, roles: Iterable[str], tenant: str = "default",
                 team: str | None = None, display_name: str | None = None) -> User:
        roles = check_roles(roles)
        self._check_password(password)
        now = utcnow()
        values = dict(id=uuid.uuid4().hex, username=username, display_name=display_name or username,
                      password_hash=self.hasher.hash(password), roles=roles, tenant=tenant, team=team,
                      disabled=False, created_at=now, updated_at=now)
        try:
            with self.engine.begin() as conn:
                conn.execute(users_table.insert().values(**values))
        except sa.exc.IntegrityError:
            raise AccountError("username_taken", f"username {username!r} is taken") from None
        return self._user(values)

    @staticmethod
    def _check_password(password: str) -> None:
        if len(password) < 8:
            raise AccountError("weak_password", "passwords have at least 8 characters")
        if len(password) > 1024:
            raise AccountError("bad_password", "passwords have at most 1024 characters")

    def get_user(self, user_id: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users_table).where(users_table.c.id == user_id)).mappings().first()
        return self._user(row) if row else None

    def find_user(self, username: str) -> User | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users_table).where(users_table.c.username == username)).mappings().first()
        return self._user(row) if row else None

    def list_users(self, tenant: str) -> list[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(users_table).where(users_table.c.tenant == tenant)
                                .order_by(users_table.c.username)).mappings()
            return [self._user(row) for row in rows]

    def update_user(self, user_id: str, *, password: str | None = None, roles: Iterable[str] | None = None,
                    team: str | None = ..., display_name: str | None = None, disabled: bool | None = None) -> User:
        values: dict[str, Any] = {"updated_at": utcnow()}
        if password is not None:
            self._check_password(password)
            values["password_hash"] = self.hasher.hash(password)
        if roles is not None:
            values["roles"] = check_roles(roles)
        if team is not ...:
            values["team"] = team
        if display_name is not None:
            values["display_name"] = display_name
        if disabled is not None:
            values["disabled"] = disabled
        with self.engine.begin() as conn:
            if not conn.execute(users_table.update().where(users_table.c.id == user_id).values(**values)).rowcount:
                raise KeyError(user_id)
            if password is not None or disabled or roles is not None:
                # A new password, a disabled account or changed roles end every open session.
                self._revoke_user_tokens(conn, user_id)
        return self.get_user(user_id)  # type: ignore[return-value]

    def delete_user(self, user_id: str) -> None:
        with self.engine.begin() as conn:
            if not conn.execute(users_table.delete().where(users_table.c.id == user_id)).rowcount:
                raise KeyError(user_id)
            self._revoke_user_tokens(conn, user_id)

    @staticmethod
    def _revoke_user_tokens(conn, user_id: str) -> None:
        conn.execute(tokens_table.update().where(tokens_table.c.user_id == user_id,
                                                 tokens_table.c.revoked_at.is_(None)).values(revoked_at=utcnow()))

    # -- sign-in ----------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> User | None:
        """The user, if the password is theirs; None otherwise. Raises ``SignInLocked`` while the
        username is locked after repeated failures (whatever the password)."""
        now = utcnow()
        with self.engine.connect() as conn:
            failure = conn.execute(sa.select(sign_in_failures_table)
                                   .where(sign_in_failures_table.c.username == username)).mappings().first()
            row = conn.execute(sa.select(users_table).where(users_table.c.username == username)).mappings().first()
        if failure and failure["locked_until"] and failure["locked_until"] > now:
            raise SignInLocked(max(1, int((failure["locked_until"] - now).total_seconds() + 0.999)))
        ok = False
        try:
            ok = self.hasher.verify(row["password_hash"] if row else self._dummy_hash, password[:1024])
        except (VerificationError, InvalidHashError):
            ok = False
        if ok and row and not row["disabled"]:
            with self.engine.begin() as conn:
                conn.execute(sign_in_failures_table.delete().where(sign_in_failures_table.c.username == username))
                if self.hasher.check_needs_rehash(row["password_hash"]):
                    conn.execute(users_table.update().where(users_table.c.id == row["id"])
                                 .values(password_hash=self.hasher.hash(password)))
            return self._user(row)
        self._count_failure(username, now)
        return None

    def _count_failure(self, username: str, now: datetime) -> None:
        username = username[:64]
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(sign_in_failures_table.c.failures)
                               .where(sign_in_failures_table.c.username == username)).first()
            failures = (row[0] if row else 0) + 1
            locked_until = None
            if failures >= FREE_FAILURES:
                locked_until = now + timedelta(seconds=min(LOCK_MAX_S, LOCK_BASE_S * 2 ** (failures - FREE_FAILURES)))
            values = dict(failures=failures, locked_until=locked_until, last_failure_at=now)
            if row:
                conn.execute(sign_in_failures_table.update()
                             .where(sign_in_failures_table.c.username == username).values(**values))
            else:
                try:
                    with conn.begin_nested():
                        conn.execute(sign_in_failures_table.insert().values(username=username, **values))
                except sa.exc.IntegrityError:  # a concurrent failure created it
                    conn.execute(sign_in_failures_table.update()
                                 .where(sign_in_failures_table.c.username == username)
                                 .values(failures=sign_in_failures_table.c.failures + 1, last_failure_at=now))

    def unlock(self, username: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sign_in_failures_table.delete().where(sign_in_failures_table.c.username == username))

    # -- tokens -----------------------------------------------------------------------------------

    def issue_token(self, user: User, ttl_s: int, kind: str = "bearer") -> tuple[str, str, datetime]:
        """A new access token for ``user``: (token, csrf token or "", expiry)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24) if kind == "session" else ""
        now = utcnow()
        expires = now + timedelta(seconds=ttl_s)
        with self.engine.begin() as conn:
            conn.execute(tokens_table.insert().values(token_hash=digest(token), user_id=user.id, kind=kind,
                                                      csrf=csrf or None, created_at=now, expires_at=expires))
            # Expired tokens are of no use to anyone: drop them as new ones are made.
            conn.execute(tokens_table.delete().where(tokens_table.c.expires_at < now - timedelta(days=1)))
        return token, csrf, expires

    def revoke_token(self, token: str) -> bool:
        with self.engine.begin() as conn:
            return bool(conn.execute(tokens_table.update().where(tokens_table.c.token_hash == digest(token),
                                                                 tokens_table.c.revoked_at.is_(None))
                                     .values(revoked_at=utcnow())).rowcount)

    def resolve(self, secret: str, via: str = "bearer") -> Principal | None:
        """The principal a token or API key stands for, if it is valid now."""
        if secret.startswith(API_KEY_PREFIX):
            return self._resolve_api_key(secret)
        if not secret.startswith(TOKEN_PREFIX):
            return None
        return self.check_credential(digest(secret), via)

    def check_credential(self, credential: str, via: str = "bearer") -> Principal | None:
        """Re-check a credential by its hash (an open WebSocket does this periodically)."""
        now = utcnow()
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens_table.c.kind, tokens_table.c.csrf, users_table)
                .join(users_table, users_table.c.id == tokens_table.c.user_id)
                .where(tokens_table.c.token_hash == credential, tokens_table.c.revoked_at.is_(None),
                       tokens_table.c.expires_at > now, users_table.c.disabled.is_(False))
            ).mappings().first()
            if row is None:
                key = conn.execute(sa.select(api_keys_table).where(api_keys_table.c.key_hash == credential)).mappings().first()
        if row is None:
            return self._api_key_principal(key, now) if key else None
        if via == "cookie" and row["kind"] != "session":
            return None
        return Principal(kind="user", id=row["id"], name=row["username"], tenant=row["tenant"],
                         roles=frozenset(row["roles"]), team=row["team"], display_name=row["display_name"],
                         credential=credential, via=via, csrf=row["csrf"] or "")  # type: ignore[arg-type]

    # -- API keys ---------------------------------------------------------------------------------

    @staticmethod
    def _api_key(row) -> ApiKey:
        return ApiKey(**{name: row[name] for name in ApiKey.model_fields})

    def create_api_key(self, tenant: str, name: str, roles: Iterable[str] = ("ingest",),
                       expires_in_days: int | None = None, created_by: str | None = None) -> tuple[str, ApiKey]:
        roles = check_roles(roles, allowed=("ingest",))
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        values = dict(id=uuid.uuid4().hex[:16], name=name, tenant=tenant, roles=roles, key_hash=digest(key),
                      created_by=created_by, created_at=now,
                      expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
                      revoked_at=None, last_used_at=None)
        with self.engine.begin() as conn:
            conn.execute(api_keys_table.insert().values(**values))
        return key, self._api_key(values)

    def list_api_keys(self, tenant: str | None = None) -> list[ApiKey]:
        query = sa.select(api_keys_table).order_by(api_keys_table.c.created_at)
        if tenant is not None:
            query = query.where(api_keys_table.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [self._api_key(row) for row in conn.execute(query).mappings()]

    def get_api_key(self, key_id: str) -> ApiKey | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys_table).where(api_keys_table.c.id == key_id)).mappings().first()
        return self._api_key(row) if row else None

    def revoke_api_key(self, key_id: str) -> ApiKey:
        with self.engine.begin() as conn:
            conn.execute(api_keys_table.update().where(api_keys_table.c.id == key_id,
                                                       api_keys_table.c.revoked_at.is_(None))
                         .values(revoked_at=utcnow()))
        key = self.get_api_key(key_id)
        if key is None:
            raise KeyError(key_id)
        return key

    def _resolve_api_key(self, secret: str) -> Principal | None:
        now = utcnow()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys_table)
                               .where(api_keys_table.c.key_hash == digest(secret))).mappings().first()
        if row is None:
            return None
        principal = self._api_key_principal(row, now)
        if principal is not None:
            with self.engine.begin() as conn:
                conn.execute(api_keys_table.update().where(api_keys_table.c.id == row["id"]).values(last_used_at=now))
        return principal

    @staticmethod
    def _api_key_principal(row, now: datetime) -> Principal | None:
        if row["revoked_at"] is not None or (row["expires_at"] is not None and row["expires_at"] <= now):
            return None
        return Principal(kind="api_key", id=row["id"], name=row["name"], tenant=row["tenant"],
                         roles=frozenset(row["roles"]), credential=row["key_hash"], via="api_key")

    # -- tenant settings --------------------------------------------------------------------------

    def tenant_settings(self, tenant: str) -> TenantSettings:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(tenant_settings_table)
                               .where(tenant_settings_table.c.tenant == tenant)).mappings().first()
        if row is None:
            return TenantSettings(tenant=tenant, redact=self.default_redact,
                                  retention_days=self.default_retention_days)
        return TenantSettings(tenant=tenant, redact=row["redact"], retention_days=row["retention_days"])

    def set_tenant_settings(self, settings: TenantSettings) -> TenantSettings:
        values = dict(redact=settings.redact, retention_days=settings.retention_days, updated_at=utcnow())
        with self.engine.begin() as conn:
            if not conn.execute(tenant_settings_table.update()
                                .where(tenant_settings_table.c.tenant == settings.tenant).values(**values)).rowcount:
                conn.execute(tenant_settings_table.insert().values(tenant=settings.tenant, **values))
        return self.tenant_settings(settings.tenant)


def same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
