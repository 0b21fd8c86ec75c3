"""First accounts and the ``rafiq users`` / ``rafiq apikeys`` commands, which work on the database
directly (RAFIQ_DATABASE_URL or the SQLite file in RAFIQ_DATA_DIR), with or without a server running."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import secrets
import sys

from accounts import HUMAN_ROLES, AccountStore
from accounts.store import AccountError

from .config import Settings

log = logging.getLogger(__name__)

DEMO_USERS = (  # (username, display name, roles): make run's demo floor
    ("agent", "Salma (demo agent)", ["agent"]),
    ("supervisor", "Youssef (demo supervisor)", ["supervisor"]),
    ("trainer", "Nadia (demo trainer)", ["trainer"]),
    ("admin", "Demo administrator", ["admin"]),
)


def ensure_bootstrap_admin(accounts: AccountStore, spec: str) -> None:
    """RAFIQ_BOOTSTRAP_ADMIN=username:password — created in the default tenant if missing."""
    if not spec:
        return
    username, sep, password = spec.partition(":")
    if not sep or not username or not password:
        raise ValueError("RAFIQ_BOOTSTRAP_ADMIN must be username:password")
    if accounts.find_user(username) is None:
        accounts.add_user(username, password, ["admin"], "default", display_name="Administrator")
        log.info("bootstrap administrator created", extra={"username": username})


def ensure_demo_accounts(accounts: AccountStore) -> list[tuple[str, str, list[str]]]:
    """The demo users that did not exist yet, each with a new random password (returned, printed
    once by the caller, never stored in clear)."""
    created = []
    for username, display_name, roles in DEMO_USERS:
        if accounts.find_user(username) is None:
            password = secrets.token_urlsafe(9)
            accounts.add_user(username, password, roles, "default", team="demo", display_name=display_name)
            created.append((username, password, roles))
    return created


def print_demo_passwords(created: list[tuple[str, str, list[str]]], url: str) -> None:
    if not created:
        return
    lines = ["", "Rafiq demo accounts (shown once; `rafiq users passwd NAME` sets a new one):"]
    lines += [f"  {username:<11} {password:<14} ({', '.join(roles)})" for username, password, roles in created]
    lines += [f"Sign in at {url}/login", ""]
    print("\n".join(lines), file=sys.stderr, flush=True)


def _store() -> AccountStore:
    from .services import open_accounts

    return open_accounts(Settings.from_env())


def _password(args: argparse.Namespace) -> str:
    if getattr(args, "password_env", None):
        value = os.environ.get(args.password_env, "")
        if not value:
            raise SystemExit(f"{args.password_env} is empty")
        return value
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ")
    return first


def _users(args: argparse.Namespace) -> int:
    store = _store()
    try:
        if args.users_command == "add":
            user = store.add_user(args.username, _password(args), args.roles.split(","), args.tenant, args.team,
                                  args.display_name)
            print(json.dumps(user.model_dump(mode="json")))
        elif args.users_command == "list":
            for user in store.list_users(args.tenant):
                print(f"{user.username:<24} {','.join(user.roles):<28} team={user.team or '-':<10} "
                      f"{'disabled' if user.disabled else ''}")
        elif args.users_command == "passwd":
            user = store.find_user(args.username)
            if user is None:
                raise SystemExit(f"no user {args.username!r}")
            store.update_user(user.id, password=_password(args))
            store.unlock(user.username)
            print(f"password of {user.username} changed; their sessions are signed out")
        elif args.users_command in ("disable", "enable"):
            user = store.find_user(args.username)
            if user is None:
                raise SystemExit(f"no user {args.username!r}")
            store.update_user(user.id, disabled=args.users_command == "disable")
            print(f"{user.username} {args.users_command}d")
    except AccountError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 1
    return 0


def _apikeys(args: argparse.Namespace) -> int:
    store = _store()
    if args.keys_command == "create":
        secret, key = store.create_api_key(args.tenant, args.name, ["ingest"], args.expires_in_days, "cli")
        print(f"id {key.id}, tenant {key.tenant}, roles ingest; the key (shown once):", file=sys.stderr)
        print(secret)
    elif args.keys_command == "list":
        for key in store.list_api_keys(args.tenant):
            state = "revoked" if key.revoked_at else ("expires " + key.expires_at.isoformat() if key.expires_at else "active")
            print(f"{key.id}  {key.tenant:<12} {key.name:<24} {state}")
    elif args.keys_command == "revoke":
        try:
            store.revoke_api_key(args.key_id)
        except KeyError:
            print(f"no API key {args.key_id!r}", file=sys.stderr)
            return 1
        print(f"revoked {args.key_id}")
    return 0


def add_parsers(sub) -> None:
    users = sub.add_parser("users", help="manage user accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create a user (the password is read from the terminal or stdin)")
    add.add_argument("username")
    add.add_argument("--roles", required=True, help=f"comma-separated: {', '.join(HUMAN_ROLES)}")
    add.add_argument("--tenant", default="default")
    add.add_argument("--team", default=None)
    add.add_argument("--display-name", default=None)
    add.add_argument("--password-env", default=None, help="read the password from this environment variable")
    listing = users_sub.add_parser("list", help="users of a tenant")
    listing.add_argument("--tenant", default="default")
    passwd = users_sub.add_parser("passwd", help="set a new password (and lift a sign-in lock)")
    passwd.add_argument("username")
    passwd.add_argument("--password-env", default=None)
    for name in ("disable", "enable"):
        users_sub.add_parser(name, help=f"{name} a user").add_argument("username")
    users.set_defaults(func=_users)

    keys = sub.add_parser("apikeys", help="machine credentials (role ingest) for audio ingest and rafiq simulate")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="a new key; printed once on stdout")
    create.add_argument("--name", required=True)
    create.add_argument("--tenant", default="default")
    create.add_argument("--expires-in-days", type=int, default=None)
    keys_sub.add_parser("list", help="keys and their state").add_argument("--tenant", default=None)
    keys_sub.add_parser("revoke", help="revoke a key by id").add_argument("key_id")
    keys.set_defaults(func=_apikeys)
