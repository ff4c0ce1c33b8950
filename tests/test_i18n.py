"""Every message exists in every language, with the same placeholders."""

from __future__ import annotations

import string

from resolvers.i18n import MESSAGES


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_language_has_every_message_with_the_same_placeholders() -> None:
    english = MESSAGES["en"]
    for language, texts in MESSAGES.items():
        assert texts.keys() == english.keys(), language
        for key, template in texts.items():
            assert placeholders(template) == placeholders(english[key]), (language, key)
