"""Who may vote: on a server reachable from the network, only those who know ARENA_VOTE_TOKEN.

The token comes from the environment of the app's process only; it is compared in constant time
(hmac.compare_digest) and never written to a file, a log or a vote record.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping

TOKEN_ENV = "ARENA_VOTE_TOKEN"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str | None) -> bool:
    """Whether a bind address serves this machine only. Unset or empty means all interfaces (Streamlit's
    default), so not loopback; a host name other than localhost counts as shared."""
    name = str(host or "").strip().strip("[]").lower()
    if not name:
        return False
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def token_configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether ARENA_VOTE_TOKEN is set to a non-empty value."""
    return bool((os.environ if env is None else env).get(TOKEN_ENV, ""))


def token_matches(given: str | None, env: Mapping[str, str] | None = None) -> bool:
    """Constant-time check of a typed token against ARENA_VOTE_TOKEN (False when either is empty)."""
    expected = (os.environ if env is None else env).get(TOKEN_ENV, "")
    if not expected or not given:
        return False
    return hmac.compare_digest(str(given).encode("utf-8"), expected.encode("utf-8"))


def may_vote(host: str | None, given: str | None, env: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """(allowed, why not): local servers let anyone vote; shared ones need the token."""
    if is_loopback(host):
        return True, ""
    if not token_configured(env):
        return False, (f"This app is shared on the network, so voting needs an access token, and none is set. "
                       f"Restart it with the {TOKEN_ENV} environment variable set (browsing stays open).")
    if token_matches(given, env):
        return True, ""
    return False, ("This app is shared on the network: type the team's access token to vote "
                   "(read-only browsing needs none)." if not given else "That access token is not right.")


def shared_note(env: Mapping[str, str] | None = None) -> str:
    """What `arena viz --host <network address>` says about voting (never the token itself)."""
    if token_configured(env):
        return f"note: shared on the network; voting asks for the access token in {TOKEN_ENV}, browsing is open"
    return (f"note: shared on the network and {TOKEN_ENV} is not set, so voting is off (browsing is open); "
            f"set {TOKEN_ENV} to let the team vote")
