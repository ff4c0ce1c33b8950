"""What text that people type for others to read may hold (names, notes, descriptions).

One rule for every such field, so that a name cannot be spoofed in one place
while refused in another: no character that makes the text display as
something else than it is.
"""

from __future__ import annotations

import unicodedata

# Controls (Cc), format characters (Cf: bidi overrides such as U+202E,
# zero-width characters such as U+200B and U+FEFF), line and paragraph
# separators (Zl U+2028, Zp U+2029).
DISGUISING_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# What a multi-line text (a description) may hold of the controls.
LINE_CONTROLS = frozenset("\t\n\r")


def normalized_text(value: str) -> str:
    """NFC (one spelling for what displays alike), without surrounding blanks."""
    return unicodedata.normalize("NFC", value).strip()


def disguises(text: str, *, multiline: bool = False) -> bool:
    """Whether `text` holds a character that hides or rearranges what it shows;
    tabs and line breaks are allowed in multi-line text."""
    return any(
        unicodedata.category(c) in DISGUISING_CATEGORIES and not (multiline and c in LINE_CONTROLS)
        for c in text
    )
