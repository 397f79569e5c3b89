#!/usr/bin/env python3
"""Generate the deterministic demo replay of the Social Derby (SNQ17, 1-9 April 2017).

The replay mimics what a poller of the Instagram Graph API hashtag edges would have
recorded every 12 hours. Layout written under ``--out`` (default ``derby/demo/replay``):

    hashtags/<name>.json                             {"data": [{"id": "<hashtag id>"}]}
    polls/<YYYYMMDDTHHMMSSZ>/<hashtag-id>/<edge>-<n>.json
    polls/<YYYYMMDDTHHMMSSZ>/account-1.json                the organizer account's username
    polls/<YYYYMMDDTHHMMSSZ>/mentioned_media/<id>-1.json   a mention refresh of post <id> then

Captions mention the organizer account (``semainenumeriqueqc``) without the ``@``, as
Meta's hashtag feed writes other people's captions. Every post that mentions it can be
refreshed by id at every poll after it was published (``mentioned_media``, with its
author's username), past the 24 hours of ``recent_media``; the deleted post answers
error 100, subcode 33 from its deletion on.

``edge`` is ``recent_media`` or ``top_media``; page ``n`` carries ``paging`` (cursors.after
and next) exactly when page ``n+1`` exists. Standard library only; byte-identical output
on every run (seeded ``random.Random(2017)``).
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import random
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

UTC = timezone.utc
HASHTAGS = {"socialderby": "17843815927740216", "snq17": "17841563201587473"}
USER_ID = "17841400000000000"
ORGANIZER = "semainenumeriqueqc"
MENTION = f" Merci {ORGANIZER}!"  # the hashtag feed strips the @ of other people's mentions
FIELDS = "id%2Ccaption%2Cmedia_type%2Cpermalink%2Ctimestamp%2Clike_count%2Ccomments_count"
FIRST_POLL = datetime(2017, 3, 31, 16, tzinfo=UTC)
LAST_POLL = datetime(2017, 4, 11, 4, tzinfo=UTC)
POLL_EVERY = timedelta(hours=12)
WINDOW_START = datetime(2017, 4, 1, 4, tzinfo=UTC)           # 2017-04-01T00:00:00-04:00
WINDOW_END = datetime(2017, 4, 10, 3, 59, 59, tzinfo=UTC)    # 2017-04-09T23:59:59-04:00
EARLIEST, LATEST = datetime(2017, 3, 31, 12, tzinfo=UTC), datetime(2017, 4, 10, 20, tzinfo=UTC)
N_INSIDE, N_BEFORE, N_AFTER = 168, 6, 6
TAU_HOURS = 10.0          # engagement time constant: count = final * (1 - exp(-age / TAU))
PAGE_MAX, TOP_N = 25, 12
SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

SENTENCES = [
    "Quelle belle soirée au Vieux-Québec pour la Semaine numérique!",
    "Vue imprenable sur le Château Frontenac ce matin ☕",
    "Première fois en réalité virtuelle, j'en reviens pas 🤯",
    "Conférence super inspirante sur l'IA et les startups d'ici.",
    "« Le numérique, c'est d'abord une affaire de monde » — bien dit!",
    "Poutine d'après-conférence, c'est obligatoire 🍟",
    "Délégation française en visite, ça jase fort sur la terrasse 🇫🇷🇨🇦",
    "Mon cœur de geek est comblé : un vrai chef-d'œuvre d'installation interactive.",
    "Pitch de startups ce midi, bravo à toutes les équipes 👏🏽",
    "On code, on jase, on mange des beignes. La vie est belle à Québec.",
    "Il neige encore en avril… c'est ça, le Québec 🌨️",
    "Atelier VR à Saint-Roch, la file était longue mais ça valait la peine.",
    "Great talk about open data in Québec City today!",
    "Loving the VR demos at SNQ17, the future is here 🥽",
    "Startup pitch night in the old town, what a vibe 🚀",
    "Poutine, hackathon and snow: perfect Québec week 😂",
    "Château Frontenac at golden hour. No filter needed.",
    "Coding all night with the team 👩🏽‍💻👨🏻‍💻",
    "Toute la famille au salon du numérique 👨‍👩‍👧 Les enfants ont adoré les robots 🤖",
    "Soirée réseautage : cartes d'affaires échangées, café renversé, zéro regret.",
    "Façade illuminée sur la Grande Allée, magnifique ✨",
    "Best conference coffee in town, merci les bénévoles ❤️",
]
EMOJI = ["🎉", "❤️", "🔥", "📸", "👩🏽‍💻", "👨‍👩‍👧", "🏳️‍🌈", "👍🏿", "🙌🏼", "⚜️", "🥶", "💙", "🇨🇦", ""]
EXTRA_TAGS = ["#quebec", "#VieuxQuébec", "#chateaufrontenac", "#startup", "#VR", "#poutine",
              "#numérique", "#qcnum", "#mtl", "#igersquebec", "#hackathon", "#québecoise"]
TAG_STYLES = {"socialderby": ["#socialderby", "#SocialDerby", "#socialderby", "#SOCIALDERBY"],
              "snq17": ["#SNQ17", "#snq17", "#Snq17"]}
HOSTILE_CAPTIONS = [
    "[bold red]GAGNANT[/] — votez pour moi svp! [link=http://x]ici[/link] #socialderby #SNQ17",
    "\u001b[31mALERTE\u001b[0m concours truqué? \u202eeuqibéuQ\u202c #socialderby",
    '=HYPERLINK("http://x","clic") Ma photo du Château, cliquez! #SocialDerby #snq17',
]


def iso(dt: datetime) -> str:
    """Graph API timestamp string, e.g. ``2017-04-03T14:05:09+0000`` (UTC, no colon)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def poll_times() -> list[datetime]:
    """All poll instants (aware UTC datetimes), every 12 h, first and last inclusive."""
    times, t = [], FIRST_POLL
    while t <= LAST_POLL:
        times.append(t)
        t += POLL_EVERY
    return times


