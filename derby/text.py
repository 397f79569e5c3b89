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
  after Unicode NFC and case folding (in a caption's first ``CAPTION_WORK_LIMIT``
  characters: Instagram caps captions at 2,200);
- mention matching: :func:`caption_mentions` and :func:`mentions` find an account in a
  caption as the platform writes it (with or without the ``@``).
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

# Instagram usernames: ASCII letters, digits, periods and underscores, at most 30
# characters, never ending with a period nor holding two periods in a row.
USERNAME = re.compile(r"^(?!.*\.\.)(?!.*\.$)[a-z0-9._]{1,30}$")
# Web addresses and e-mail addresses are blanked before handles are looked for: a name
# inside them is not a mention. Each is looked for inside one word (a run without
# spaces), so the work stays linear in the caption's length.
_WORD = re.compile(r"\S+")
_WEB_ADDRESS = re.compile(r"://|www\.|\.[A-Za-z]{2,}/", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# Instagram caps a caption at 2,200 characters (graph-api.md, contest.md): hashtags and
# mentions are looked for in the first CAPTION_WORK_LIMIT characters only, so an absurd
# caption from a broken or hostile answer cannot make a poll slow. The caption itself
# is stored whole.
CAPTION_WORK_LIMIT = 10_000
# A handle: a run of word characters and periods not glued to a word, a period, a
# hashtag's # or another @ before it, nor to an @ after it (an e-mail's local part).
_HANDLE = re.compile(r"(?<![\w.@#/])@?([\w.]+)(?![\w.@])")

# ESC [ ... final byte, and other ESC sequences (OSC ... BEL/ST).
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Format characters (category Cf: bidi marks, embeddings, overrides and isolates, zero
# width space, word joiner, BOM, soft hyphen, invisible operators...) are removed by
# category, except these, which visible text needs:
_KEPT_FORMAT = {
    0x200C, 0x200D,  # ZWNJ, ZWJ: emoji ZWJ sequences, Persian and Indic spelling
    *range(0xE0020, 0xE0080),  # tag characters: emoji tag sequences (the flags of Scotland, Wales...)
    *range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2, 0x110BD, 0x110CD,  # prepended
    # concatenation marks: visible signs spanning the digits after them (Arabic number sign...)
}
# Outside Cf: control characters (Cc) are removed, line and paragraph separators (Zl,
# Zp) become spaces. Variation selectors (Mn) stay: emoji presentation needs them.
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
    text = unicodedata.normalize("NFC", caption[:CAPTION_WORK_LIMIT])
    return [m.group(1).casefold() for m in _CAPTION_TAG.finditer(text)]


def caption_mentions(caption: str | None) -> list[str]:
    """Return every account a caption may mention, lower case, each once, in caption
    order: each whole word that is an Instagram username, with or without a leading
    ``@``.

    Meta strips the ``@`` of mentions from captions read by anyone but the media's
    creator (Graph API IG Media reference; seen in the recorded ``#love`` pages:
    "Follow shortlinesz"), so a bare handle counts. Not a mention: a word inside a
    longer name (``snq_officiel2``, ``ésnq``), a ``#hashtag``, an e-mail address
    (``moi@snq.com``), a web address (``instagram.com/snq``). A period that ends the
    sentence is not part of the handle. Text is compared after NFC. Only the first
    ``CAPTION_WORK_LIMIT`` characters are read (as :func:`caption_hashtags`).
    """
    if not caption:
        return []
    text = _without_addresses(unicodedata.normalize("NFC", caption[:CAPTION_WORK_LIMIT]))
    found: dict[str, None] = {}
    for match in _HANDLE.finditer(text):
        name = match.group(1).rstrip(".").lower()
        if name.isascii() and USERNAME.match(name):
            found[name] = None
    return list(found)


def _without_addresses(text: str) -> str:
    """``text`` with each web address (the whole word holding ``://``, ``www.`` or a
    ``.domain/``) and each e-mail address replaced by a space; linear in its length."""
    def blank(word: re.Match) -> str:
        value = word.group()
        if _WEB_ADDRESS.search(value):
            return " "
        return _EMAIL.sub(" ", value) if "@" in value else value

    return _WORD.sub(blank, text)


def mentions(caption: str | None, username: str) -> bool:
    """True when ``caption`` mentions the account ``username`` (normalized: lower case,
    no ``@``), as :func:`caption_mentions` finds mentions."""
    return username in caption_mentions(caption)


def caption_words(caption: str | None) -> tuple[str | None, str | None]:
    """Return what ranking needs of a caption, computed once when it is stored:
    ``(hashtags, mentions)``, each the distinct normalized hashtags (as
    :func:`caption_hashtags`) or mentioned usernames (as :func:`caption_mentions`) in
    caption order, joined by single spaces with a space before and after
    (``" love snq17 "``; ``" "`` when there is none), so that ``instr(text, ' tag ')``
    in SQL finds a whole tag. ``(None, None)`` for no caption. Neither a hashtag nor a
    username can hold a space."""
    if caption is None:
        return None, None
    tags = dict.fromkeys(caption_hashtags(caption))
    mentions = dict.fromkeys(caption_mentions(caption))
    return f" {' '.join(tags)} ".replace("  ", " "), f" {' '.join(mentions)} ".replace("  ", " ")


def display_text(value: str | None, *, single_line: bool = True) -> str:
    """Return ``value`` made safe to print in a terminal.

    Removes ANSI/OSC escape sequences, control characters (category Cc; newlines and
    tabs become spaces when ``single_line``) and format characters (category Cf: bidi
    embedding/override/isolate marks, zero-width characters...) except those named in
    ``_KEPT_FORMAT`` (ZWJ and ZWNJ, emoji tag characters, prepended concatenation
    marks); line and paragraph separators become spaces. Emoji ZWJ sequences are kept.
    ``None`` becomes "".
    """
    if not value:
        return ""
    text = _ANSI.sub("", value)
    out = []
    for ch in text:
        if ch in "\n\t\r":
            out.append(" " if single_line else ch)
            continue
        category = unicodedata.category(ch)
        if category == "Cc" or (category == "Cf" and ord(ch) not in _KEPT_FORMAT):
            continue
        if category in ("Zl", "Zp"):
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
