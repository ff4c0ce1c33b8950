"""Queue a mail, in its recipient's language, in the caller's transaction: it
is sent only if that commits (mail/sender.py delivers it)."""

from __future__ import annotations

from typing import Any

from db.outbox import insert_mail
from db.types import Conn
from resolvers.i18n import Mail, mail_text


async def enqueue_mail(conn: Conn, *, to: str, mail: Mail, language: str, **values: Any) -> int:
    subject, body = mail_text(language, mail, **values)
    return await insert_mail(
        conn, recipient=to, subject=subject, body=body, template=mail.value, language=language
    )
