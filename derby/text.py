"""Pure text helpers for hashtags and for user-typed text (captions, usernames).

Captions are hostile input. Three different dangers need three different cures:

- display in a terminal: :func:`display_text` removes control characters (ANSI escapes
  included), bidi overrides and isolates and zero-width characters, so a caption can
  neither move the cursor nor reorder or hide what is printed around it. Rich markup is
  not this module's concern: the leaderboard wraps text in ``rich.text.Text`` objects,
  which are never parsed as markup;
- spreadsheets: :func:`spreadsheet_safe` neutralises cells that a spreadsheet would
  run as a formula (OWASP "CSV injection" advice);
- hashtag matching: :func:`normalize_hashtag` and :func:`caption_hashtags` compare tags
  after Unicode NFC and case folding.
"""

from __future__ import annotations

import re
import unicodedata

# Graph API docs: hashtag names are letters, digits and underscores; emoji hashtags are
# not supported by ig_hashtag_search.
_TAG_NAME = re.compile(r"^\w+$")
# A tag in a caption runs until a character that cannot be part of a tag, so glued tags
# (#a#b) are two tags and #lovequotes is not #love.
_CAPTION_TAG = re.compile(r"#(\w+)")

# ESC [ ... final byte, and other ESC sequences (OSC ... BEL/ST).
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_BIDI_AND_INVISIBLE = {
    *range(0x202A, 0x202F),  # LRE RLE PDF LRO RLO
    *range(0x2066, 0x206A),  # LRI RLI FSI PDI
    0x200E, 0x200F, 0x061C,  # LRM RLM ALM
    0x200B, 0x2060, 0xFEFF,  # zero width space, word joiner, BOM
}
# Keep ZWJ (U+200D) and variation selectors: emoji sequences need them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Joiners (ZWJ, ZWNJ), variation selectors, skin-tone modifiers and tag characters: terminals
# disagree on how wide the sequences they build are (see :func:`terminal_text`).
_SEQUENCE_PARTS = {0x200C, 0x200D, *range(0xFE00, 0xFE10), *range(0x1F3FB, 0x1F400), *range(0xE0020, 0xE0080)}
_MAX_COMBINING = 2


def normalize_hashtag(name: str) -> str:
    """Return the comparable form of a hashtag: no leading '#', NFC, case-folded.

    Raises ValueError when what is left is empty or holds characters a hashtag cannot
    hold (spaces, punctuation, emoji).
    """
    tag = unicodedata.normalize("NFC", name.strip()).lstrip("#")
    if not tag or not _TAG_NAME.match(tag):
        raise ValueError(f"{name!r} is not a hashtag (letters, digits and _ only)")
    return tag.casefold()


def caption_hashtags(caption: str | None) -> list[str]:
    """Return the normalized hashtags of a caption, in order, duplicates kept."""
    if not caption:
        return []
    text = unicodedata.normalize("NFC", caption)
    return [m.group(1).casefold() for m in _CAPTION_TAG.finditer(text)]


def display_text(value: str | None, *, single_line: bool = True) -> str:
    """Return ``value`` made safe to print in a terminal.

    Removes ANSI/OSC escape sequences, C0/C1 control characters (newlines and tabs
    become spaces when ``single_line``), bidi embedding/override/isolate marks and
    zero-width characters. Emoji ZWJ sequences are kept. ``None`` becomes "".
    """
    if not value:
        return ""
    text = _ANSI.sub("", value)
    out = []
    for ch in text:
        code = ord(ch)
        if code in _BIDI_AND_INVISIBLE:
            continue
        if ch in "\n\t\r":
            out.append(" " if single_line else ch)
            continue
        if code < 0x20 or 0x7F <= code < 0xA0:
            continue
        if unicodedata.category(ch) in ("Zl", "Zp"):
            out.append(" ")
            continue
        out.append(ch)
    result = "".join(out)
    return " ".join(result.split()) if single_line else result


def terminal_text(value: str | None) -> str:
    """Return ``value`` made safe for a table in a terminal: :func:`display_text` on one
    line, then emoji sequences split into their single emoji and runs of combining marks
    cut to two.

    Terminals disagree on the width of ZWJ sequences, skin-tone modifiers and variation
    selectors (one shows a family as one glyph of 2 cells, another as three of 2), so a
    table's right border moves; a lone emoji is 2 cells everywhere. A pile of combining
    marks ("Zalgo" text) would spill over the rows above and below.
    """
    out: list[str] = []
    marks = 0
    for ch in display_text(value):
        if ord(ch) in _SEQUENCE_PARTS:
            continue
        if unicodedata.combining(ch):
            marks += 1
            if marks > _MAX_COMBINING:
                continue
        else:
            marks = 0
        out.append(ch)
    return "".join(out)


_OWN_MENTION = re.compile(r"@[a-z0-9._]{1,30} [a-z]")


def spreadsheet_safe(value: str | None, *, own_text: bool = False) -> str:
    """Return text that a spreadsheet shows as text, never runs as a formula.

    A cell gets a leading apostrophe (OWASP CSV injection advice) when it starts with
    = + - @ tab, carriage return or line feed, also once leading spaces and line breaks
    are skipped (`` =1+1``, ``\n=1+1``) and full-width or small forms folded
    (``＝1+1``). With ``own_text`` (derby's own sentences, such as a reason) a start of
    ``@username `` and a word is left as it is: a checked username cannot make a
    formula. ``None`` becomes "".
    """
    if value is None:
        return ""
    if value.startswith(("\t", "\r", "\n")):
        return "'" + value
    probe = unicodedata.normalize("NFKC", value[:64]).lstrip()
    if not probe.startswith(_FORMULA_START):
        return value
    if own_text and _OWN_MENTION.match(probe):
        return value
    return "'" + value


def shorten(value: str, width: int) -> str:
    """Cut ``value`` to at most ``width`` characters, ending with an ellipsis if cut."""
    if width <= 0:
        return ""
    return value if len(value) <= width else value[: max(width - 1, 0)] + "…"


_SHORTCODE = re.compile(r"instagram\.com/(?:[\w.]+/)?(?:p|reel|reels|tv)/([A-Za-z0-9_-]+)")


def shortcode(permalink: str | None) -> str | None:
    """Return the shortcode of an Instagram permalink (``…/p/BSpF_AEkxu5/`` gives
    ``BSpF_AEkxu5``), or None when it is not one."""
    match = _SHORTCODE.search(permalink or "")
    return match.group(1) if match else None
