"""The courses operations the tests send, and small builders on top of them."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from coursegraph.identity import scope_claim
from coursegraph.settings import Settings
from coursegraph.testing import ServerThread
from subgraphs.courses.settings import CoursesSettings
from subgraphs.users.keys import KeyStore
from tests.helpers import GraphQLResult, gql, signer_for


@dataclass(frozen=True)
class Person:
    id: str
    role: str
    token: str


class People:
    """Signed-in users: tokens signed with users' own keys, or real registered accounts."""

    def __init__(self, settings: Settings, keys: KeyStore, users_url: str) -> None:
        self._settings = settings
        self._keys = keys
        self._users_url = users_url
        self._numbers = itertools.count(1)

    def token_for(self, user_id: str, role: str) -> str:
        return self._keys.sign(
            {"sub": user_id, "role": role, "scope": scope_claim(role)},
            issuer=self._settings.jwt_issuer,
            audience=self._settings.jwt_audience,
            ttl_seconds=300,
        )

    def make(self, role: str = "STUDENT") -> Person:
        """A user known only by token (courses never needs more of most users)."""
        user_id = str(uuid.uuid4())
        return Person(user_id, role, self.token_for(user_id, role))

    async def register(self, role: str = "STUDENT", name: str = "Ada Lovelace") -> Person:
        """A real account in users (for lookups through users' internal field)."""
        email = f"person{next(self._numbers)}-{uuid.uuid4().hex[:6]}@example.com"
        result = await gql(
            self._users_url,
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken user { id } } }",
            {"i": {"email": email, "password": "correct horse", "name": name, "role": role}},
        )
        data = result.ok()["register"]
        return Person(data["user"]["id"], role, data["accessToken"])

    def admin(self) -> Person:
        return self.make("ADMIN")


COURSE_FIELDS = """
  id slug title description status isFree price { amount currency }
  teacher { id } lectureCount enrollmentCount createdAt publishedAt
"""
CREATE_COURSE = f"""
mutation($input: CreateCourseInput!) {{ createCourse(input: $input) {{ {COURSE_FIELDS} }} }}"""
UPDATE_COURSE = f"""
mutation($id: ID!, $input: UpdateCourseInput!) {{
  updateCourse(id: $id, input: $input) {{ {COURSE_FIELDS} }}
}}"""
PUBLISH = f"mutation($id: ID!) {{ publishCourse(id: $id) {{ {COURSE_FIELDS} }} }}"
ARCHIVE = f"mutation($id: ID!) {{ archiveCourse(id: $id) {{ {COURSE_FIELDS} }} }}"
ADD_SECTION = """
mutation($courseId: ID!, $title: String!) {
  addSection(courseId: $courseId, title: $title) { id title position }
}"""
ADD_LECTURE = """
mutation($sectionId: ID!, $input: AddLectureInput!) {
  addLecture(sectionId: $sectionId, input: $input) {
    id title position isPreview videoStatus durationSeconds video { id } course { id }
  }
}"""
COURSE = f"""
query($id: ID, $slug: String) {{
  course(id: $id, slug: $slug) {{
    {COURSE_FIELDS}
    sections {{ id title position lectures {{ id title position isPreview }} }}
  }}
}}"""
ENROLL = """
mutation($courseId: ID!, $provider: PaymentProvider) {
  enroll(courseId: $courseId, provider: $provider) {
    __typename
    ... on Enrollment { id status progressPercentage payment { id } course { id } user { id } }
    ... on PaymentRequired { course { id } price { amount currency } payment { id } }
  }
}"""
ENROLLMENT_FIELDS = """
  id status progressPercentage totalWatchTime enrolledAt completedAt droppedAt
  course { id } user { id } payment { id } certificate { id code }
"""
UPDATE_PROGRESS = f"""
mutation($courseId: ID!, $p: Float!, $t: Int!) {{
  updateProgress(courseId: $courseId, progressPercentage: $p, totalWatchTime: $t) {{
    {ENROLLMENT_FIELDS}
  }}
}}"""
ISSUE_CERTIFICATE = """
mutation($id: ID!) {
  issueCertificate(enrollmentId: $id) { id code issuedAt studentName courseTitle }
}"""


async def create_course(
    url: str, teacher: Person, title: str = "Intro to Testing", **fields: Any
) -> dict[str, Any]:
    result = await gql(
        url, CREATE_COURSE, {"input": {"title": title, **fields}}, token=teacher.token
    )
    course: dict[str, Any] = result.ok()["createCourse"]
    return course


async def add_section(
    url: str, teacher: Person, course_id: str, title: str = "Basics"
) -> dict[str, Any]:
    variables = {"courseId": course_id, "title": title}
    result = await gql(url, ADD_SECTION, variables, token=teacher.token)
    section: dict[str, Any] = result.ok()["addSection"]
    return section


async def add_lecture(
    url: str, teacher: Person, section_id: str, title: str = "Welcome", preview: bool = False
) -> dict[str, Any]:
    result = await gql(
        url,
        ADD_LECTURE,
        {"sectionId": section_id, "input": {"title": title, "isPreview": preview}},
        token=teacher.token,
    )
    lecture: dict[str, Any] = result.ok()["addLecture"]
    return lecture


async def published_course(
    url: str, teacher: Person, title: str = "Intro to Testing", **fields: Any
) -> dict[str, Any]:
    """A PUBLISHED course with one section and one lecture."""
    course = await create_course(url, teacher, title, **fields)
    section = await add_section(url, teacher, course["id"])
    await add_lecture(url, teacher, section["id"])
    published = await gql(url, PUBLISH, {"id": course["id"]}, token=teacher.token)
    result: dict[str, Any] = published.ok()["publishCourse"]
    return result


