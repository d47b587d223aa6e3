"""Courses' calls to other subgraphs: signed GraphQL over HTTP, nothing else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coursegraph.errors import ServiceUnavailable
from coursegraph.http import GraphQLServiceClient
from coursegraph.money import Money

INTERNAL_USERS = """
query CoursesInternalUsers($ids: [ID!]!) { internalUsers(ids: $ids) { id name role } }
"""

PREPARE_PAYMENT = """
mutation CoursesPreparePayment(
  $userId: ID!, $courseId: ID!, $provider: PaymentProvider!, $order: PaymentOrderInput!
) {
  preparePayment(userId: $userId, courseId: $courseId, provider: $provider, order: $order) {
    id
  }
}
"""

CREATE_UPLOAD = """
mutation CoursesCreateUpload(
  $ownerId: ID!, $purpose: String!, $fileName: String!, $sizeBytes: Float!, $contentType: String!,
  $uploadedBy: ID
) {
  createUpload(
    ownerId: $ownerId, purpose: $purpose, fileName: $fileName, sizeBytes: $sizeBytes,
    contentType: $contentType, uploadedBy: $uploadedBy
  ) { fileId uploadUrl method headers { name value } expiresAt }
}
"""

CONFIRM_UPLOAD = """
mutation CoursesConfirmUpload($fileId: ID!) {
  confirmUpload(fileId: $fileId) { id status durationSeconds failureReason }
}
"""

DELETE_FILE = "mutation CoursesDeleteFile($id: ID!) { deleteFile(id: $id) }"


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """What courses tells payments about a checkout: the course's word on price and seat."""

    title: str
    price: Money
    viewer_enrolled: bool


@dataclass(frozen=True, slots=True)
class Account:
    """What courses learns about an account from users."""

    id: str
    name: str
    role: str


class UsersClient:
    def __init__(self, client: GraphQLServiceClient) -> None:
        self._client = client

    async def accounts(self, ids: Sequence[str]) -> list[Account | None]:
        """The accounts with these ids, in order (None where users knows none)."""
        data = await self._client.execute(INTERNAL_USERS, {"ids": list(ids)})
        found = data.get("internalUsers")
        if not isinstance(found, list) or len(found) != len(ids):
            raise ServiceUnavailable("The users service answered badly.")
        return [
            Account(id=str(u["id"]), name=str(u["name"]), role=str(u["role"])) if u else None
            for u in found
        ]

    async def account(self, user_id: str) -> Account | None:
        return (await self.accounts([user_id]))[0]

    async def aclose(self) -> None:
        await self._client.aclose()


class PaymentsClient:
    def __init__(self, client: GraphQLServiceClient) -> None:
        self._client = client

    async def prepare_payment(
        self,
        user_id: str,
        course_id: str,
        provider: str,
        order: PaymentOrder,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Have payments create (or reuse) the user's pending payment; its id. Courses
        states the price and the seat, so payments need not call back."""
        data = await self._client.execute(
            PREPARE_PAYMENT,
            {
                "userId": user_id,
                "courseId": course_id,
                "provider": provider,
                "order": {
                    "title": order.title,
                    "priceAmountMinor": order.price.minor,
                    "currency": order.price.currency,
                    "viewerEnrolled": order.viewer_enrolled,
                },
            },
            headers=headers,
        )
        payment = data.get("preparePayment")
        if not isinstance(payment, dict) or not payment.get("id"):
            raise ServiceUnavailable("The payments service answered badly.")
        return str(payment["id"])

    async def aclose(self) -> None:
        await self._client.aclose()


@dataclass(frozen=True, slots=True)
class UploadTicket:
    """Where the client uploads a file directly, as files issued it."""

    file_id: str
    upload_url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ConfirmedFile:
    """Files' verdict on an uploaded object: PROCESSING, READY or FAILED (with a reason)."""

    id: str
    status: str
    duration_seconds: float | None
    failure_reason: str | None


class FilesClient:
    def __init__(self, client: GraphQLServiceClient) -> None:
        self._client = client

    async def create_upload(
        self,
        owner_id: str,
        purpose: str,
        file_name: str,
        size_bytes: int,
        content_type: str,
        uploaded_by: str,
    ) -> UploadTicket:
        """A new file record in files and the signed URL the client uploads it to;
        `uploaded_by` is told when processing ends (files' video events name them)."""
        data = await self._client.execute(
            CREATE_UPLOAD,
            {
                "ownerId": owner_id,
                "purpose": purpose,
                "fileName": file_name,
                "sizeBytes": size_bytes,
                "contentType": content_type,
                "uploadedBy": uploaded_by,
            },
        )
        try:
            ticket: dict[str, Any] = data["createUpload"]
            return UploadTicket(
                file_id=str(ticket["fileId"]),
                upload_url=str(ticket["uploadUrl"]),
                method=str(ticket["method"]),
                headers=tuple((str(h["name"]), str(h["value"])) for h in ticket["headers"]),
                expires_at=datetime.fromisoformat(ticket["expiresAt"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ServiceUnavailable("The files service answered badly.") from None

    async def confirm_upload(self, file_id: str) -> ConfirmedFile:
        """Have files check the uploaded object and start processing it; idempotent there."""
        data = await self._client.execute(CONFIRM_UPLOAD, {"fileId": file_id})
        found = data.get("confirmUpload")
        if not isinstance(found, dict) or not found.get("status"):
            raise ServiceUnavailable("The files service answered badly.")
        duration = found.get("durationSeconds")
        return ConfirmedFile(
            id=str(found["id"]),
            status=str(found["status"]),
            duration_seconds=float(duration) if isinstance(duration, int | float) else None,
            failure_reason=found.get("failureReason"),
        )

    async def delete_file(self, file_id: str) -> bool:
        """Remove a file and its data; False when files had no such file."""
        data = await self._client.execute(DELETE_FILE, {"id": file_id})
        return data.get("deleteFile") is True

    async def aclose(self) -> None:
        await self._client.aclose()
