"""The pieces of authentication on their own: tokens, throttle, passwords, principals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from redhorn.application import create_authenticator
from redhorn.auth.passwords import hash_password, verify_password
from redhorn.auth.principal import principal_of
from redhorn.auth.throttle import LoginThrottle
from redhorn.errors import InvalidToken, TooManyFailedLogins
from redhorn.settings import AuthenticationSettings, parse_settings


def settings_with(users: list[dict[str, Any]], **extra: Any):
    document = {"VismaConnection": {"VismaDbConnectionString": "Engine=sqlite;Data Source=/nowhere"}, "ApiUsers": users}
    document.update(extra)
    return parse_settings(json.dumps(document))


ALICE: dict[str, Any] = {"Username": "alice", "Password": "alice-secret", "AccessibleCompanies": [{"CompanyNo": 9999}]}


def test_token_round_trip_and_expiry():
    authenticator = create_authenticator(settings_with([ALICE]), b"k" * 32)
    principal = authenticator.users.principal("alice")
    assert principal is not None
    token = authenticator.tokens.issue(principal, now=1_000_000)
    assert authenticator.tokens.verify(token, now=1_000_000 + 7199) == principal
    with pytest.raises(InvalidToken, match="expired"):
        authenticator.tokens.verify(token, now=1_000_000 + 7200)
    fresh = create_authenticator(settings_with([ALICE]), b"k" * 32)  # nothing remembered: the full check
    with pytest.raises(InvalidToken, match="expired"):
        fresh.tokens.verify(token, now=1_000_000 + 7200)


@pytest.mark.parametrize("issued", [1_000_000.0, 1_000_000.01, 1_000_000.5, 1_000_000.99])
def test_a_token_lives_at_least_its_lifetime_whenever_in_a_second_it_is_issued(issued: float):
    """JWT times are whole seconds; rounding the expiry down once made a 1-second token live 0.01 s."""
    authenticator = create_authenticator(settings_with([ALICE], Tokens={"LifetimeSeconds": 1}), b"k" * 32)
    principal = authenticator.users.principal("alice")
    assert principal is not None
    token = authenticator.tokens.issue(principal, now=issued)
    assert authenticator.tokens.verify(token, now=issued + 0.999) == principal
    with pytest.raises(InvalidToken, match="expired"):
        create_authenticator(settings_with([ALICE]), b"k" * 32).tokens.verify(token, now=issued + 2)


@pytest.mark.parametrize(
    ("key", "users", "reason"),
    [
        pytest.param(b"other-key" * 4, [ALICE], "not issued here", id="other-key"),
        pytest.param(b"k" * 32, [], "no longer exists", id="user-removed"),
        pytest.param(b"k" * 32, [{**ALICE, "Password": "changed"}], "changed password", id="password-changed"),
    ],
)
def test_a_token_fails_after_restart_with_other_settings(key, users, reason):
    issuer = create_authenticator(settings_with([ALICE]), b"k" * 32)
    token = issuer.tokens.issue(issuer.users.principal("alice"))  # type: ignore[arg-type]
    restarted = create_authenticator(settings_with(users), key)
    with pytest.raises(InvalidToken, match=reason):
        restarted.tokens.verify(token)


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", "x" * 5000],
    ids=["empty", "word", "three-parts", "alg-none", "huge"],
)
def test_malformed_tokens_are_invalid(token):
    authenticator = create_authenticator(settings_with([ALICE]), b"k" * 32)
    with pytest.raises(InvalidToken):
        authenticator.tokens.verify(token)


def test_throttle_per_username_and_address_then_per_address():
    throttle = LoginThrottle(
        AuthenticationSettings(max_failed_logins=3, max_failed_logins_per_address=5, failed_login_window_seconds=60)
    )
    for moment in range(3):
        throttle.check("alice", "10.0.0.1", now=moment)
        throttle.record_failure("alice", "10.0.0.1", now=moment)
    with pytest.raises(TooManyFailedLogins) as caught:
        throttle.check("alice", "10.0.0.1", now=10)
    assert caught.value.retry_after == 50
    throttle.check("alice", "10.0.0.2", now=10)  # another address is not held back
    throttle.check("bob", "10.0.0.1", now=10)  # nor another username from the same address, yet
    throttle.record_failure("bob", "10.0.0.1", now=11)
    throttle.record_failure("carol", "10.0.0.1", now=12)
    with pytest.raises(TooManyFailedLogins):
        throttle.check("dave", "10.0.0.1", now=13)  # five failures from one address, any usernames
    throttle.check("alice", "10.0.0.1", now=61)  # the window moved on


async def test_passwords_plain_and_hashed():
    hashed = hash_password("s3cret")
    assert hashed.startswith("$argon2id$")
    assert await verify_password(hashed, "s3cret")
    assert not await verify_password(hashed, "S3cret")
    assert await verify_password("s3cret", "s3cret")
    assert not await verify_password("s3cret", "s3cret ")
    assert not await verify_password("$argon2id$garbage", "x")


def test_context_user_is_the_users_or_the_default():
    settings = settings_with(
        [ALICE, {**ALICE, "Username": "bob", "VbsContextUser": "BOB"}],
        VismaConnection={"VismaDbConnectionString": "Engine=sqlite", "DefaultVbsContextUser": "integration"},
    )
    assert principal_of(settings.api_users[0], settings).context_user == "integration"
    assert principal_of(settings.api_users[1], settings).context_user == "BOB"
