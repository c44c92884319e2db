"""Stand-ins given a state directory keep their data across runs (what `make run` does
with `.standins/`); without one they start fresh, as every test here does."""

import jwt
import pytest
import requests

from standins import Auth0, Flash
from standins.base import StateFileError


def resolve(flash: Flash, external_id: str) -> str:
    answer = requests.post(f"{flash.url}/api/v1/users/resolve", json={"external_id": external_id},
                           headers={"X-Service-Key": flash.service_key}, timeout=5)
    assert answer.status_code == 200
    return answer.json()["user_id"]


def balance(flash: Flash, user_id: str) -> requests.Response:
    return requests.get(f"{flash.url}/api/v1/credits/balance",
                        headers={"X-Service-Key": flash.service_key, "X-User-ID": user_id}, timeout=5)


def grant(flash: Flash, user_id: str, amount: int) -> None:
    answer = requests.post(f"{flash.url}/api/v1/credits/admin/grant", headers={"X-Admin-Key": flash.admin_key},
                           json={"user_id": user_id, "amount": amount, "transaction_type": "stripe_purchase",
                                 "description": "100 credits"}, timeout=5)
    assert answer.status_code == 200


@pytest.fixture
def started():
    running = []

    def start(standin):
        running.append(standin.start())
        return standin

    yield start
    for standin in running:
        standin.stop()


def test_it_keeps_flash_users_balances_and_grants_across_runs(tmp_path, started):
    first = started(Flash().keep_state_in(tmp_path))
    user_id = resolve(first, "auth0|kept")
    grant(first, user_id, 100)
    first.stop()

    second = started(Flash().keep_state_in(tmp_path))

    assert balance(second, user_id).json()["balance"] == second.signup_credits + 100
    assert resolve(second, "auth0|kept") == user_id  # known: no second signup bonus
    history = requests.get(f"{second.url}/api/v1/credits/history",
                           headers={"X-Service-Key": second.service_key, "X-User-ID": user_id}, timeout=5).json()
    assert [t["transaction_type"] for t in history["transactions"]] == ["stripe_purchase", "signup_bonus"]


def test_it_writes_the_state_when_a_request_changes_it_not_only_on_stop(tmp_path, started):
    # A run killed without stopping keeps what its requests did.
    first = started(Flash().keep_state_in(tmp_path))
    user_id = resolve(first, "auth0|crash")

    meanwhile = started(Flash().keep_state_in(tmp_path))

    assert balance(meanwhile, user_id).status_code == 200


def test_it_keeps_the_auth0_signing_key_so_earlier_tokens_still_verify(tmp_path, started):
    first = started(Auth0().keep_state_in(tmp_path))
    token = first.mint("auth0|newcomer", expires_in=7 * 86400)
    first.stop()

    second = started(Auth0().keep_state_in(tmp_path))

    key = jwt.PyJWKClient(f"{second.issuer}.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=second.audience)
    assert claims["sub"] == "auth0|newcomer"


def test_a_fresh_stand_in_does_not_know_earlier_tokens(started):
    token = started(Auth0()).mint("auth0|newcomer")
    other = started(Auth0())
    with pytest.raises(jwt.PyJWKClientError):
        jwt.PyJWKClient(f"{other.issuer}.well-known/jwks.json").get_signing_key_from_jwt(token)


def test_it_forgets_the_kept_state_on_reset(tmp_path, started):
    first = started(Flash().keep_state_in(tmp_path))
    user_id = resolve(first, "auth0|gone")
    assert requests.post(f"{first.url}/__standin__/reset", timeout=5).status_code == 204
    first.stop()

    second = started(Flash().keep_state_in(tmp_path))

    assert balance(second, user_id).status_code == 401


def test_it_keeps_the_state_file_to_its_owner(tmp_path, started):
    started(Auth0().keep_state_in(tmp_path))
    assert (tmp_path / "auth0.json").stat().st_mode & 0o077 == 0  # the private signing key is in it


def test_it_names_a_state_file_it_cannot_read(tmp_path):
    (tmp_path / "flash.json").write_text("{not json")
    with pytest.raises(StateFileError, match="flash.json"):
        Flash().keep_state_in(tmp_path)


def test_the_sandbox_knows_every_user_billing_sends_and_spends_only_there(started):
    sandbox = started(Flash(sandbox=True))
    headers = {"X-Service-Key": sandbox.service_key, "X-User-ID": "a-user-of-the-real-flash"}

    assert balance(sandbox, "a-user-of-the-real-flash").json()["balance"] == sandbox.sandbox_credits
    generated = requests.post(f"{sandbox.url}/api/v1/timepoints/generate/sync", json={"query": "x"},
                              headers=headers, timeout=5)
    assert generated.status_code == 200
    assert balance(sandbox, "a-user-of-the-real-flash").json()["balance"] < sandbox.sandbox_credits


def test_flash_proper_still_refuses_unknown_users(flash):
    assert balance(flash, "nobody").status_code == 401
