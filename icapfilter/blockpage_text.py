"""The one sentence of the block page that depends on why a page was blocked,
in each shipped language.

The verdict's ``reason`` is the filter's own wording, in English, for logs and
admins; a pupil reading a French page gets this sentence in French. A
language without its sentences (a page of ``template_dir``) gets English.
"""

from __future__ import annotations

from .verdict import Verdict

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "listed": "This address is in a category that is blocked on this network.",
        "content": "This page contains words or phrases that are not allowed on this network.",
        "filetype": "This type of file may not be downloaded on this network.",
        "ratelimit": "Too many requests were sent in a short time. Wait a moment, then try "
                     "again.",
        "unavailable": "The web filter could not check this page, so it was blocked. Try "
                       "again later.",
        "other": "The web filter on this network blocked this page.",
    },
    "fr": {
        "listed": "Cette adresse appartient à une catégorie bloquée sur ce réseau.",
        "content": "Cette page contient des mots ou des expressions interdits sur ce réseau.",
        "filetype": "Ce type de fichier ne peut pas être téléchargé sur ce réseau.",
        "ratelimit": "Trop de requêtes ont été envoyées en peu de temps. Patientez un "
                     "instant, puis réessayez.",
        "unavailable": "Le filtre web n’a pas pu vérifier cette page ; elle a donc été "
                       "bloquée. Réessayez plus tard.",
        "other": "Le filtre web de ce réseau a bloqué cette page.",
    },
    "de": {
        "listed": "Diese Adresse gehört zu einer Kategorie, die in diesem Netzwerk gesperrt "
                  "ist.",
        "content": "Diese Seite enthält Wörter oder Ausdrücke, die in diesem Netzwerk nicht "
                   "erlaubt sind.",
        "filetype": "Dateien dieses Typs dürfen in diesem Netzwerk nicht heruntergeladen "
                    "werden.",
        "ratelimit": "In kurzer Zeit wurden zu viele Anfragen gesendet. Bitte warten Sie einen "
                     "Moment und versuchen Sie es dann erneut.",
        "unavailable": "Der Webfilter konnte diese Seite nicht prüfen und hat sie deshalb "
                       "gesperrt. Versuchen Sie es später erneut.",
        "other": "Der Webfilter dieses Netzwerks hat diese Seite gesperrt.",
    },
    "es": {
        "listed": "Esta dirección pertenece a una categoría bloqueada en esta red.",
        "content": "Esta página contiene palabras o expresiones que no están permitidas en "
                   "esta red.",
        "filetype": "Este tipo de archivo no se puede descargar en esta red.",
        "ratelimit": "Se enviaron demasiadas solicitudes en poco tiempo. Espere un momento y "
                     "vuelva a intentarlo.",
        "unavailable": "El filtro web no pudo comprobar esta página, por lo que la ha "
                       "bloqueado. Vuelva a intentarlo más tarde.",
        "other": "El filtro web de esta red ha bloqueado esta página.",
    },
}

_CONTENT_REASONS = ("banned phrase", "banned combination", "weighted phrase")


def kind_of(verdict: Verdict) -> str:
    """Why a page was blocked, as the block page explains it."""
    category = verdict.category or ""
    if verdict.status == 429 or category == "rate-limit":
        return "ratelimit"
    if category == "filetype":
        return "filetype"
    if category in ("filter-unavailable", "scan-error", "unparseable-url"):
        return "unavailable"
    if verdict.reason.startswith(_CONTENT_REASONS) or category == "phrases":
        return "content"
    if verdict.entry is not None or verdict.reason.startswith("listed in"):
        return "listed"
    return "other"


def explanation(verdict: Verdict, language: str) -> str:
    texts = _TEXT.get(language) or _TEXT.get(language.split("-")[0]) or _TEXT["en"]
    return texts[kind_of(verdict)]
