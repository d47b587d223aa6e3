"""The tabs GraphiQL opens with outside production: the README walkthrough's operations.

Each tab is one document of named operations (GraphiQL runs the one under the cursor)
with variables to fill in. The sign-in tab is prefilled with a demo student and the demo
password (the SEED_PASSWORD setting); the page sends the token a sign-in returns with
every later request. tests/router/test_graphiql.py validates every document against the
committed supergraph, so the tabs cannot drift from the API.
"""

from __future__ import annotations

from typing import Any

# The first student `coursegraph seed` creates (tests check it against the seed data).
DEMO_STUDENT_EMAIL = "sam.student@example.com"
DEMO_TEACHER_EMAIL = "ada.teacher@example.com"
# Stands for the demo password in the variables below; replaced when the page is built.
SEED_PASSWORD = "$SEED_PASSWORD"

SIGN_IN = f"""\
# Run Login (▶). This page then sends its accessToken
# with every request from every tab. Access tokens last
# 15 minutes; RefreshToken trades the refreshToken (30
# days, single use) for a new pair. A demo teacher:
# {DEMO_TEACHER_EMAIL}, same password.
mutation Login($email: String!, $password: String!) {{
  login(email: $email, password: $password) {{
    accessToken
    refreshToken
    expiresIn
    user {{ name role }}
  }}
}}

mutation RefreshToken($refreshToken: String!) {{
  refreshToken(refreshToken: $refreshToken) {{ accessToken refreshToken expiresIn }}
}}

query Me {{
  me {{ name email role enrollments {{ status course {{ title }} }} }}
}}
"""

ENROLL_AND_PAY = """\
# 1 · Browse, enroll, pay (signed in as a student).
# Enroll in a paid course with the sandbox provider,
# open checkout.sandboxUrl and press Pay (it shows
# gatewayPaymentId and signature), then VerifyPayment.
# The sandbox's webhook activates the seat anyway.
query Courses {
  courses(first: 10, freeOnly: false) {
    edges { node { id slug title isFree price { amount currency } } }
  }
}

mutation Enroll($courseId: ID!) {
  enroll(courseId: $courseId, provider: SANDBOX) {
    __typename
    ... on Enrollment { id status }
    ... on PaymentRequired {
      price { amount currency }
      payment { id status checkout { sandboxUrl } }
    }
  }
}

mutation VerifyPayment($input: VerifyPaymentInput!) {
  verifyPayment(input: $input) { status enrollment { status course { title } } }
}

mutation RequestRefund($paymentId: ID!) {
  requestRefund(paymentId: $paymentId, reason: "changed my mind") {
    status
    amount { amount currency }
  }
}
"""

UPLOAD_VIDEO = f"""\
# 2 · Upload a lecture video (sign in as a teacher,
# e.g. {DEMO_TEACHER_EMAIL}). PUT the file to uploadUrl
# with the ticket's headers:
#   curl -X PUT '<uploadUrl>' -H 'Content-Type: video/mp4' \\
#     --data-binary @hello.mp4
# then ConfirmLectureUpload; Lecture turns READY.
mutation CreateCourse {{
  createCourse(input: {{ title: "My course", price: {{ amount: "19.99", currency: "USD" }} }}) {{
    id
  }}
}}

mutation AddSection($courseId: ID!) {{
  addSection(courseId: $courseId, title: "Basics") {{ id }}
}}

mutation AddLecture($sectionId: ID!) {{
  addLecture(sectionId: $sectionId, input: {{ title: "Hello", isPreview: true }}) {{ id }}
}}

mutation InitiateLectureUpload($lectureId: ID!, $fileSize: Float!) {{
  initiateLectureUpload(
    lectureId: $lectureId
    input: {{ fileName: "hello.mp4", fileSize: $fileSize, contentType: "video/mp4" }}
  ) {{
    fileId
    uploadUrl
    method
    headers {{ name value }}
  }}
}}

mutation ConfirmLectureUpload($lectureId: ID!, $fileId: ID!) {{
  confirmLectureUpload(lectureId: $lectureId, fileId: $fileId) {{ videoStatus }}
}}

query Lecture($lectureId: ID!) {{
  lecture(id: $lectureId) {{ videoStatus durationSeconds video {{ status playbackUrl }} }}
}}
"""

PROGRESS_AND_CERTIFICATE = """\
# 3 · Progress and certificate (as the student, on a
# course you are enrolled in). VerifyCertificate is
# public: it needs no token.
mutation UpdateProgress($courseId: ID!) {
  updateProgress(courseId: $courseId, progressPercentage: 100, totalWatchTime: 3600) {
    id
    status
    completedAt
  }
}

mutation IssueCertificate($enrollmentId: ID!) {
  issueCertificate(enrollmentId: $enrollmentId) { code courseTitle studentName }
}

query VerifyCertificate($code: String!) {
  verifyCertificate(code: $code) { studentName courseTitle issuedAt }
}
"""

WALKTHROUGH: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        SIGN_IN,
        {
            "email": DEMO_STUDENT_EMAIL,
            "password": SEED_PASSWORD,
            "refreshToken": "<refreshToken from Login>",
        },
    ),
    (
        ENROLL_AND_PAY,
        {
            "courseId": "<paid course id from Courses>",
            "input": {
                "paymentId": "<payment id from Enroll>",
                "gatewayPaymentId": "<from the sandbox>",
                "signature": "<from the sandbox>",
            },
            "paymentId": "<payment id from Enroll>",
        },
    ),
    (
        UPLOAD_VIDEO,
        {
            "courseId": "<id from CreateCourse>",
            "sectionId": "<id from AddSection>",
            "lectureId": "<id from AddLecture>",
            "fileSize": 1048576,
            "fileId": "<fileId from InitiateLectureUpload>",
        },
    ),
    (
        PROGRESS_AND_CERTIFICATE,
        {
            "courseId": "<course id>",
            "enrollmentId": "<enrollment id>",
            "code": "<certificate code>",
        },
    ),
)