async def enroll(
    url: str, student: Person, course_id: str, provider: str | None = None
) -> GraphQLResult:
    variables: dict[str, Any] = {"courseId": course_id}
    if provider is not None:
        variables["provider"] = provider
    return await gql(url, ENROLL, variables, token=student.token)


async def progress(
    url: str, student: Person, course_id: str, percentage: float, watch_time: int = 0
) -> GraphQLResult:
    return await gql(
        url,
        UPDATE_PROGRESS,
        {"courseId": course_id, "p": percentage, "t": watch_time},
        token=student.token,
    )


# ------------------------------------------------------------------ lecture videos
INITIATE_UPLOAD = """
mutation($lectureId: ID!, $input: UploadInput!) {
  initiateLectureUpload(lectureId: $lectureId, input: $input) {
    fileId uploadUrl method headers { name value } expiresAt
  }
}"""
CONFIRM_UPLOAD = """
mutation($lectureId: ID!, $fileId: ID!) {
  confirmLectureUpload(lectureId: $lectureId, fileId: $fileId) {
    id videoStatus durationSeconds video { id }
  }
}"""
LECTURE_VIDEO = """
query($id: ID!) { lecture(id: $id) { id videoStatus durationSeconds video { id } } }"""
FILE_ENTITLEMENT = """
query($r: [_Any!]!) { _entities(representations: $r) { ... on File { id viewerCanWatch } } }"""


async def initiate_upload(
    url: str,
    person: Person | None,
    lecture_id: str,
    *,
    file_size: float,
    file_name: str = "intro.mp4",
    content_type: str = "video/mp4",
) -> GraphQLResult:
    upload = {"fileName": file_name, "fileSize": file_size, "contentType": content_type}
    return await gql(
        url,
        INITIATE_UPLOAD,
        {"lectureId": lecture_id, "input": upload},
        token=person.token if person else None,
    )


async def confirm_upload(
    url: str, person: Person | None, lecture_id: str, file_id: str
) -> GraphQLResult:
    return await gql(
        url,
        CONFIRM_UPLOAD,
        {"lectureId": lecture_id, "fileId": file_id},
        token=person.token if person else None,
    )


async def lecture_video(url: str, person: Person, lecture_id: str) -> dict[str, Any]:
    """The lecture's video fields, as its teacher sees them."""
    result = await gql(url, LECTURE_VIDEO, {"id": lecture_id}, token=person.token)
    lecture: dict[str, Any] = result.ok()["lecture"]
    return lecture


async def can_watch(url: str, person: Person | None, *file_ids: str) -> list[bool]:
    """`File.viewerCanWatch` from courses, as a router fetches it for `playbackUrl`."""
    refs = {"r": [{"__typename": "File", "id": i} for i in file_ids]}
    result = await gql(url, FILE_ENTITLEMENT, refs, token=person.token if person else None)
    return [entry["viewerCanWatch"] for entry in result.ok()["_entities"]]


@dataclass
class UploadStack:
    """Courses and files, each reaching the other (and users) over HTTP."""

    courses: ServerThread
    files: ServerThread
    settings: Settings
    courses_section: CoursesSettings
    # The courses app itself (its container: the live feed's subscribers).
    courses_app: Starlette | None = None

    @property
    def courses_url(self) -> str:
        return f"{self.courses.url}/graphql"

    @property
    def files_url(self) -> str:
        return f"{self.files.url}/graphql"


FILE_PLAYBACK = """
query($r: [_Any!]!) {
  _entities(representations: $r) {
    ... on File {
      id fileName contentType sizeBytes status durationSeconds playbackUrl thumbnailUrl
    }
  }
}"""
# A bound for a loaded 2-core machine (processing, outbox relays, the Mux stand-in), not
# a timing claim: once over 20 s at load ~12.
SETTLED_WITHIN_SECONDS = 60


async def wait_until_settled(url: str, teacher: Person, lecture_id: str) -> dict[str, Any]:
    """The lecture's video fields once files has told courses READY or FAILED."""
    deadline = time.monotonic() + SETTLED_WITHIN_SECONDS
    while True:
        lecture = await lecture_video(url, teacher, lecture_id)
        if lecture["videoStatus"] in ("READY", "FAILED"):
            return lecture
        assert time.monotonic() < deadline, f"lecture still {lecture}"
        await asyncio.sleep(0.1)


async def file_as_router(
    stack: UploadStack, file_id: str, viewer_can_watch: bool
) -> dict[str, Any]:
    """Files' `File`, given the entitlement courses answered (what `@requires` passes on)."""
    signer = signer_for("router", stack.settings)
    reps = [{"__typename": "File", "id": file_id, "viewerCanWatch": viewer_can_watch}]
    result = await gql(stack.files_url, FILE_PLAYBACK, {"r": reps}, signer=signer)
    found: dict[str, Any] = result.ok()["_entities"][0]
    return found


async def watch_as_router(
    stack: UploadStack, person: Person | None, file_id: str
) -> dict[str, Any]:
    """`video { playbackUrl thumbnailUrl … }` for `person`, as a router's plan fetches it:
    `viewerCanWatch` from courses, then files' fields that require it."""
    [allowed] = await can_watch(stack.courses_url, person, file_id)
    return await file_as_router(stack, file_id, allowed)
