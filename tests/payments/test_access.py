"""Who sees which payment: owners and ADMINs only; entities resolve in batches."""

from __future__ import annotations

from tests.helpers import gql
from tests.payments.conftest import Stack

ENTITIES = """
query($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Payment { id status amount { amount currency } user { id } course { id } }
    ... on User { id payments { id } }
  }
}"""


async def test_another_users_payment_is_not_found(stack: Stack) -> None:
    course = stack.course()
    _, owner = stack.token()
    _, stranger = stack.token()
    _, admin = stack.token(role="ADMIN")
    created = (await stack.create(owner, course.id, "SANDBOX")).ok()["createPayment"]

    assert (await stack.payment(stranger, created["id"])).code == "NOT_FOUND"
    assert (await stack.verify(stranger, created["id"], "sbx_pay_x", "00")).code == "NOT_FOUND"
    assert (await stack.refund(stranger, created["id"])).code == "NOT_FOUND"
    assert (await stack.payment(owner, created["id"])).ok()["payment"]["id"] == created["id"]
    assert (await stack.payment(admin, created["id"])).ok()["payment"]["id"] == created["id"]
    assert (await stack.payment(owner, "not-a-uuid")).code == "NOT_FOUND"
    assert (await gql(stack.graphql, 'query { payment(id: "x") { id } }')).code == (
        "UNAUTHENTICATED"
    )


async def test_user_payments_are_for_self_or_admin(stack: Stack) -> None:
    course = stack.course()
    owner_id, owner = stack.token()
    _, stranger = stack.token()
    _, admin = stack.token(role="ADMIN")
    created = (await stack.create(owner, course.id, "SANDBOX")).ok()["createPayment"]
    reps = {"reps": [{"__typename": "User", "id": owner_id}]}

    mine = (await gql(stack.graphql, ENTITIES, reps, token=owner)).ok()["_entities"]
    assert mine == [{"id": owner_id, "payments": [{"id": created["id"]}]}]
    seen_by_admin = (await gql(stack.graphql, ENTITIES, reps, token=admin)).ok()["_entities"]
    assert seen_by_admin == mine
    refused = await gql(stack.graphql, ENTITIES, reps, token=stranger)
    assert refused.code == "FORBIDDEN"


async def test_user_payments_take_at_most_first_newest_first(stack: Stack) -> None:
    owner_id, owner = stack.token()
    created = [
        (await stack.create(owner, stack.course().id, "SANDBOX")).ok()["createPayment"]["id"]
        for _ in range(3)
    ]
    query = """
    query($reps: [_Any!]!, $first: Int!) {
      _entities(representations: $reps) { ... on User { payments(first: $first) { id } } }
    }"""
    reps = [{"__typename": "User", "id": owner_id}]

    async def listed(first: int) -> list[str]:
        result = await gql(stack.graphql, query, {"reps": reps, "first": first}, token=owner)
        return [p["id"] for p in result.ok()["_entities"][0]["payments"]]

    assert await listed(2) == created[::-1][:2]
    assert await listed(100) == created[::-1]
    for refused in (0, 101):
        result = await gql(stack.graphql, query, {"reps": reps, "first": refused}, token=owner)
        assert result.code == "BAD_USER_INPUT"


async def test_payment_entities_resolve_for_their_owner(stack: Stack) -> None:
    first, second = stack.course(price_minor=100), stack.course(price_minor=200, currency="INR")
    owner_id, owner = stack.token()
    _, stranger = stack.token()
    a = (await stack.create(owner, first.id, "SANDBOX")).ok()["createPayment"]
    b = (await stack.create(owner, second.id, "SANDBOX")).ok()["createPayment"]
    reps = {
        "reps": [
            {"__typename": "Payment", "id": a["id"]},
            {"__typename": "Payment", "id": b["id"]},
            {"__typename": "Payment", "id": "00000000-0000-0000-0000-000000000000"},
        ]
    }
    entities = (await gql(stack.graphql, ENTITIES, reps, token=owner)).ok()["_entities"]
    assert entities == [
        {
            "id": a["id"],
            "status": "PENDING",
            "amount": {"amount": "1.00", "currency": "USD"},
            "user": {"id": owner_id},
            "course": {"id": first.id},
        },
        {
            "id": b["id"],
            "status": "PENDING",
            "amount": {"amount": "2.00", "currency": "INR"},
            "user": {"id": owner_id},
            "course": {"id": second.id},
        },
        None,
    ]
    hidden = (await gql(stack.graphql, ENTITIES, reps, token=stranger)).ok()["_entities"]
    assert hidden == [None, None, None]
