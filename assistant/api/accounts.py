"""Sign-in, users, API keys and tenant settings over HTTP.

``POST /v1/auth/token`` is the OAuth2 password flow (form fields ``username``, ``password``) for
API clients; ``POST /v1/auth/login`` signs a browser in with an HttpOnly session cookie and a CSRF
cookie. Administrators manage the users and keys of their own tenant only: another tenant's ids
answer 404.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, Response
from pydantic import BaseModel, Field

from accounts import HUMAN_ROLES, ApiKey, Principal, SignInLocked, TenantSettings, User
from accounts.models import NAME_PATTERN, TENANT_PATTERN
from accounts.store import AccountError

from .auth import CSRF_COOKIE, SESSION_COOKIE, AuthError, Caller, client_ip, presented_credential, set_audit_target
from .deps import services

log = logging.getLogger(__name__)
router = APIRouter(tags=["accounts"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class Me(BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]
    tenant: str
    team: str | None
    kind: str


def _me(principal: Principal) -> Me:
    return Me(id=principal.id, username=principal.name, display_name=principal.display_name or principal.name,
              roles=sorted(principal.roles), tenant=principal.tenant, team=principal.team, kind=principal.kind)


async def _sign_in(request: Request, username: str, password: str) -> User:
    """The user, or 401: a wrong password, an unknown or disabled user, or a username locked after
    repeated failures (``code`` says which of the last, with Retry-After). Every attempt is audited."""
    svc = services(request)
    try:
        user = await asyncio.to_thread(svc.accounts.authenticate, username, password)
    except SignInLocked as exc:
        await _audit_sign_in(request, username, None, "locked")
        raise HTTPException(401, {"code": "sign_in_locked", "message": str(exc), "retry_after": exc.retry_after},
                            headers={"WWW-Authenticate": "Bearer", "Retry-After": str(exc.retry_after)}) from None
    if user is None:
        await _audit_sign_in(request, username, None, "failed")
        raise HTTPException(401, {"code": "bad_credentials", "message": "wrong username or password"},
                            headers={"WWW-Authenticate": "Bearer"})
    await _audit_sign_in(request, username, user, "ok")
    return user


async def _audit_sign_in(request: Request, username: str, user: User | None, outcome: str) -> None:
    svc = services(request)
    known = user or await asyncio.to_thread(svc.accounts.find_user, username)
    # A failure for an unknown name is kept in the default tenant, under the name tried.
    tenant = known.tenant if known else "default"
    await asyncio.to_thread(svc.audit.record, tenant, username[:64], "auth.sign_in", target=known.id if known else None,
                            outcome=outcome, ip=client_ip(request))
    log.info("sign-in", extra={"username": username[:64], "outcome": outcome, "ip": client_ip(request)})


@router.post("/v1/auth/token")
async def token(request: Request, username: Annotated[str, Form(max_length=64)],
                password: Annotated[str, Form(max_length=1024)]) -> TokenOut:
    """OAuth2 password flow: a bearer token for ``Authorization: Bearer …``, valid ``expires_in`` s."""
    svc = services(request)
    user = await _sign_in(request, username, password)
    secret, _, _ = await asyncio.to_thread(svc.accounts.issue_token, user, svc.settings.token_ttl_s)
    return TokenOut(access_token=secret, expires_in=svc.settings.token_ttl_s)


class LoginIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


def _secure(request: Request) -> bool:
    setting = services(request).settings.secure_cookies.lower()
    if setting in ("true", "1", "yes"):
        return True
    if setting in ("false", "0", "no"):
        return False
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


@router.post("/v1/auth/login")
async def login(request: Request, body: LoginIn, response: Response) -> Me:
    """Browsers: a session cookie (HttpOnly, SameSite=Strict, Secure over TLS) and the CSRF cookie
    whose value each changing request sends back in ``X-CSRF-Token``."""
    svc = services(request)
    user = await _sign_in(request, body.username, body.password)
    secret, csrf, _ = await asyncio.to_thread(svc.accounts.issue_token, user, svc.settings.token_ttl_s, "session")
    secure = _secure(request)
    ttl = svc.settings.token_ttl_s
    response.set_cookie(SESSION_COOKIE, secret, max_age=ttl, httponly=True, samesite="strict", secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=ttl, httponly=False, samesite="strict", secure=secure, path="/")
    principal = await asyncio.to_thread(svc.accounts.resolve, secret, "cookie")
    return _me(principal)


@router.post("/v1/auth/logout", status_code=204)
async def logout(request: Request, caller: Caller) -> Response:
    """Revoke the credential this request came with (token or session) and clear the cookies."""
    found = presented_credential(request)
    if found is not None and caller.kind == "user":
        await asyncio.to_thread(services(request).accounts.revoke_token, found[0])
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/v1/me")
async def me(caller: Caller) -> Me:
    return _me(caller)


# -- users ----------------------------------------------------------------------------------------

class UserIn(BaseModel):
    username: str = Field(pattern=NAME_PATTERN)
    password: str = Field(min_length=8, max_length=1024)
    roles: list[str] = Field(min_length=1, max_length=len(HUMAN_ROLES))
    tenant: str | None = Field(default=None, pattern=TENANT_PATTERN, description="default: the admin's own")
    team: str | None = Field(default=None, pattern=NAME_PATTERN)
    display_name: str | None = Field(default=None, min_length=1, max_length=200)


class UserEdit(BaseModel):
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    roles: list[str] | None = Field(default=None, min_length=1, max_length=len(HUMAN_ROLES))
    team: str | None = Field(default=None, pattern=NAME_PATTERN)
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    disabled: bool | None = None


class UserList(BaseModel):
    users: list[User]


def _account_error(exc: AccountError) -> HTTPException:
    return HTTPException(409 if exc.code == "username_taken" else 422, {"code": exc.code, "message": exc.message})


def _unknown_user(user_id: str) -> HTTPException:
    return HTTPException(404, {"code": "unknown_user", "message": f"no user {user_id!r}"})


async def _tenant_user(request: Request, caller: Principal, user_id: str) -> User:
    """A user of the admin's tenant, by id or username; any other is 404, as if missing."""
    store = services(request).accounts
    user = await asyncio.to_thread(store.get_user, user_id) or await asyncio.to_thread(store.find_user, user_id)
    if user is None or user.tenant != caller.tenant:
        raise _unknown_user(user_id)
    return user


