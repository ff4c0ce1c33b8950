"""Content negotiation for GraphQL over HTTP (the GraphQL over HTTP spec, §Accept).

The spec's own media type `application/graphql-response+json` lets a server
use HTTP status codes for request errors; `application/json` is the legacy
type, under which every well-formed GraphQL response is a 200.
"""

from __future__ import annotations

from dataclasses import dataclass

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    quality: float
    charset: str | None
    order: int

    def matches(self, media_type: str) -> bool:
        wanted_type, _, wanted_subtype = media_type.partition("/")
        return (self.type in ("*", wanted_type)) and (self.subtype in ("*", wanted_subtype))

    @property
    def specificity(self) -> int:
        return (self.type != "*") + (self.subtype != "*")


def parse_accept(header: str) -> list[MediaRange]:
    ranges = []
    for order, part in enumerate(header.split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        media_type, slash, media_subtype = media.lower().partition("/")
        if not slash or not media_type or not media_subtype:
            continue
        quality = 1.0
        charset = None
        for param in params:
            name, _, value = param.partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"')
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
            elif name == "charset":
                charset = value.lower()
        ranges.append(MediaRange(media_type, media_subtype, quality, charset, order))
    return ranges


def choose_media_type(accept: str | None, offered: tuple[str, ...]) -> str | None:
    """The offered type the client prefers, or None when it accepts none of them.

    A missing Accept header means `application/json` (the spec's rule for
    legacy clients). A range naming a charset other than UTF-8 does not match:
    we only speak UTF-8.
    """
    if not accept or not accept.strip():
        return APPLICATION_JSON if APPLICATION_JSON in offered else offered[0]
    best: tuple[float, int, int, int] | None = None
    chosen = None
    for offer_index, media_type in enumerate(offered):
        candidates = [
            r
            for r in parse_accept(accept)
            if r.matches(media_type) and r.charset in (None, "utf-8", "utf8")
        ]
        if not candidates:
            continue
        # The most specific range that matches decides this type's quality.
        most_specific = max(candidates, key=lambda r: (r.specificity, -r.order))
        if most_specific.quality <= 0:
            continue
        # Ties: a client naming the types exactly gets the first offered (the
        # spec's own type); a wildcard gets the last (legacy application/json,
        # which every client reads).
        tie = -offer_index if most_specific.specificity == 2 else offer_index
        rank = (most_specific.quality, most_specific.specificity, tie, 0)
        if best is None or rank > best:
            best, chosen = rank, media_type
    return chosen


def wants_html(accept: str | None) -> bool:
    """A browser navigating to the endpoint (it lists text/html explicitly)."""
    ranges = parse_accept(accept or "")
    return any(r.type == "text" and r.subtype == "html" and r.quality > 0 for r in ranges)
