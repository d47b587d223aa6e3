"""Notifications' plain HTTP routes: one-click unsubscribe (RFC 8058) and, outside
production, the development mailbox (what the local SMTP sink received)."""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from coursegraph.body_limit import BodyLimit
from coursegraph.errors import BadUserInput
from subgraphs.notifications.bootstrap import NotificationsContainer
from subgraphs.notifications.unsubscribe import PATH as UNSUBSCRIBE_PATH

# A one-click POST carries `List-Unsubscribe=One-Click`; nothing bigger is read.
MAX_UNSUBSCRIBE_BYTES = 1024
# Pages are static HTML: no script runs, mails are shown in a sandboxed frame.
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; frame-src 'self'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
MAILBOX_PAGE_SIZE = 200


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    container: NotificationsContainer = request.app.state.container
    body = container.pages.get_template(f"pages/{template}").render(context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


async def unsubscribe(request: Request) -> Response:
    """GET shows a confirmation (mail scanners follow links: GET never unsubscribes);
    POST (the page's button, or a mail client's one-click) switches that email off."""
    container: NotificationsContainer = request.app.state.container
    token = request.query_params.get("token", "")
    try:
        chosen = container.links.verify(token)
    except BadUserInput:
        return _page(request, "unsubscribe_invalid.html", status=400)
    category = chosen.category.value.lower()
    if request.method == "GET":
        return _page(request, "unsubscribe_confirm.html", category=category, token=token)
    await container.notifications.unsubscribe(chosen.user_id, chosen.category)
    return _page(request, "unsubscribe_done.html", category=category)


def _mailbox(request: Request) -> mailbox.Maildir | None:
    container: NotificationsContainer = request.app.state.container
    folder: Path | None = container.mailbox_dir
    if folder is None or not (folder / "cur").is_dir():
        return None
    return mailbox.Maildir(folder, factory=None, create=False)


def _parse(raw: bytes) -> EmailMessage:
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _summaries(box: mailbox.Maildir) -> list[dict[str, Any]]:
    found = []
    for key in box.iterkeys():
        message = _parse(box.get_bytes(key))
        date = message["Date"]
        found.append(
            {
                "key": key,
                "date": str(date or ""),
                "to": str(message["To"] or ""),
                "subject": str(message["Subject"] or ""),
                "sort": date.datetime if date is not None else None,
            }
        )
    return found


async def mailbox_list(request: Request) -> Response:
    container: NotificationsContainer = request.app.state.container
    if container.mailbox_dir is None:
        return Response(status_code=404)
    box = _mailbox(request)
    mails = _summaries(box) if box is not None else []
    mails.sort(key=lambda m: (m["sort"] is not None, m["sort"]), reverse=True)
    return _page(
        request,
        "mailbox.html",
        mails=mails[:MAILBOX_PAGE_SIZE],
        total=len(mails),
        folder=str(container.mailbox_dir),
    )


async def mailbox_show(request: Request) -> Response:
    container: NotificationsContainer = request.app.state.container
    box = _mailbox(request) if container.mailbox_dir is not None else None
    key = request.path_params["key"]
    if box is None:
        return Response(status_code=404)
    try:
        raw = box.get_bytes(key)
    except KeyError:
        return Response(status_code=404)
    message = _parse(raw)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return _page(
        request,
        "mail.html",
        headers=list(message.items()),
        text=text.get_content() if text is not None else None,
        html=html.get_content() if html is not None else None,
    )


def routes() -> list[BaseRoute]:
    return [
        Route(
            UNSUBSCRIBE_PATH,
            BodyLimit(unsubscribe, MAX_UNSUBSCRIBE_BYTES),
            methods=["GET", "POST"],
        ),
        Route("/dev/mailbox", mailbox_list, methods=["GET"]),
        Route("/dev/mailbox/{key}", mailbox_show, methods=["GET"]),
    ]
