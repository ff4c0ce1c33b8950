"""Every text a user reads, in every supported language: userErrors,
top-level errors, fleet labels and mails. A language is added here, once.

A message is looked up by key in the request's (or the recipient's) language;
an unknown language falls back to English. Placeholders use `str.format` names.

A mail is two messages, `mail.<name>.subject` and `mail.<name>.body`. Mail
that may go to an address nobody has proved yet (codes, `account_exists`)
carries no text that the requester wrote: anyone may type anyone's address,
and a name field would let them write to it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from resolvers.errors import ErrorCode, UserError

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "unauthenticated": "Sign in to see this.",
        "finish_registration": (
            "Finish your registration to see fleet data: your account is not yet "
            "attached to an organization."
        ),
        "staff_only": "Only the platform staff may do this.",
        "required": "This field is required.",
        "too_long": "This field is too long (at most {max} characters).",
        "invalid": "This value is not valid.",
        "email_invalid": "This is not a valid email address.",
        "email_personal": (
            "Use your business email address: personal mail services such as {domain} "
            "are not accepted."
        ),
        "email_disposable": "Disposable email addresses ({domain}) are not accepted.",
        "password_too_short": "Use at least {min} characters.",
        "password_too_long": "Use at most {max} characters.",
        "password_common": "This password is too common or too easy to guess.",
        "password_personal": (
            "This password is mostly your name, your email address, your organization "
            "or the name of this service: add more of your own."
        ),
        "country_invalid": "Use a two-letter ISO country code, e.g. FR or US.",
        "language_invalid": "Supported languages are English (en) and French (fr).",
        "phone_invalid": "Use digits, spaces, +, -, ( and ) only.",
        "website_invalid": "Use a web address starting with https:// or http://.",
        "number_invalid": "Use a number between {min} and {max}.",
        "code_invalid": "This code is not valid.",
        "code_expired": "This code has expired: ask for a new one.",
        "code_spent": "Too many wrong tries: this code no longer works, ask for a new one.",
        "rate_limited": "Too many attempts: try again in {seconds} seconds.",
        "code_day_cap": "Too many wrong codes today: try again tomorrow.",
        "sign_in_locked": (
            "Too many failed sign-ins: try again in {seconds} seconds, or reset your password."
        ),
        "invalid_credentials": "The email address or the password is not correct.",
        "email_not_verified": (
            "Verify your email address first: enter the code we sent, or ask for a new one."
        ),
        "wrong_step": "Your registration is not at this step (it is at {step}).",
        "not_a_choice": "Choose one of the organizations offered to you.",
        "request_not_found": "There is no such onboarding request.",
        "request_decided": "This onboarding request has already been decided.",
        "note_required": "Say why the request is rejected.",
        # Fleet, groups and members.
        "group_not_found": "There is no such custom group.",
        "not_found": "There is no such item, or you may not see it.",
        "name_required": "Give the group a name.",
        "too_many_groups": "You already have {max} custom groups: delete one first.",
        "too_many_products": "A group lists at most {max} products.",
        "admin_only": "Only an administrator of your organization may do this.",
        "members_only": "Only members of this organization see its sites.",
        "member_not_found": "There is no such member in your organization.",
        "last_admin": "Your organization must keep at least one administrator.",
        "cursor_invalid": "The cursor in `after` is not valid.",
        "days_invalid": "Use a number of days between 0 and {max}.",
        "search_too_long": "Search for at most {max} characters.",
        # Mails: subject and body of each.
        "mail.verification_code.subject": "Your Service360 verification code: {code}",
        "mail.verification_code.body": (
            "Hello,\n\nYour verification code is {code}.\n"
            "It is valid for {minutes} minutes. If you did not create a Service360 "
            "account, ignore this message.\n"
        ),
        "mail.account_exists.subject": "You already have a Service360 account",
        "mail.account_exists.body": (
            "Hello,\n\nSomeone (perhaps you) tried to create a Service360 account with "
            "this address, which already has one. Sign in, or reset your password if "
            "you forgot it. If this was not you, nothing changed.\n"
        ),
        "mail.account_ready.subject": "Your Service360 account is ready",
        "mail.account_ready.body": (
            "Hello {first_name},\n\nYour account is now attached to {organization}. "
            "You have full access to its support portal.\n"
        ),
        "mail.onboarding_received.subject": "We received your organization's request",
        "mail.onboarding_received.body": (
            "Hello {first_name},\n\nWe received the request to onboard {legal_name}. "
            "Our team reviews it within one or two business days; you will get an "
            "email with the decision.\n"
        ),
        "mail.onboarding_approved.subject": "Your organization is on Service360",
        "mail.onboarding_approved.body": (
            "Hello {first_name},\n\n{legal_name} is now on Service360 and you are its "
            "administrator. Colleagues who register with an address at {domain} will "
            "join it.\n"
        ),
        "mail.onboarding_rejected.subject": "About your organization's request",
        "mail.onboarding_rejected.body": (
            "Hello {first_name},\n\nWe could not accept the request to onboard "
            "{legal_name}.\n\nOur note: {note}\n\nYou can sign in, correct the details "
            "and send the request again.\n"
        ),
        "mail.password_reset.subject": "Your Service360 password reset code: {code}",
        "mail.password_reset.body": (
            "Hello,\n\nYour password reset code is {code}.\n"
            "It is valid for {minutes} minutes. If you did not ask for it, ignore this "
            "message: your password stays as it is.\n"
        ),
    },
    "fr": {
        "unauthenticated": "Connectez-vous pour voir ceci.",
        "finish_registration": (
            "Terminez votre inscription pour voir les données du parc : votre compte "
            "n'est pas encore rattaché à une organisation."
        ),
        "staff_only": "Seule l'équipe de la plateforme peut faire ceci.",
        "required": "Ce champ est obligatoire.",
        "too_long": "Ce champ est trop long ({max} caractères au plus).",
        "invalid": "Cette valeur n'est pas valide.",
        "email_invalid": "Cette adresse e-mail n'est pas valide.",
        "email_personal": (
            "Utilisez votre adresse e-mail professionnelle : les messageries "
            "personnelles comme {domain} ne sont pas acceptées."
        ),
        "email_disposable": "Les adresses e-mail jetables ({domain}) ne sont pas acceptées.",
        "password_too_short": "Utilisez au moins {min} caractères.",
        "password_too_long": "Utilisez au plus {max} caractères.",
        "password_common": "Ce mot de passe est trop courant ou trop facile à deviner.",
        "password_personal": (
            "Ce mot de passe reprend surtout votre nom, votre adresse e-mail, votre "
            "organisation ou le nom de ce service : ajoutez-y davantage de vous."
        ),
        "country_invalid": "Utilisez un code pays ISO à deux lettres, par exemple FR ou US.",
        "language_invalid": "Les langues prises en charge sont l'anglais (en) et le français (fr).",
        "phone_invalid": "Utilisez uniquement des chiffres, des espaces et + - ( ).",
        "website_invalid": "Utilisez une adresse web commençant par https:// ou http://.",
        "number_invalid": "Utilisez un nombre entre {min} et {max}.",
        "code_invalid": "Ce code n'est pas valide.",
        "code_expired": "Ce code a expiré : demandez-en un nouveau.",
        "code_spent": (
            "Trop d'essais erronés : ce code ne fonctionne plus, demandez-en un nouveau."
        ),
        "rate_limited": "Trop de tentatives : réessayez dans {seconds} secondes.",
        "code_day_cap": "Trop de codes erronés aujourd'hui : réessayez demain.",
        "sign_in_locked": (
            "Trop de connexions échouées : réessayez dans {seconds} secondes, ou "
            "réinitialisez votre mot de passe."
        ),
        "invalid_credentials": "L'adresse e-mail ou le mot de passe n'est pas correct.",
        "email_not_verified": (
            "Vérifiez d'abord votre adresse e-mail : saisissez le code envoyé, ou "
            "demandez-en un nouveau."
        ),
        "wrong_step": "Votre inscription n'est pas à cette étape (elle est à {step}).",
        "not_a_choice": "Choisissez l'une des organisations proposées.",
        "request_not_found": "Cette demande d'inscription n'existe pas.",
        "request_decided": "Cette demande d'inscription a déjà été tranchée.",
        "note_required": "Indiquez pourquoi la demande est refusée.",
        # Fleet, groups and members.
        "group_not_found": "Ce groupe personnalisé n'existe pas.",
        "not_found": "Cet élément n'existe pas, ou vous ne pouvez pas le voir.",
        "name_required": "Donnez un nom au groupe.",
        "too_many_groups": "Vous avez déjà {max} groupes personnalisés : supprimez-en un d'abord.",
        "too_many_products": "Un groupe liste au plus {max} produits.",
        "admin_only": "Seul un administrateur de votre organisation peut faire ceci.",
        "members_only": "Seuls les membres de cette organisation voient ses sites.",
        "member_not_found": "Ce membre n'existe pas dans votre organisation.",
        "last_admin": "Votre organisation doit garder au moins un administrateur.",
        "cursor_invalid": "Le curseur de `after` n'est pas valide.",
        "days_invalid": "Indiquez un nombre de jours entre 0 et {max}.",
        "search_too_long": "Cherchez au plus {max} caractères.",
        # Mails: subject and body of each.
        "mail.verification_code.subject": "Votre code de vérification Service360 : {code}",
        "mail.verification_code.body": (
            "Bonjour,\n\nVotre code de vérification est {code}.\n"
            "Il est valable {minutes} minutes. Si vous n'avez pas créé de compte "
            "Service360, ignorez ce message.\n"
        ),
        "mail.account_exists.subject": "Vous avez déjà un compte Service360",
        "mail.account_exists.body": (
            "Bonjour,\n\nQuelqu'un (peut-être vous) a essayé de créer un compte "
            "Service360 avec cette adresse, qui en a déjà un. Connectez-vous, ou "
            "réinitialisez votre mot de passe si vous l'avez oublié. Si ce n'était pas "
            "vous, rien n'a changé.\n"
        ),
        "mail.account_ready.subject": "Votre compte Service360 est prêt",
        "mail.account_ready.body": (
            "Bonjour {first_name},\n\nVotre compte est maintenant rattaché à "
            "{organization}. Vous avez accès à tout son portail de support.\n"
        ),
        "mail.onboarding_received.subject": "Nous avons reçu la demande de votre organisation",
        "mail.onboarding_received.body": (
            "Bonjour {first_name},\n\nNous avons reçu la demande d'inscription de "
            "{legal_name}. Notre équipe l'examine sous un ou deux jours ouvrés ; vous "
            "recevrez un message avec la décision.\n"
        ),
        "mail.onboarding_approved.subject": "Votre organisation est sur Service360",
        "mail.onboarding_approved.body": (
            "Bonjour {first_name},\n\n{legal_name} est maintenant sur Service360 et "
            "vous en êtes l'administrateur. Les collègues qui s'inscrivent avec une "
            "adresse en {domain} la rejoindront.\n"
        ),
        "mail.onboarding_rejected.subject": "À propos de la demande de votre organisation",
        "mail.onboarding_rejected.body": (
            "Bonjour {first_name},\n\nNous n'avons pas pu accepter la demande "
            "d'inscription de {legal_name}.\n\nNotre remarque : {note}\n\nVous pouvez "
            "vous connecter, corriger les informations et renvoyer la demande.\n"
        ),
        "mail.password_reset.subject": "Votre code de réinitialisation Service360 : {code}",
        "mail.password_reset.body": (
            "Bonjour,\n\nVotre code de réinitialisation du mot de passe "
            "est {code}.\nIl est valable {minutes} minutes. Si vous ne l'avez pas "
            "demandé, ignorez ce message : votre mot de passe ne change pas.\n"
        ),
    },
}


# The languages a user may choose: those of the table.
SUPPORTED_LANGUAGES = tuple(MESSAGES)


class Mail(StrEnum):
    """The mails sent; each is `mail.<value>.subject` and `.body` in MESSAGES."""

    VERIFICATION_CODE = "verification_code"
    ACCOUNT_EXISTS = "account_exists"
    ACCOUNT_READY = "account_ready"
    ONBOARDING_RECEIVED = "onboarding_received"
    ONBOARDING_APPROVED = "onboarding_approved"
    ONBOARDING_REJECTED = "onboarding_rejected"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a mail's name


def user_error(
    language: str, code: ErrorCode, key: str, field: list[str] | None = None, **values: Any
) -> UserError:
    """A userError whose message is `key` in `language`."""
    return UserError(code, text(language, key, **values), field)


def text(language: str, key: str, **values: Any) -> str:
    """The message `key` in `language` (English if missing), with values filled in."""
    template = MESSAGES.get(language, MESSAGES["en"]).get(key) or MESSAGES["en"][key]
    return template.format(**values) if values else template


def mail_text(language: str, mail: Mail, **values: Any) -> tuple[str, str]:
    """(subject, body) of `mail` in `language` (English when unknown)."""
    return text(language, f"mail.{mail}.subject", **values), text(
        language, f"mail.{mail}.body", **values
    )
