"""Queue a mail in the caller's transaction: it is sent only if that commits."""

from __future__ import annotations

from typing import Any

from db.outbox import insert_mail
from db.types import Conn
from mail.templates import render


async def enqueue_mail(conn: Conn, *, to: str, template: str, language: str, **values: Any) -> int:
    subject, body = render(template, language, **values)
    return await insert_mail(
        conn, recipient=to, subject=subject, body=body, template=template, language=language
    )
