"""Mail texts in English and French, chosen by the recipient's language.

Mail that may go to an address nobody has proved yet (codes) carries no text
that the requester wrote: anyone may type anyone's address, and a name field
would let them write to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


TEMPLATES: dict[str, dict[str, Template]] = {
    "verification_code": {
        "en": Template(
            "Your Service360 verification code: {code}",
            "Hello,\n\nYour verification code is {code}.\n"
            "It is valid for {minutes} minutes. If you did not create a Service360 "
            "account, ignore this message.\n",
        ),
        "fr": Template(
            "Votre code de vérification Service360 : {code}",
            "Bonjour,\n\nVotre code de vérification est {code}.\n"
            "Il est valable {minutes} minutes. Si vous n'avez pas créé de compte "
            "Service360, ignorez ce message.\n",
        ),
    },
    "account_exists": {
        "en": Template(
            "You already have a Service360 account",
            "Hello,\n\nSomeone (perhaps you) tried to create a Service360 account with "
            "this address, which already has one. Sign in, or reset your password if "
            "you forgot it. If this was not you, nothing changed.\n",
        ),
        "fr": Template(
            "Vous avez déjà un compte Service360",
            "Bonjour,\n\nQuelqu'un (peut-être vous) a essayé de créer un compte "
            "Service360 avec cette adresse, qui en a déjà un. Connectez-vous, ou "
            "réinitialisez votre mot de passe si vous l'avez oublié. Si ce n'était pas "
            "vous, rien n'a changé.\n",
        ),
    },
    "account_ready": {
        "en": Template(
            "Your Service360 account is ready",
            "Hello {first_name},\n\nYour account is now attached to {organization}. "
            "You have full access to its support portal.\n",
        ),
        "fr": Template(
            "Votre compte Service360 est prêt",
            "Bonjour {first_name},\n\nVotre compte est maintenant rattaché à "
            "{organization}. Vous avez accès à tout son portail de support.\n",
        ),
    },
    "onboarding_received": {
        "en": Template(
            "We received your organization's request",
            "Hello {first_name},\n\nWe received the request to onboard {legal_name}. "
            "Our team reviews it within one or two business days; you will get an "
            "email with the decision.\n",
        ),
        "fr": Template(
            "Nous avons reçu la demande de votre organisation",
            "Bonjour {first_name},\n\nNous avons reçu la demande d'inscription de "
            "{legal_name}. Notre équipe l'examine sous un ou deux jours ouvrés ; vous "
            "recevrez un message avec la décision.\n",
        ),
    },
    "onboarding_approved": {
        "en": Template(
            "Your organization is on Service360",
            "Hello {first_name},\n\n{legal_name} is now on Service360 and you are its "
            "administrator. Colleagues who register with an address at {domain} will "
            "join it.\n",
        ),
        "fr": Template(
            "Votre organisation est sur Service360",
            "Bonjour {first_name},\n\n{legal_name} est maintenant sur Service360 et "
            "vous en êtes l'administrateur. Les collègues qui s'inscrivent avec une "
            "adresse en {domain} la rejoindront.\n",
        ),
    },
    "onboarding_rejected": {
        "en": Template(
            "About your organization's request",
            "Hello {first_name},\n\nWe could not accept the request to onboard "
            "{legal_name}.\n\nOur note: {note}\n\nYou can sign in, correct the details "
            "and send the request again.\n",
        ),
        "fr": Template(
            "À propos de la demande de votre organisation",
            "Bonjour {first_name},\n\nNous n'avons pas pu accepter la demande "
            "d'inscription de {legal_name}.\n\nNotre remarque : {note}\n\nVous pouvez "
            "vous connecter, corriger les informations et renvoyer la demande.\n",
        ),
    },
    "password_reset": {
        "en": Template(
            "Your Service360 password reset code: {code}",
            "Hello,\n\nYour password reset code is {code}.\n"
            "It is valid for {minutes} minutes. If you did not ask for it, ignore this "
            "message: your password stays as it is.\n",
        ),
        "fr": Template(
            "Votre code de réinitialisation Service360 : {code}",
            "Bonjour,\n\nVotre code de réinitialisation du mot de passe "
            "est {code}.\nIl est valable {minutes} minutes. Si vous ne l'avez pas "
            "demandé, ignorez ce message : votre mot de passe ne change pas.\n",
        ),
    },
}


def render(template: str, language: str, **values: Any) -> tuple[str, str]:
    """(subject, body) of `template` in `language` (English when unknown)."""
    versions = TEMPLATES[template]
    chosen = versions.get(language) or versions["en"]
    return chosen.subject.format(**values), chosen.body.format(**values)
