"""The account screen through the router: sign up, sign in, profile, refresh, sign out;
a bad token is refused at the edge."""

from __future__ import annotations

from tests.e2e.client import PASSWORD, Api


async def test_account_session_through_the_router(api: Api) -> None:
    account = await api.sign_up()
    session = (await api.data("Login", {"email": account.email, "password": PASSWORD}))["login"]
    assert session["user"]["id"] == account.id
    token = session["accessToken"]

    me = (await api.data("Me", token=token))["me"]
    assert (me["id"], me["email"], me["role"]) == (account.id, account.email, "STUDENT")
    renamed = (await api.data("UpdateProfile", {"input": {"name": "Renamed"}}, token=token))[
        "updateProfile"
    ]
    assert renamed == {"id": account.id, "name": "Renamed"}

    refreshed = (await api.data("RefreshToken", {"refreshToken": session["refreshToken"]}))[
        "refreshToken"
    ]
    assert refreshed["refreshToken"] != session["refreshToken"]
    assert (await api.data("Logout", {"refreshToken": refreshed["refreshToken"]}))["logout"]
    reused = await api.op("RefreshToken", {"refreshToken": refreshed["refreshToken"]})
    assert reused.code == "UNAUTHENTICATED"

    assert (await api.data("Me"))["me"] is None  # no token: a visitor
    forged = await api.op("Me", token=token[:-4] + "AAAA")
    assert (forged.status, forged.code) == (401, "UNAUTHENTICATED")