@router.post("/v1/users", status_code=201)
async def create_user(request: Request, body: UserIn, caller: Caller) -> User:
    if body.tenant is not None and body.tenant != caller.tenant:
        raise AuthError(403, "other_tenant", "administrators create users in their own tenant")
    try:
        user = await asyncio.to_thread(services(request).accounts.add_user, body.username, body.password, body.roles,
                                       caller.tenant, body.team, body.display_name)
    except AccountError as exc:
        raise _account_error(exc) from None
    set_audit_target(request, user.id)
    return user


@router.get("/v1/users")
async def list_users(request: Request, caller: Caller) -> UserList:
    return UserList(users=await asyncio.to_thread(services(request).accounts.list_users, caller.tenant))


@router.get("/v1/users/{user_id}")
async def get_user(request: Request, user_id: str, caller: Caller) -> User:
    return await _tenant_user(request, caller, user_id)


@router.patch("/v1/users/{user_id}")
async def edit_user(request: Request, user_id: str, body: UserEdit, caller: Caller) -> User:
    """Changing the password, the roles or disabling the user signs them out everywhere, open
    WebSockets included."""
    user = await _tenant_user(request, caller, user_id)
    changes = body.model_dump(exclude_unset=True)
    try:
        return await asyncio.to_thread(services(request).accounts.update_user, user.id, **changes)
    except AccountError as exc:
        raise _account_error(exc) from None


@router.delete("/v1/users/{user_id}", status_code=204)
async def delete_user(request: Request, user_id: str, caller: Caller) -> Response:
    user = await _tenant_user(request, caller, user_id)
    if user.id == caller.id:
        raise HTTPException(409, {"code": "self_delete", "message": "administrators cannot delete themselves"})
    await asyncio.to_thread(services(request).accounts.delete_user, user.id)
    return Response(status_code=204)


# -- API keys -------------------------------------------------------------------------------------

class ApiKeyIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    roles: list[str] = Field(default_factory=lambda: ["ingest"])
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyCreated(ApiKey):
    key: str = Field(description="the secret: shown once, never again")


class ApiKeyList(BaseModel):
    keys: list[ApiKey]


@router.post("/v1/apikeys", status_code=201)
async def create_api_key(request: Request, body: ApiKeyIn, caller: Caller) -> ApiKeyCreated:
    try:
        secret, key = await asyncio.to_thread(services(request).accounts.create_api_key, caller.tenant, body.name,
                                              body.roles, body.expires_in_days, caller.name)
    except AccountError as exc:
        raise _account_error(exc) from None
    set_audit_target(request, key.id)
    return ApiKeyCreated(**key.model_dump(), key=secret)


@router.get("/v1/apikeys")
async def list_api_keys(request: Request, caller: Caller) -> ApiKeyList:
    return ApiKeyList(keys=await asyncio.to_thread(services(request).accounts.list_api_keys, caller.tenant))


@router.delete("/v1/apikeys/{key_id}")
async def revoke_api_key(request: Request, key_id: str, caller: Caller) -> ApiKey:
    """Revoked at once: new connections are refused and open ones close within RAFIQ_AUTH_RECHECK_S."""
    store = services(request).accounts
    key = await asyncio.to_thread(store.get_api_key, key_id)
    if key is None or key.tenant != caller.tenant:
        raise HTTPException(404, {"code": "unknown_api_key", "message": f"no API key {key_id!r}"})
    return await asyncio.to_thread(store.revoke_api_key, key_id)


# -- tenant settings ------------------------------------------------------------------------------

class SettingsIn(BaseModel):
    redact: list[str] = Field(description="kinds of personal data redacted: card, iban, rib, cin, phone, email, "
                                          "birth_date")
    retention_days: int = Field(ge=0, le=36500)


@router.get("/v1/settings")
async def get_settings(request: Request, caller: Caller) -> TenantSettings:
    return await asyncio.to_thread(services(request).accounts.tenant_settings, caller.tenant)


@router.put("/v1/settings")
async def put_settings(request: Request, body: SettingsIn, caller: Caller) -> TenantSettings:
    """Applies to calls that start from now on (redaction) and to the next purge (retention)."""
    from privacy import KINDS

    unknown = sorted(set(body.redact) - set(KINDS))
    if unknown:
        raise HTTPException(422, {"code": "bad_redact", "message": f"unknown kinds {unknown}; known: {list(KINDS)}"})
    settings = TenantSettings(tenant=caller.tenant, redact=list(dict.fromkeys(body.redact)),
                              retention_days=body.retention_days)
    return await asyncio.to_thread(services(request).accounts.set_tenant_settings, settings)
