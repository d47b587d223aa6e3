"""Registration, sign-in, profile and visibility over HTTP against real PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.helpers import gql

REGISTER = """
mutation($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken expiresIn user { id name email role } }
}"""
LOGIN = """
mutation($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken refreshToken user { id email } }
}"""
ME = "{ me { id name email role createdAt } }"


async def register(url: str, email: str = "ada@example.com", **extra: Any) -> dict[str, Any]:
    data = {"email": email, "password": "correct horse", "name": "Ada Lovelace", **extra}
    result = await gql(url, REGISTER, {"input": data})
    return result.ok()["register"]


async def test_register_login_me(users_url: str) -> None:
    registered = await register(users_url, email="  Ada@Example.COM ")
    assert registered["user"]["email"] == "ada@example.com"
    assert registered["user"]["role"] == "STUDENT"
    assert registered["expiresIn"] > 0

    login = await gql(users_url, LOGIN, {"email": "ADA@example.com", "password": "correct horse"})
    token = login.ok()["login"]["accessToken"]
    me = (await gql(users_url, ME, token=token)).ok()["me"]
    assert me["id"] == registered["user"]["id"]
    assert me["email"] == "ada@example.com"
    assert me["createdAt"]


async def test_me_is_null_for_a_visitor(users_url: str) -> None:
    assert (await gql(users_url, ME)).ok() == {"me": None}


async def test_teacher_may_register(users_url: str) -> None:
    registered = await register(users_url, role="TEACHER")
    assert registered["user"]["role"] == "TEACHER"


async def test_admin_cannot_register(users_url: str) -> None:
    data = {"email": "eve@example.com", "password": "correct horse", "name": "Eve", "role": "ADMIN"}
    result = await gql(users_url, REGISTER, {"input": data})
    assert result.code == "FORBIDDEN"
    login = await gql(users_url, LOGIN, {"email": "eve@example.com", "password": "correct horse"})
    assert login.code == "UNAUTHENTICATED"  # nothing was written


async def test_duplicate_email_is_a_conflict(users_url: str) -> None:
    await register(users_url)
    data = {"email": "ADA@example.com", "password": "another pass", "name": "Ada Two"}
    result = await gql(users_url, REGISTER, {"input": data})
    assert result.code == "CONFLICT"


async def test_bad_input_is_refused(users_url: str) -> None:
    for data, field in [
        ({"email": "not-an-email", "password": "correct horse", "name": "A"}, "email"),
        ({"email": "a@example.com", "password": "short", "name": "A"}, "password"),
        ({"email": "a@example.com", "password": "correct horse", "name": "   "}, "name"),
    ]:
        result = await gql(users_url, REGISTER, {"input": data})
        assert result.code == "BAD_USER_INPUT"
        assert result.errors[0]["extensions"]["field"] == field


async def test_unknown_email_and_wrong_password_look_the_same(users_url: str) -> None:
    await register(users_url)
    wrong = await gql(users_url, LOGIN, {"email": "ada@example.com", "password": "wrong pass"})
    unknown = await gql(users_url, LOGIN, {"email": "bob@example.com", "password": "wrong pass"})
    assert wrong.code == unknown.code == "UNAUTHENTICATED"
    assert wrong.errors[0]["message"] == unknown.errors[0]["message"]


async def test_login_is_throttled_per_email(users_url: str) -> None:
    await register(users_url)
    for _ in range(5):
        failed = await gql(users_url, LOGIN, {"email": "ada@example.com", "password": "nope nope"})
        assert failed.code == "UNAUTHENTICATED"
    # Even the right password is refused while the email is throttled.
    right = await gql(users_url, LOGIN, {"email": "ada@example.com", "password": "correct horse"})
    assert right.code == "RATE_LIMITED"
    assert right.errors[0]["extensions"]["retryAfter"] > 0


async def test_success_resets_the_email_counter(users_url: str) -> None:
    await register(users_url)
    for _ in range(4):
        await gql(users_url, LOGIN, {"email": "ada@example.com", "password": "nope nope"})
    ok = await gql(users_url, LOGIN, {"email": "ada@example.com", "password": "correct horse"})
    ok.ok()
    for _ in range(4):
        again = await gql(users_url, LOGIN, {"email": "ada@example.com", "password": "nope nope"})
        assert again.code == "UNAUTHENTICATED"


async def test_email_is_visible_only_to_self(users_url: str) -> None:
    ada = await register(users_url)
    bob = await register(users_url, email="bob@example.com")
    query = "query($id: ID!) { user(id: $id) { id name email } }"
    as_bob = await gql(users_url, query, {"id": ada["user"]["id"]}, token=bob["accessToken"])
    assert as_bob.ok()["user"] == {"id": ada["user"]["id"], "name": "Ada Lovelace", "email": None}
    anonymous = await gql(users_url, query, {"id": ada["user"]["id"]})
    assert anonymous.ok()["user"]["email"] is None
    as_ada = await gql(users_url, query, {"id": ada["user"]["id"]}, token=ada["accessToken"])
    assert as_ada.ok()["user"]["email"] == "ada@example.com"


async def test_unknown_user_is_null(users_url: str) -> None:
    query = "query($id: ID!) { user(id: $id) { id } }"
    for user_id in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"]:
        assert (await gql(users_url, query, {"id": user_id})).ok() == {"user": None}


async def test_update_profile(users_url: str) -> None:
    ada = await register(users_url)
    mutation = "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { name } }"
    updated = await gql(
        users_url, mutation, {"input": {"name": "  Ada   King "}}, token=ada["accessToken"]
    )
    assert updated.ok()["updateProfile"]["name"] == "Ada King"
    anonymous = await gql(users_url, mutation, {"input": {"name": "Mallory"}})
    assert anonymous.code == "UNAUTHENTICATED"
    empty = await gql(users_url, mutation, {"input": {"name": ""}}, token=ada["accessToken"])
    assert empty.code == "BAD_USER_INPUT"


async def test_entities_resolve_users_in_one_batch(users_url: str) -> None:
    ada = await register(users_url)
    bob = await register(users_url, email="bob@example.com")
    query = """query($r: [_Any!]!) { _entities(representations: $r) { ... on User { id name } } }"""
    representations = [
        {"__typename": "User", "id": ada["user"]["id"]},
        {"__typename": "User", "id": "00000000-0000-0000-0000-000000000000"},
        {"__typename": "User", "id": bob["user"]["id"]},
    ]
    result = (await gql(users_url, query, {"r": representations})).ok()
    assert result["_entities"] == [
        {"id": ada["user"]["id"], "name": "Ada Lovelace"},
        None,
        {"id": bob["user"]["id"], "name": "Ada Lovelace"},
    ]