def random_instant(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    """Uniform whole-second instant in [lo, hi)."""
    return lo + timedelta(seconds=rng.randrange(int((hi - lo).total_seconds())))


def daytime_instant(rng: random.Random) -> datetime:
    """Instant inside the window, biased toward local (UTC-4) daytime 8 h-23 h."""
    day = rng.randrange(9)
    local_hour = rng.choice([8, 9, 10, 11, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 23])
    return WINDOW_START + timedelta(days=day, hours=local_hour, seconds=rng.randrange(3600))


def make_timestamps(rng: random.Random) -> list[datetime]:
    """Sorted post instants: N_BEFORE before the window, N_INSIDE inside, N_AFTER after.

    Includes the exact boundaries: window start, window end (last second) and the first
    second after the window.
    """
    inside = [WINDOW_START, WINDOW_END] + [daytime_instant(rng) for _ in range(N_INSIDE - 2)]
    before = [random_instant(rng, EARLIEST, WINDOW_START) for _ in range(N_BEFORE)]
    after = [WINDOW_END + timedelta(seconds=1)]
    after += [random_instant(rng, WINDOW_END + timedelta(seconds=2), LATEST) for _ in range(N_AFTER - 1)]
    return sorted(before + inside + after)


def make_ids(rng: random.Random, count: int, base: int) -> list[str]:
    """``count`` increasing, unique 17-digit numeric strings starting at ``base``."""
    ids, value = [], base
    for _ in range(count):
        value += rng.randint(10**9, 3 * 10**10)
        ids.append(str(value))
    return ids


def shortcode(rng: random.Random, used: set[str]) -> str:
    """Unique 11-char shortcode (2017-style, starting with 'BS')."""
    while True:
        code = "BS" + "".join(rng.choice(SHORTCODE_ALPHABET) for _ in range(9))
        if code not in used:
            used.add(code)
            return code


def render_caption(rng: random.Random, tags: list[str], show_tags: bool, decoy: bool) -> str:
    """Caption text: 1-2 sentences, emoji, optional @mention, contest tags (if shown)."""
    parts = rng.sample(SENTENCES, rng.choice([1, 1, 2]))
    text = " ".join(parts) + " " + "".join(rng.sample(EMOJI, 2))
    if rng.random() < 0.25:
        text += MENTION
    hashtags = [rng.choice(TAG_STYLES[t]) for t in tags] if show_tags else []
    hashtags += rng.sample(EXTRA_TAGS, rng.randint(0, 3))
    if decoy:
        hashtags.insert(rng.randrange(len(hashtags) + 1), "#socialderbyfan")
    if hashtags and rng.random() < 0.2:
        hashtags = ["".join(hashtags[:2])] + hashtags[2:]      # glued, e.g. #snq17#quebec
    separator = rng.choice([" ", " ", "\n", "\n.\n.\n.\n"])
    return (text.strip() + separator + " ".join(hashtags)).strip()


def assign_roles(rng: random.Random, stamps: list[datetime]) -> dict[str, list[int]]:
    """Disjoint post indices for the special posts, keyed by role name."""
    inside = [i for i, t in enumerate(stamps) if WINDOW_START < t < WINDOW_END]
    mid = [i for i in inside if datetime(2017, 4, 3, 12, tzinfo=UTC) <= stamps[i] < datetime(2017, 4, 5, tzinfo=UTC)]
    early = [i for i in inside if stamps[i] < datetime(2017, 4, 3, tzinfo=UTC)]
    roles = {"deleted": [rng.choice(mid)]}
    roles["like_drop"] = [rng.choice([i for i in early if i not in roles["deleted"]])]
    taken = set(roles["deleted"] + roles["like_drop"])
    pool = [i for i in inside if i not in taken]
    rng.shuffle(pool)
    roles["hidden_likes"] = sorted(pool[:12])
    roles["hostile"] = sorted(pool[12:15])
    roles["no_caption"] = sorted(pool[15:18])
    roles["no_contest_tag"] = sorted(pool[18:28])
    roles["decoy"] = sorted(pool[28:34])
    roles["popular"] = sorted(pool[34:42])
    return roles


def make_post(rng: random.Random, idx: int, stamp: datetime, post_id: str,
              roles: dict[str, list[int]], codes: set[str], child_ids: list[str]) -> dict:
    """One post (internal dict): public fields plus final counts, tags and special flags.

    Keys: id, caption (None = key absent), media_type, permalink, ts (datetime),
    final_likes, final_comments, hidden, tags (list of hashtag names), children (list),
    deleted_at / drop_at (datetime or None, set later).
    """
    role = {name for name, idxs in roles.items() if idx in idxs}
    tags = rng.choice([["socialderby"], ["snq17"], ["socialderby", "snq17"], ["socialderby", "snq17"]])
    decoy = "decoy" in role or ("no_contest_tag" in role and rng.random() < 0.3)
    if "decoy" in role and "socialderby" in tags:
        tags = ["snq17"]            # decoy posts must not be reachable by the real tag in text
    if "no_caption" in role:
        caption = None
    elif "hostile" in role:
        caption = HOSTILE_CAPTIONS[roles["hostile"].index(idx)]
        tags = ["socialderby", "snq17"] if "snq17" in caption.lower() else ["socialderby"]
    else:
        caption = render_caption(rng, tags, "no_contest_tag" not in role, decoy)
    kind = rng.random()
    media_type = "IMAGE" if kind < 0.74 else ("VIDEO" if kind < 0.87 else "CAROUSEL_ALBUM")
    children = [{"id": child_ids.pop(), "media_type": "IMAGE"} for _ in range(rng.randint(2, 5))] \
        if media_type == "CAROUSEL_ALBUM" else []
    likes = rng.randint(150, 450) if rng.random() < 0.05 else int(5 + 55 * rng.random() ** 1.7)
    comments = int(40 * rng.random() ** 2.5)
    if "popular" in role or "like_drop" in role:
        likes, comments = rng.randint(180, 420), rng.randint(12, 40)
    if "deleted" in role:
        likes, comments = 612, 38
    if caption is not None and ("deleted" in role or "popular" in role or "like_drop" in role) \
            and ORGANIZER not in caption:
        first_tag = caption.find("#")
        caption = caption + MENTION if first_tag < 0 else caption[:first_tag] + MENTION.strip() + " " + caption[first_tag:]
    return {"id": post_id, "caption": caption, "media_type": media_type,
            "permalink": f"https://www.instagram.com/p/{shortcode(rng, codes)}/", "ts": stamp,
            "final_likes": likes, "final_comments": comments, "hidden": "hidden_likes" in role,
            "tags": tags, "children": children, "deleted_at": None, "drop_at": None}


def set_time_events(posts: list[dict], roles: dict[str, list[int]], polls: list[datetime]) -> None:
    """Deletion: from the first poll >= 40 h after posting. Like drop (-1): from the first
    poll whose previous poll is >= 72 h after posting (count saturated, so it shows)."""
    gone = posts[roles["deleted"][0]]
    gone["deleted_at"] = next(t for t in polls if t >= gone["ts"] + timedelta(hours=40))
    drop = posts[roles["like_drop"][0]]
    drop["drop_at"] = next(t for p, t in zip(polls, polls[1:]) if p >= drop["ts"] + timedelta(hours=72))


def counts_at(post: dict, t: datetime) -> tuple[int | None, int]:
    """(likes or None if hidden, comments) seen at instant t: floor(final*(1-exp(-age/TAU)))."""
    age_h = max((t - post["ts"]).total_seconds() / 3600.0, 0.0)
    share = 1.0 - math.exp(-age_h / TAU_HOURS)
    likes = math.floor(post["final_likes"] * share)
    if post["drop_at"] is not None and t >= post["drop_at"]:
        likes -= 1
    comments = math.floor(post["final_comments"] * share)
    return (None if post["hidden"] else likes), comments


def public_media(post: dict, t: datetime) -> dict:
    """Media object as in a Graph page, fields in the fixed order; no like_count if hidden."""
    likes, comments = counts_at(post, t)
    media = {"id": post["id"]}
    if post["caption"] is not None:
        media["caption"] = post["caption"]
    media.update(media_type=post["media_type"], permalink=post["permalink"], timestamp=iso(post["ts"]))
    if likes is not None:
        media["like_count"] = likes
    media["comments_count"] = comments
    if post["children"]:
        media["children"] = {"data": list(post["children"])}
    return media


def visible(posts: list[dict], tag: str, t: datetime) -> list[dict]:
    """Posts carrying ``tag``, posted at or before t, not deleted at t (time order)."""
    return [p for p in posts if tag in p["tags"] and p["ts"] <= t
            and (p["deleted_at"] is None or t < p["deleted_at"])]


def recent_edge(rng: random.Random, posts: list[dict], t: datetime) -> list[dict]:
    """Posts of the last 24 h, newest first, lightly shuffled (a few adjacent swaps)."""
    recent = [p for p in posts if p["ts"] > t - timedelta(hours=24)][::-1]
    for _ in range(len(recent) // 3):
        i = rng.randrange(len(recent) - 1)
        recent[i], recent[i + 1] = recent[i + 1], recent[i]
    return recent


def top_edge(posts: list[dict], t: datetime) -> list[dict]:
    """TOP_N posts by likes+comments at t (hidden likes: comments only); ties by id."""
    def score(p: dict) -> int:
        likes, comments = counts_at(p, t)
        return (likes or 0) + comments
    return sorted(posts, key=lambda p: (-score(p), p["id"]))[:TOP_N]


def split_pages(rng: random.Random, items: list, edge: str) -> list[list]:
    """Chunks for the pages: recent_media random sizes 8..25; top_media 1 or 2 pages."""
    if edge == "top_media":
        cut = rng.randint(5, 9) if len(items) > 9 and rng.random() < 0.5 else PAGE_MAX
        sizes = [cut, PAGE_MAX]
    else:
        sizes = [rng.randint(8, PAGE_MAX) for _ in range(len(items) + 1)]
    chunks, start = [], 0
    for size in sizes:
        if start >= len(items):
            break
        chunks.append(items[start:start + size])
        start += size
    return chunks or [[]]


def cursor(rng: random.Random) -> str:
    """Opaque cursor string, shaped like the real ones (base64 of a hex string)."""
    return base64.b64encode(f"{rng.getrandbits(128):032x}".encode()).decode().rstrip("=")


def page_bodies(rng: random.Random, chunks: list[list[dict]], tag_id: str, edge: str,
                t: datetime) -> list[dict]:
    """Page bodies: {"data": [...], "paging": {...}} with paging only when a next page exists."""
    bodies = []
    for k, chunk in enumerate(chunks):
        body: dict = {"data": [public_media(p, t) for p in chunk]}
        if k + 1 < len(chunks):
            after = cursor(rng)
            body["paging"] = {"cursors": {"after": after},
                              "next": f"https://graph.facebook.com/v21.0/{tag_id}/{edge}?user_id={USER_ID}"
                                      f"&fields={FIELDS}&limit={PAGE_MAX}&after={after}"}
        bodies.append(body)
    return bodies


def write_json(path: Path, body: dict) -> None:
    """UTF-8 JSON, indent=1, non-ASCII kept, trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        json.dump(body, fh, ensure_ascii=False, indent=1)
        fh.write("\n")


def mentions_organizer(post: dict) -> bool:
    return post["caption"] is not None and ORGANIZER in post["caption"]


def mention_body(post: dict, t: datetime, idx: int) -> dict:
    """What ``GET /{user-id}?fields=mentioned_media.media_id(<id>){...}`` answers at t:
    the media with its author, or error 100/33 once it is deleted."""
    if post["deleted_at"] is not None and t >= post["deleted_at"]:
        return {"error": {"message": "Unsupported get request. Object with ID '%s' does not exist, cannot be loaded "
                          "due to missing permissions, or does not support this operation" % post["id"],
                          "type": "GraphMethodException", "code": 100, "error_subcode": 33,
                          "fbtrace_id": f"Ademo{idx:04d}"}}
    media = public_media(post, t)
    media["username"] = f"participant_{idx:03d}"
    return {"mentioned_media": media, "id": USER_ID}


def build_posts(rng: random.Random, polls: list[datetime]) -> tuple[list[dict], dict[str, list[int]]]:
    """All posts in time order, and the role -> indices map of special posts."""
    stamps = make_timestamps(rng)
    post_ids = make_ids(rng, len(stamps), 17850000000000000)
    child_ids = make_ids(rng, 5 * len(stamps), 17860000000000000)[::-1]
    roles = assign_roles(rng, stamps)
    codes: set[str] = set()
    posts = [make_post(rng, i, t, post_ids[i], roles, codes, child_ids) for i, t in enumerate(stamps)]
    set_time_events(posts, roles, polls)
    return posts, roles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(__file__).resolve().parent.parent / "derby" / "demo" / "replay"
    parser.add_argument("--out", type=Path, default=default_out, help="output folder")
    parser.add_argument("--roles", action="store_true", help="also print the special post ids")
    args = parser.parse_args()
    out = args.out
    for sub in ("polls", "hashtags"):
        shutil.rmtree(out / sub, ignore_errors=True)
    rng = random.Random(2017)
    polls = poll_times()
    posts, roles = build_posts(rng, polls)
    for name, tag_id in HASHTAGS.items():
        write_json(out / "hashtags" / f"{name}.json", {"data": [{"id": tag_id}]})
    pages = mentions = 0
    for t in polls:
        stamp = t.strftime("%Y%m%dT%H%M%SZ")
        for name, tag_id in HASHTAGS.items():
            pool = visible(posts, name, t)
            for edge, items in (("recent_media", recent_edge(rng, pool, t)), ("top_media", top_edge(pool, t))):
                for n, body in enumerate(page_bodies(rng, split_pages(rng, items, edge), tag_id, edge, t), 1):
                    write_json(out / "polls" / stamp / tag_id / f"{edge}-{n}.json", body)
                    pages += 1
        write_json(out / "polls" / stamp / "account-1.json", {"username": ORGANIZER, "id": USER_ID})
        for idx, post in enumerate(posts):
            if mentions_organizer(post) and post["ts"] <= t:
                write_json(out / "polls" / stamp / "mentioned_media" / f"{post['id']}-1.json", mention_body(post, t, idx))
                mentions += 1
    if args.roles:
        for role, idxs in roles.items():
            print(role, " ".join(f"{posts[i]['id']}@{iso(posts[i]['ts'])}" for i in idxs))
    print(f"derby demo replay: {len(posts)} posts, {len(polls)} polls, {pages} pages and {mentions} mention "
          f"answers written to {out}")


if __name__ == "__main__":
    main()
