#!/usr/bin/env python3
"""Generate the deterministic team-contest demo replay: seven commercial streets of
Québec City, each running one Instagram account for four weeks of April 2017.

MADE-UP DATA. The accounts, ids, usernames, captions and counts are invented; no real
account was read. They mimic what the owner-level Graph API reads of a team contest
would return once a day (``GET /{ig-user-id}?fields=id,username,followers_count,
follows_count,media_count`` and ``GET /{ig-user-id}/media?fields=...``). Follower growth
differs by team; one team stalls after its first week and a half; one team loses
followers one day (a burst of unfollows); one team made a post before the start (it does
not count, and paging stops there).

Layout written under ``--out`` (default ``derby/demo/teams``)::

    contest.toml
    replay/README.md
    replay/polls/<YYYYMMDDTHHMMSSZ>/<account-id>-1.json        GET /{ig-user-id}?fields=...
    replay/polls/<YYYYMMDDTHHMMSSZ>/<account-id>/media-<n>.json page n of GET /{ig-user-id}/media

Media pages come newest first, ``PAGE_MAX`` to a page, with ``paging`` exactly when a
next page exists (its ``next`` URL carries a fake token, as real ones carry the real
token). Standard library only; byte-identical output on every run (seeded
``random.Random(2017)``).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc
FIRST_POLL = datetime(2017, 3, 31, 16, tzinfo=UTC)   # noon EDT, the day before the start
POLLS = 30                                           # one a day, to 2017-04-29 (the day after the end)
START = datetime(2017, 4, 1, 4, tzinfo=UTC)          # 2017-04-01T00:00:00-04:00
END = datetime(2017, 4, 29, 3, 59, 59, tzinfo=UTC)   # 2017-04-28T23:59:59-04:00
PAGE_MAX = 25
TAU_HOURS = 30.0       # likes and comments of a post: final × (1 − exp(−age / TAU))
FAKE_TOKEN = "IGQVJdemoTOKENmadeUp0000"
FIELDS = "id%2Ccaption%2Cmedia_type%2Cpermalink%2Ctimestamp%2Clike_count%2Ccomments_count"
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

# name, username, final followers, growth shape, posts per day, engagement per post
TEAMS = [
    ("3e Avenue", "sdc3eavenue", 940, "steady", 1.0, 38),
    ("Faubourg Saint-Jean", "faubourgsaintjean", 1180, "late", 0.9, 44),
    ("Avenue Cartier", "avenuecartier", 760, "early", 0.8, 52),
    ("Saint-Roch", "quartiersaintroch", 1020, "steady", 1.2, 30),  # two blitz days: over the daily cap
    ("Maguire", "avenuemaguire", 410, "stall", 0.8, 26),           # stalls after day 10
    ("Vieux-Québec", "sdcvieuxquebec", 1350, "early", 0.7, 61),
    ("Limoilou", "limoilouenaffaires", 690, "dip", 1.0, 35),       # loses followers on 18 April
]
BLITZ = {4: (6, 20)}  # team -> days on which it posts five times
ACCOUNT_BASE = 17841400000000100
DIP_DAY, DIP_LOSS = 18, 45
STALL_AFTER = 10

BUSINESSES = ["la boulangerie", "le café du coin", "la librairie", "la fromagerie", "le disquaire", "la friperie",
              "l'épicerie fine", "la brasserie", "le fleuriste", "la quincaillerie", "le salon de thé",
              "la boutique de jouets", "la chocolaterie", "le barbier", "la crèmerie"]
OPENERS = ["On vous présente", "Coup de cœur pour", "Ce matin chez", "Rencontre avec l'équipe de",
           "Les nouveautés de", "Derrière le comptoir de", "Petit détour par", "On jase avec"]
CLOSERS = ["Passez nous voir! ☕", "Bonne fin de semaine 🌷", "À bientôt sur l'artère 👋", "Encore de la neige en avril… 🌨️",
           "Merci de nous suivre! 🙏🏽", "Qui connaît? 👇", "Profitez-en ce samedi!", "Achat local, fierté locale 💙"]


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S+0000")


def followers_at(shape: str, final: int, day: float) -> int:
    """Followers after ``day`` days of contest (0 at the start: a blank account)."""
    x = max(0.0, min(day / 28.0, 1.0))
    if shape == "early":
        f = 1 - math.exp(-3.5 * x)
        f /= 1 - math.exp(-3.5)
    elif shape == "late":
        f = x ** 1.8
    elif shape == "stall":
        f = min(x, STALL_AFTER / 28.0) / (STALL_AFTER / 28.0)
    else:
        f = x
    value = round(final * f)
    if shape == "dip" and day >= DIP_DAY:
        value -= DIP_LOSS
    return max(value, 0)


def make_posts(rng: random.Random, team: int, per_day: float, engagement: int, shape: str,
               used: set[str]) -> list[dict]:
    posts = []
    for day in range(28):
        if shape == "stall" and day > STALL_AFTER:
            continue
        count = int(per_day) + (1 if rng.random() < per_day - int(per_day) else 0)
        if day in BLITZ.get(team, ()):
            count = 5
        for _ in range(count):
            at = START + timedelta(days=day, hours=rng.uniform(11, 23), minutes=rng.randint(0, 59))
            posts.append(_post(rng, team, at, engagement, used))
    if team == 2:  # a post before the start: not counted, and paging stops on reaching it
        posts.append(_post(rng, team, START - timedelta(days=2, hours=5), engagement, used))
    return sorted(posts, key=lambda p: p["at"], reverse=True)


def _post(rng: random.Random, team: int, at: datetime, engagement: int, used: set[str]) -> dict:
    while True:
        code = "C" + "".join(rng.choice(ALPHABET) for _ in range(10))
        if code not in used:
            used.add(code)
            break
    caption = f"{rng.choice(OPENERS)} {rng.choice(BUSINESSES)}! {rng.choice(CLOSERS)}"
    return {"id": str(17900000000000000 + team * 100000 + len(used)), "at": at, "code": code, "caption": caption,
            "type": rng.choices(["IMAGE", "CAROUSEL_ALBUM", "VIDEO"], [6, 3, 1])[0],
            "likes": max(1, round(rng.gauss(engagement, engagement / 3))),
            "comments": max(0, round(rng.gauss(engagement / 12, engagement / 24)))}


def media_body(post: dict, t: datetime) -> dict:
    grown = 1 - math.exp(-(t - post["at"]).total_seconds() / 3600 / TAU_HOURS)
    return {"id": post["id"], "caption": post["caption"], "media_type": post["type"],
            "permalink": f"https://www.instagram.com/p/{post['code']}/", "timestamp": iso(post["at"]),
            "like_count": math.floor(post["likes"] * grown), "comments_count": math.floor(post["comments"] * grown)}


def write_json(path: Path, body: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        json.dump(body, fh, ensure_ascii=False, separators=(",", ":"))
        fh.write("\n")


def write_poll(folder: Path, account: str, username: str, followers: int, posts: list[dict], t: datetime) -> None:
    seen = [p for p in posts if p["at"] <= t]
    write_json(folder / f"{account}-1.json", {"id": account, "username": username, "followers_count": followers,
                                      "follows_count": 40 + len(username), "media_count": len(seen)})
    pages = [seen[i:i + PAGE_MAX] for i in range(0, len(seen), PAGE_MAX)] or [[]]
    for n, chunk in enumerate(pages, start=1):
        body: dict = {"data": [media_body(p, t) for p in chunk]}
        if n < len(pages):
            after = f"QVFI{account[-3:]}{t:%m%d}p{n}"
            body["paging"] = {"cursors": {"before": f"QVFIb{n}", "after": after},
                              "next": f"https://graph.facebook.com/v24.0/{account}/media?access_token={FAKE_TOKEN}"
                                      f"&fields={FIELDS}&limit={PAGE_MAX}&after={after}"}
        write_json(folder / account / f"media-{n}.json", body)


CONTEST = '''# The bundled team demo: seven commercial streets of Québec City, each running one
# Instagram account for four weeks of April 2017. MADE-UP DATA (see replay/README.md),
# generated by scripts/make_team_replay.py.
[contest]
kind = "teams"
title = "Derby des artères — Québec, avril 2017 (démo, données fictives)"
timezone = "America/Toronto"
start = "2017-04-01T00:00:00"
end = "2017-04-28T23:59:59"
language = "fr"

[feed]
kind = "fixture"
path = "replay"

[schedule]
every = "24h"

[rules]
points_per_follower = 2
points_per_post = 5
cap_posts_per_day = 3
points_per_like = 1
points_per_comment = 3

[[trophies]]
name = "Engagement"
metric = "engagement_per_post"

[[trophies]]
name = "Meilleur ratio"
metric = "engagement_per_follower"

[[trophies]]
name = "Abonnés gagnés"
metric = "followers_gained"
'''

README = '''# Team demo replay: MADE-UP DATA

Everything in this folder is invented by `scripts/make_team_replay.py` (seeded, so the
same on every run): the seven accounts, their ids (17841400000000101-107), usernames,
captions, follower counts, likes and comments. No real account was read, and the
streets' names are only there to make the demo read like the Social Derby of April 2017.

Each `polls/<time>/` folder holds what the owner-level reads would have returned at that
poll, one request's page per file: `<account-id>-1.json` (`GET /{ig-user-id}?fields=id,
username,followers_count,follows_count,media_count`) and `<account-id>/media-<n>.json`, the
pages of `GET /{ig-user-id}/media`, newest first. The `next` URLs carry a fake token.
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "derby" / "demo" / "teams")
    out = parser.parse_args().out
    replay = out / "replay"
    if replay.exists():
        shutil.rmtree(replay)
    rng = random.Random(2017)
    used: set[str] = set()
    plans = []
    for index, (name, username, final, shape, per_day, engagement) in enumerate(TEAMS, start=1):
        account = str(ACCOUNT_BASE + index)
        plans.append((name, account, username, final, shape, make_posts(rng, index, per_day, engagement, shape, used)))
    previous: dict[str, int] = {}
    for k in range(POLLS):
        t = FIRST_POLL + timedelta(days=k)
        day = (t - START).total_seconds() / 86400
        for name, account, username, final, shape, posts in plans:
            jitter = rng.randint(0, 4) if 0 < day and not (shape == "stall" and day > STALL_AFTER) else 0
            followers = followers_at(shape, final, day) + jitter
            dip = shape == "dip" and DIP_DAY <= day < DIP_DAY + 1
            if not dip:  # only the dip day loses followers
                followers = max(followers, previous.get(account, 0))
            previous[account] = followers
            write_poll(replay / "polls" / f"{t:%Y%m%dT%H%M%SZ}", account, username, followers, posts, t)
    (out / "contest.toml").write_text(CONTEST, encoding="utf-8")
    (replay / "README.md").write_text(README, encoding="utf-8")
    teams = "\n".join(f'\n[[teams]]\nname = "{n}"\naccount_id = "{a}"' for n, a, *_ in plans)
    (out / "contest.toml").write_text(CONTEST + teams + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
