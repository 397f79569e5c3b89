"""Mentions as the platform writes them: with or without the @, as a whole word."""

from __future__ import annotations

import json

import pytest

from derby.text import caption_mentions, mentions


@pytest.mark.parametrize("caption", [
    "Merci @SNQ_Officiel!", "merci snq_officiel", "Merci SNQ_officiel.", "(snq_officiel)",
    "👉👉 snq_officiel 👉👉", "photo by snq_officiel", "#love\nsnq_officiel", "@snq_officiel, @ami",
    "snq_officiel…", "«snq_officiel»", "snq_officiel:", "#a#b snq_officiel",
])
def test_a_mention_with_or_without_the_at(caption):
    assert mentions(caption, "snq_officiel")


@pytest.mark.parametrize("caption", [
    None, "", "#snq_officiel", "#love#snq_officiel", "snq_officiel2", "@snq_officiel2", "xsnq_officiel",
    "_snq_officiel", "snq_officiel_", "ésnq_officiel", "snq_officielé", "snq_officiel.qc",
    "moi@snq_officiel", "moi@snq_officiel.com", "snq_officiel@gmail.com", "https://instagram.com/snq_officiel",
    "instagram.com/snq_officiel", "www.snq_officiel.com", "http://x.org/?u=snq_officiel", "@@snq_officiel",
    "snq.officiel", ".snq_officiel",
])
def test_not_a_mention(caption):
    assert not mentions(caption, "snq_officiel")


def test_handles_are_lower_case_usernames_only_each_once_in_caption_order():
    caption = "Bravo @Ami.Bis et TOI! #tag 日本 a..b trop_long_" + "x" * 30 + " toi"
    assert caption_mentions(caption) == ["bravo", "ami.bis", "et", "toi"]


@pytest.mark.parametrize("page, media_id, handle", [
    ("hashtag_top_medias_default_p2.json", "17844432616976080", "shortlinesz"),
    ("hashtag_top_medias_default_p1.json", "17868809137612526", "azmi_sizzz"),
    ("hashtag_top_medias_default_p1.json", "18116438662073953", "fotograffiliphammarlund"),
    ("hashtag_recent_medias_default_p2.json", "18092965840191508", "lina_carolina94"),
])
def test_real_love_captions_mention_without_the_at(real_dir, page, media_id, handle):
    items = {m["id"]: m for m in json.loads((real_dir / page).read_text(encoding="utf-8"))["data"]}
    caption = items[media_id]["caption"]
    assert "@" + handle not in caption  # the feed stripped it
    assert mentions(caption, handle)
    assert not mentions(caption, handle[:-1])
