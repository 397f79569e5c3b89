"""Durations and plurals: one syntax, one helper, both languages."""

from __future__ import annotations

import pytest

from derby.units import format_duration, parse_duration, plural, word


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("10m", 600), ("6h", 21600), ("2d", 172800), ("1h30m", 5400),
                                           ("1d 6h", 108000), ("1.5h", 5400), ("1800", 1800), ("0.5", 0.5), (45, 45),
                                           (" 30M ", 1800)])
def test_one_duration_syntax(text, seconds):
    assert parse_duration(text, "--every") == seconds


@pytest.mark.parametrize("text", ["half an hour", "30m1h", "1h1h", "10x", "", "-5", "0", "0s", True, None, "inf"])
def test_what_is_not_a_duration_is_refused_naming_the_key(text):
    with pytest.raises(ValueError, match="--every"):
        parse_duration(text, "--every")


@pytest.mark.parametrize("seconds", [90, 600, 5400, 86400, 108000, 172800 + 61])
def test_format_duration_reads_back(seconds):
    assert parse_duration(format_duration(seconds), "k") == seconds
    assert format_duration(0) == "0s"


def test_plurals_follow_each_language():
    assert [plural(n, "request") for n in (0, 1, 2)] == ["0 requests", "1 request", "2 requests"]
    assert [plural(n, "disqualifiée", lang="fr") for n in (0, 1, 1.5, 2)] == \
           ["0 disqualifiée", "1 disqualifiée", "1.5 disqualifiée", "2 disqualifiées"]
    assert plural(1, "entry", "entries") == "1 entry" and word(3, "entry", "entries") == "entries"
