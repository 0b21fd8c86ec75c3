"""Who is who: users and their roles per tenant, passwords, access tokens, API keys, sign-in throttling
and each tenant's privacy settings."""

from .models import HUMAN_ROLES, ROLES, ApiKey, Principal, TenantSettings, User
from .store import AccountStore, SignInLocked

__all__ = ["AccountStore", "ApiKey", "HUMAN_ROLES", "Principal", "ROLES", "SignInLocked", "TenantSettings", "User"]
