"""derby.text.display_text removes format characters by Unicode category (Cf), keeping
the named exceptions that visible text needs."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from derby.text import _KEPT_FORMAT, display_text


def _format_characters():
    return [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]


def test_every_format_character_but_the_named_exceptions_is_removed():
    for ch in _format_characters():
        expected = f"a{ch}b" if ord(ch) in _KEPT_FORMAT else "ab"
        assert display_text(f"a{ch}b") == expected, f"U+{ord(ch):04X} {unicodedata.name(ch, '?')}"


@pytest.mark.parametrize("ch", ["\u00ad", "\u180e", "\u2061", "\u206a", "\ufff9", "\U0001d173", "\U000e0001"])
def test_format_characters_outside_the_old_hand_list_are_removed(ch):
    assert display_text(f"x{ch}y") == "xy"


def test_emoji_sequences_keep_their_joiners_tags_and_variation_selectors():
    family = "\U0001F468\u200D\U0001F469\u200D\U0001F467"
    scotland = "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"
    heart = "\u2764\ufe0f"
    assert display_text(f"{family} {scotland} {heart}") == f"{family} {scotland} {heart}"


def test_controls_are_removed_and_separators_become_spaces():
    assert display_text("a\x00b\x7fc\x85d\u2028e\u2029f\tg") == "abcd e f g"
    assert display_text("a\tb\nc", single_line=False) == "a\tb\nc"


def test_address_blanking_is_linear_in_the_captions_length():
    """A 2,000,000-character word with no space: the quadratic scan this replaced would
    take hours here (4 s at 20,000 characters); a linear one takes a blink."""
    from derby.text import _without_addresses

    word = "A" * 2_000_000
    assert _without_addresses(word + "@snq.com x") == "  x"
    assert _without_addresses(word) == word


def test_an_absurd_caption_is_read_for_hashtags_and_mentions_up_to_the_work_limit():
    from derby.text import CAPTION_WORK_LIMIT, caption_words

    caption = "#monconcours @snq_officiel " + "A" * 200_000 + " #late @late_name"
    assert CAPTION_WORK_LIMIT >= 2_200  # Instagram's own cap on a caption fits whole
    assert caption_words(caption) == (" monconcours ", " snq_officiel ")
