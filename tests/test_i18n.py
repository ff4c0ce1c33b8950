"""One table of texts: every message, mails included, exists in every language
with the same placeholders, and every mail renders in every language."""

from __future__ import annotations

import string

import asyncpg
import pytest

from resolvers.context import language_from_header
from resolvers.i18n import MESSAGES, SUPPORTED_LANGUAGES, Mail, mail_text
from resolvers.outbox import enqueue_mail

# Values a mail may carry when it can go to an address nobody has proved yet:
# none of them is text that a registrant wrote.
CODE_MAIL_VALUES = {"code", "minutes"}
# Mails that may reach an unproved address (anyone may type anyone's address).
UNPROVED_ADDRESS_MAILS = (Mail.VERIFICATION_CODE, Mail.ACCOUNT_EXISTS, Mail.PASSWORD_RESET)


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def mail_placeholders(mail: Mail) -> set[str]:
    english = MESSAGES["en"]
    return placeholders(english[f"mail.{mail}.subject"]) | placeholders(
        english[f"mail.{mail}.body"]
    )


def sample_values(mail: Mail) -> dict[str, str]:
    return {name: f"<{name}-value>" for name in mail_placeholders(mail)}


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    english = MESSAGES["en"]
    for language, texts in MESSAGES.items():
        assert texts.keys() == english.keys(), language
        for key, template in texts.items():
            assert placeholders(template) == placeholders(english[key]), (language, key)


def test_the_supported_languages_are_the_languages_of_the_table() -> None:
    assert SUPPORTED_LANGUAGES == tuple(MESSAGES) and "en" in SUPPORTED_LANGUAGES
    for language in SUPPORTED_LANGUAGES:
        assert language_from_header(f"{language};q=0.9") == language


def test_every_mail_has_a_subject_and_a_body_and_the_table_no_other_mail() -> None:
    mail_keys = {key for key in MESSAGES["en"] if key.startswith("mail.")}
    expected = {f"mail.{mail}.{part}" for mail in Mail for part in ("subject", "body")}
    assert mail_keys == expected


@pytest.mark.parametrize("language", SUPPORTED_LANGUAGES)
@pytest.mark.parametrize("mail", list(Mail))
def test_every_mail_renders_in_every_language(mail: Mail, language: str) -> None:
    values = sample_values(mail)
    subject, body = mail_text(language, mail, **values)
    assert subject.strip() and "\n" not in subject
    assert body.endswith("\n") and "{" not in subject + body and "}" not in subject + body
    for value in values.values():
        assert value in subject + body
    if language != "en":
        # Translated, not the English fallback.
        assert (subject, body) != mail_text("en", mail, **values)


@pytest.mark.parametrize("mail", UNPROVED_ADDRESS_MAILS)
def test_a_mail_that_may_reach_an_unproved_address_carries_no_registrant_text(
    mail: Mail,
) -> None:
    assert mail_placeholders(mail) <= CODE_MAIL_VALUES


async def test_a_queued_mail_is_written_in_the_recipients_language(
    db: asyncpg.Connection,
) -> None:
    for language in SUPPORTED_LANGUAGES:
        await enqueue_mail(
            db,
            to=f"{language}@acme.example",
            mail=Mail.PASSWORD_RESET,
            language=language,
            code="482913",
            minutes=10,
        )
    rows = await db.fetch("select recipient, subject, body, template, language from mail_outbox")
    assert len(rows) == len(SUPPORTED_LANGUAGES)
    for row in rows:
        subject, body = mail_text(row["language"], Mail.PASSWORD_RESET, code="482913", minutes=10)
        assert row["recipient"] == f"{row['language']}@acme.example"
        assert (row["subject"], row["body"], row["template"]) == (subject, body, "password_reset")
