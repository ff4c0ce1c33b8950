"""English and French texts of userErrors, top-level errors and mails.

A message is looked up by key in the request's language; an unknown language
falls back to English. Placeholders use `str.format` names.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "unauthenticated": "Sign in to see this.",
        "finish_registration": (
            "Finish your registration to see fleet data: your account is not yet "
            "attached to an organization."
        ),
        "staff_only": "Only the platform staff may do this.",
    },
    "fr": {
        "unauthenticated": "Connectez-vous pour voir ceci.",
        "finish_registration": (
            "Terminez votre inscription pour voir les données du parc : votre compte "
            "n'est pas encore rattaché à une organisation."
        ),
        "staff_only": "Seule l'équipe de la plateforme peut faire ceci.",
    },
}


def text(language: str, key: str, **values: Any) -> str:
    """The message `key` in `language` (English if missing), with values filled in."""
    template = MESSAGES.get(language, MESSAGES["en"]).get(key) or MESSAGES["en"][key]
    return template.format(**values) if values else template
