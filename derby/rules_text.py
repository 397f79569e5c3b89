"""The contest rules (« règlement du concours ») written from the contest as stored: its
dates, how to enter, the scoring formula with the rules' real numbers, the hidden-likes
policy, the tie-break order, the prizes, how winners are chosen and notified, the
skill-testing question of a draw, Instagram's release, and where personal data goes
and when it is deleted. Standard library only.

French follows Québec typography (Office québécois de la langue française): a no-break
space before the colon and inside « guillemets », none before ; ! ?; ``1er`` for the
first of the month; ``0 h 00`` times; amounts ``1 500 $`` with no-break spaces.
``build(contest, rules, lang)`` returns blocks; :func:`markdown` and :func:`html`
render them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from html import escape

from derby import clock
from derby.config import contest_kind
from derby.team_scoring import team_chain
from derby.terms import Prize, text

NBSP = "\u00a0"
_FR_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre")


class RulesTextError(ValueError):
    """The contest file lacks what the rules must say; the message names the key."""


def _date(dt: datetime, tz, lang: str) -> str:
    local = dt.astimezone(tz)
    if lang == "fr":
        day = "1er" if local.day == 1 else str(local.day)
        return f"{day}{NBSP}{_FR_MONTHS[local.month - 1]}{NBSP}{local.year} à {local.hour}{NBSP}h{NBSP}{local.minute:02d}"
    return f"{local.strftime('%B')} {local.day}, {local.year} at {local.strftime('%H:%M')}"


def _day(dt: datetime, tz, lang: str) -> str:
    local = dt.astimezone(tz)
    if lang == "fr":
        return f"{'1er' if local.day == 1 else local.day}{NBSP}{_FR_MONTHS[local.month - 1]}{NBSP}{local.year}"
    return f"{local.strftime('%B')} {local.day}, {local.year}"


def _number(value: float, lang: str) -> str:
    whole = float(value).is_integer()
    body = f"{int(value):,}" if whole else f"{value:,.2f}"
    if lang == "fr":
        return body.replace(",", NBSP).replace(".", ",")
    return body


def _money(value: float, lang: str) -> str:
    return f"{_number(value, lang)}{NBSP}$" if lang == "fr" else f"${_number(value, lang)}"


def _q(words: str, lang: str) -> str:
    return f"«{NBSP}{words}{NBSP}»" if lang == "fr" else f"“{words}”"


def _colon(lang: str) -> str:
    return f"{NBSP}:" if lang == "fr" else ":"


def _points(value: object, lang: str) -> str:
    n = float(value)  # type: ignore[arg-type]
    unit = ("point" if n <= 1 else "points") if lang == "fr" else ("point" if n == 1 else "points")
    return f"{_number(n, lang)}{NBSP}{unit}"


def _required(contest) -> None:
    terms = contest.terms
    missing = []
    if terms.organizer is None:
        missing.append("[organizer] name, contact and privacy_officer")
    if terms.retention_days is None:
        missing.append("[privacy] retention_days")
    if missing:
        raise RulesTextError(f"the contest file must give {' and '.join(missing)} before the rules can be written "
                             "(see the README's contest file)")


Block = tuple[str, object]
"""``("h1" | "h2" | "p", text)`` or ``("ul", [text, ...])``."""


def build(contest, rules: Mapping[str, object], lang: str = "fr") -> list[Block]:
    """Return the rules of ``contest`` under ``rules`` (the rules in force) in ``lang``
    (``fr`` or ``en``) as blocks. Raises RulesTextError when the contest file lacks the
    organizer or the retention period."""
    _required(contest)
    fr = lang == "fr"

    def t(french: str, english: str) -> str:
        return french if fr else english

    blocks: list[Block] = [("h1", t(f"Règlement du concours {_q(contest.title, lang)}",
                                    f"Official rules of the contest {_q(contest.title, lang)}"))]
    blocks += _organizer(contest, lang, t)
    blocks += _dates(contest, lang, t)
    blocks += _eligibility(contest, lang, t)
    if contest_kind(contest) == "teams":
        blocks += _team_how_to_enter(contest, rules, lang, t)
        blocks += _team_scoring(contest, rules, lang, t)
        blocks += _prizes(contest, lang, t)
        blocks += _team_selection(contest, lang, t)
    else:
        blocks += _how_to_enter(contest, rules, lang, t)
        blocks += _scoring(contest, rules, lang, t)
        blocks += _prizes(contest, lang, t)
        blocks += _selection(contest, lang, t)
    blocks += _instagram(t)
    blocks += _privacy(contest, lang, t)
    return blocks


def _organizer(contest, lang: str, t) -> list[Block]:
    org = contest.terms.organizer
    lines = [t(f"Le concours est organisé par {text(org['name'], lang)} (ci-après {_q('l’organisateur', lang)}).",
               f"The contest is run by {text(org['name'], lang)} (the “organizer”).")]
    if org.get("address"):
        lines.append(t(f"Adresse{_colon(lang)} {text(org['address'], lang)}.", f"Address: {text(org['address'], lang)}."))
    lines.append(t(f"Pour toute question{_colon(lang)} {text(org['contact'], lang)}.",
                   f"Questions: {text(org['contact'], lang)}."))
    return [("h2", t("1. Organisateur", "1. Organizer")), ("p", " ".join(lines))]


def _dates(contest, lang: str, t) -> list[Block]:
    tz = contest.tz
    start, end = contest.start, contest.end
    zone = f"{contest.timezone}, {clock.format_offset(start.astimezone(tz))}"
    if clock.format_offset(end.astimezone(tz)) != clock.format_offset(start.astimezone(tz)):
        zone += f" {t('puis', 'then')} {clock.format_offset(end.astimezone(tz))}"
    body = t(f"Le concours commence le {_date(start, tz, lang)} et se termine le {_date(end, tz, lang)}, "
             f"heure de Québec ({zone}). Seules les publications dont l’heure de publication, telle qu’Instagram "
             "l’indique, tombe dans cette période participent.",
             f"The contest starts on {_date(start, tz, lang)} and ends on {_date(end, tz, lang)}, Québec time "
             f"({zone}). Only posts whose publication time, as Instagram gives it, falls within this period take part.")
    if contest.freeze != contest.end:
        body += " " + t(f"Les mentions J’aime et les commentaires comptent jusqu’au {_date(contest.freeze, tz, lang)}.",
                        f"Likes and comments count until {_date(contest.freeze, tz, lang)}.")
    return [("h2", t("2. Durée", "2. Dates")), ("p", body)]


def _eligibility(contest, lang: str, t) -> list[Block]:
    terms = contest.terms
    lines = []
    if terms.eligibility:
        lines.append(text(terms.eligibility, lang))
    if terms.minimum_age is not None:
        lines.append(t(f"Il faut avoir au moins {terms.minimum_age}{NBSP}ans pour participer.",
                       f"Entrants must be at least {terms.minimum_age} years old."))
    if terms.minimum_age is None or terms.minimum_age < 14:
        lines.append(t("Une personne de moins de 14\u00a0ans ne peut participer qu’avec le consentement de son père, "
                       "de sa mère ou de son tuteur.",
                       "A person under 14 may enter only with the consent of a parent or guardian."))
    lines.append(t("Aucun achat n’est requis pour participer.", "No purchase is necessary to enter."))
    return [("h2", t("3. Admissibilité", "3. Eligibility")), ("p", " ".join(lines))]


def _how_to_enter(contest, rules, lang: str, t) -> list[Block]:
    tags = t(" ou ", " or ").join(f"#{h}" for h in contest.hashtags)
    items = [t(f"Publier sur Instagram, pendant la durée du concours, une photo ou une vidéo sur un compte public, "
               f"dont la légende contient le mot-clic {tags}.",
               f"Post a photo or a video on Instagram, from a public account, during the contest, with {tags} in "
               "its caption.")]
    if rules.get("require_mention"):
        items.append(t(f"La légende doit aussi mentionner @{rules['require_mention']}.",
                       f"The caption must also mention @{rules['require_mention']}."))
    cap = rules.get("max_entries_per_entrant")
    if cap:
        items.append(t(f"Au plus {cap} publication{'s' if cap > 1 else ''} par personne inscrite sont classées.",
                       f"At most {cap} post{'s' if cap > 1 else ''} per registered entrant are ranked."))
    items.append(t("Une publication retirée, rendue privée ou reprise d’un autre compte peut être exclue par le jury.",
                   "A post that is deleted, made private or copied from another account may be excluded by the jury."))
    return [("h2", t("4. Comment participer", "4. How to enter")), ("ul", items)]


_TIE_WORDS = {
    "score": ("le pointage le plus élevé", "the higher score"),
    "comments": ("le plus de commentaires comptés", "the most comments counted"),
    "likes": ("le plus de mentions J’aime comptées", "the most likes counted"),
    "timestamp": ("la publication la plus ancienne", "the earlier post"),
    "first_seen": ("la publication relevée la première par derby", "the post first seen by derby"),
    "media_id": ("le plus petit identifiant Instagram de la publication", "the smaller Instagram media id"),
}
_TEAM_TIE_WORDS = {
    "score": ("le pointage le plus élevé", "the higher score"),
    "followers_gained": ("le plus d’abonnés gagnés", "the most followers gained"),
    "likes": ("le plus de mentions J’aime sur les publications comptées", "the most likes on counted posts"),
    "comments": ("le plus de commentaires sur les publications comptées", "the most comments on counted posts"),
    "posts": ("le plus de publications comptées", "the most posts counted"),
    "name": ("le nom de l’équipe, en ordre alphabétique", "the team name, in alphabetical order"),
}
_MEDIA_WORDS = {"IMAGE": ("photo", "photo"), "VIDEO": ("vidéo", "video"), "CAROUSEL_ALBUM": ("carrousel", "carousel")}


def _post_items(rules, lang: str, t) -> list[str]:
    """What each counted post receives under the per-post rules in force."""
    items = [t(f"chaque mention J’aime{_colon(lang)} {_points(rules['points_per_like'], lang)}",
               f"each like: {_points(rules['points_per_like'], lang)}"),
             t(f"chaque commentaire{_colon(lang)} {_points(rules['points_per_comment'], lang)}",
               f"each comment: {_points(rules['points_per_comment'], lang)}")]
    if rules.get("cap_likes") is not None:
        items.append(t(f"au plus {_number(rules['cap_likes'], lang)} mentions J’aime comptées par publication",
                       f"at most {_number(rules['cap_likes'], lang)} likes counted per post"))
    if rules.get("cap_comments") is not None:
        items.append(t(f"au plus {_number(rules['cap_comments'], lang)} commentaires comptés par publication",
                       f"at most {_number(rules['cap_comments'], lang)} comments counted per post"))
    for kind, points in (rules.get("media_type_bonus") or {}).items():  # type: ignore[union-attr]
        items.append(t(f"publication de type {_MEDIA_WORDS[kind][0]}{_colon(lang)} {_points(points, lang)} de plus",
                       f"a {_MEDIA_WORDS[kind][1]} post: {_points(points, lang)} more"))
    if rules.get("extra_hashtag_bonus"):
        items.append(t(f"chaque mot-clic du concours de plus dans la légende{_colon(lang)} "
                       f"{_points(rules['extra_hashtag_bonus'], lang)}",
                       f"each further contest hashtag in the caption: {_points(rules['extra_hashtag_bonus'], lang)}"))
    early = rules.get("early_entry_bonus")
    if early:
        items.append(t(f"publication faite dans les {_number(early['hours'], lang)}{NBSP}premières heures{_colon(lang)} "
                       f"{_points(early['points'], lang)} de plus",
                       f"a post made within the first {_number(early['hours'], lang)} hours: "
                       f"{_points(early['points'], lang)} more"))
    window = rules.get("engagement_window_hours")
    if window:
        items.append(t(f"les mentions J’aime et les commentaires comptés sont ceux des {_number(window, lang)}{NBSP}heures "
                       "qui suivent la publication, jamais au-delà de la fin du décompte",
                       f"the likes and comments counted are those of the {_number(window, lang)} hours after the post "
                       "was published, never past the end of counting"))
    return items


def _scoring(contest, rules, lang: str, t) -> list[Block]:
    i = 0 if lang == "fr" else 1
    items = _post_items(rules, lang, t)
    counted = t(f"Les nombres de mentions J’aime et de commentaires sont ceux de la dernière relève faite au plus tard "
                f"le {_date(contest.freeze, contest.tz, lang)}; le pointage est arrondi à six décimales.",
                f"Likes and comments are those of the last reading made no later than "
                f"{_date(contest.freeze, contest.tz, lang)}; scores are rounded to six decimals.")
    hidden = {
        "zero": ("Une publication dont les mentions J’aime sont masquées compte 0 mention J’aime.",
                 "A post whose likes are hidden counts 0 likes."),
        "comments_only": ("Dès qu’une publication admissible masque ses mentions J’aime, aucune mention J’aime ne "
                          "compte, pour personne\u00a0: seules les autres règles départagent.",
                          "As soon as one eligible post hides its likes, likes count for no one: only the other "
                          "rules decide."),
        "review": ("Une publication dont les mentions J’aime sont masquées est mise de côté jusqu’à ce que le jury "
                   "l’accepte; ses mentions J’aime comptent alors pour 0.",
                   "A post whose likes are hidden is held until the jury accepts it; its likes then count as 0."),
    }[str(rules.get("hidden_likes") or "zero")][i]
    chain = [_TIE_WORDS[k][i] for k in (rules.get("tie_break") or ["score", "timestamp", "media_id"])]  # type: ignore[union-attr]
    return [("h2", t("5. Pointage", "5. Scoring")),
            ("p", t("Chaque publication admissible reçoit" + _colon(lang), "Each eligible post receives:")),
            ("ul", items), ("p", counted), ("p", hidden),
            ("h2", t("6. Bris d’égalité", "6. Tie-breaks")), ("p", _tie_line(chain, lang, t))]


def _tie_line(chain: list[str], lang: str, t) -> str:
    return t("En cas d’égalité, l’emporte, dans l’ordre" + _colon(lang) + " " + "; puis ".join(chain[1:]) + ".",
             "Ties are broken, in order, by: " + "; then ".join(chain[1:]) + ".")


_TROPHY_WORDS = {
    "score": ("le pointage le plus élevé", "the highest score"),
    "followers_gained": ("le plus d’abonnés gagnés", "the most followers gained"),
    "likes": ("le plus de mentions J’aime sur les publications comptées", "the most likes on counted posts"),
    "comments": ("le plus de commentaires sur les publications comptées", "the most comments on counted posts"),
    "posts": ("le plus de publications comptées", "the most posts counted"),
    "engagement_per_post": ("le plus de mentions J’aime et de commentaires par publication comptée, en moyenne "
                            "(0 sans publication)",
                            "the most likes and comments per counted post, on average (0 with no post)"),
    "engagement_per_follower": ("le meilleur ratio des mentions J’aime et des commentaires des publications comptées "
                                "au nombre d’abonnés à la fin du décompte (0 sans abonné)",
                                "the best ratio of the likes and comments on counted posts to the followers at the "
                                "end of counting (0 with no follower)"),
}


def _team_how_to_enter(contest, rules, lang: str, t) -> list[Block]:
    names = ", ".join(team.name for team in contest.teams)
    n = len(contest.teams)
    body = t(f"{n}{NBSP}équipe{'s' if n > 1 else ''}, inscrite{'s' if n > 1 else ''} par l’organisateur, "
             f"participe{'nt' if n > 1 else ''}{_colon(lang)} {names}. Chaque équipe anime un seul compte Instagram, "
             "celui qui lui est confié pour la durée du concours, et y publie; aucune autre inscription n’est possible.",
             f"{n} team{'s' if n > 1 else ''}, registered by the organizer, take{'' if n > 1 else 's'} part: {names}. "
             "Each team runs one Instagram account, the one entrusted to it for the contest, and posts on it; there "
             "is no other way to enter.")
    return [("h2", t("4. Comment participer", "4. How to enter")), ("p", body)]


def _team_counted_posts(contest, rules, lang: str, t) -> str:
    tags = t(" ou ", " or ").join(f"#{h}" for h in contest.hashtags)
    line = t("Une publication est comptée si elle est faite sur le compte de l’équipe pendant le concours",
             "A post counts when it is made on the team’s account during the contest")
    if contest.hashtags and rules.get("require_hashtag_in_caption", True):
        line += t(f", si sa légende contient le mot-clic {tags}", f", its caption holds {tags}")
    if rules.get("require_mention"):
        line += t(f", si sa légende mentionne @{rules['require_mention']}",
                  f", its caption mentions @{rules['require_mention']}")
    line += "."
    cap = rules.get("cap_posts_per_day")
    if cap:
        plural = "s" if cap > 1 else ""  # type: ignore[operator]
        line += " " + t(f"Au plus {cap}{NBSP}publication{plural} d’une équipe {'sont comptées' if plural else 'est comptée'} "
                        f"par jour (heure de Québec){_colon(lang)} {'les' if plural else 'la'} {cap if plural else ''}"
                        f"{' ' if plural else ''}première{plural} publiée{plural} ce "
                        "jour-là; les suivantes ne comptent pas.",
                        f"At most {cap} post{plural} of a team count{'' if plural else 's'} per day (Québec time): the "
                        f"first {cap} published that day; later ones do not count.")
    return line


def _team_scoring(contest, rules, lang: str, t) -> list[Block]:
    freeze = _date(contest.freeze, contest.tz, lang)
    per_follower, per_post = rules.get("points_per_follower") or 0, rules.get("points_per_post") or 0
    items = [t(f"chaque abonné gagné{_colon(lang)} {_points(per_follower, lang)} (chaque abonné perdu en retire "
               "autant)", f"each follower gained: {_points(per_follower, lang)} (each follower lost takes as many away)"),
             t(f"chaque publication comptée{_colon(lang)} {_points(per_post, lang)}",
               f"each counted post: {_points(per_post, lang)}"),
             t("le pointage de chacune de ses publications comptées (ci-dessous)",
               "the score of each of its counted posts (below)")]
    followers = t(f"Les abonnés gagnés sont la différence entre le nombre d’abonnés du compte à la dernière lecture faite "
                  f"au plus tard le {freeze} et celui de la dernière lecture faite au plus tard au début du concours "
                  "(à défaut, la première lecture qui suit le début).",
                  f"Followers gained are the account’s followers at the last reading made no later than {freeze}, "
                  "less those at the last reading made no later than the start of the contest (failing that, the "
                  "first reading after the start).")
    counted = t(f"Les nombres de mentions J’aime et de commentaires sont ceux que lit le propriétaire du compte à la "
                f"dernière relève faite au plus tard le {freeze}, même quand les mentions J’aime sont masquées au "
                "public; un nombre qui n’a pas pu être lu compte pour 0. Les pointages sont arrondis à six décimales.",
                f"Likes and comments are those the account’s owner reads at the last reading made no later than "
                f"{freeze}, even when likes are hidden from the public; a count that could not be read counts as 0. "
                "Scores are rounded to six decimals.")
    chain = [_TEAM_TIE_WORDS[k][0 if lang == "fr" else 1] for k in team_chain(rules)]
    return [("h2", t("5. Pointage", "5. Scoring")),
            ("p", t("Chaque équipe reçoit" + _colon(lang), "Each team receives:")), ("ul", items),
            ("p", followers), ("p", _team_counted_posts(contest, rules, lang, t)),
            ("p", t("Chaque publication comptée reçoit" + _colon(lang), "Each counted post receives:")),
            ("ul", _post_items(rules, lang, t)), ("p", counted),
            ("h2", t("6. Bris d’égalité", "6. Tie-breaks")),
            ("p", _tie_line(chain, lang, t) + " " + t("Une équipe disqualifiée par le jury n’est pas classée.",
                                                      "A team disqualified by the jury is not ranked."))]


def _team_selection(contest, lang: str, t) -> list[Block]:
    terms = contest.terms
    ranks = len([p for p in terms.prizes if p.rank is not None])
    first = (t("L’équipe la mieux classée", "The best-ranked team") if ranks <= 1 else
             t(f"Les {ranks}{NBSP}équipes les mieux classées", f"The {ranks} best-ranked teams"))
    blocks: list[Block] = [("h2", t("8. Choix et avis aux gagnant·es", "8. How winners are chosen and notified")),
                           ("p", t(f"{first} à la fin du concours, selon le pointage et le bris d’égalité ci-dessus, "
                                   f"{'est gagnante' if ranks <= 1 else 'sont gagnantes'}. Les suivantes au classement "
                                   "sont les substituts.",
                                   f"{first} at the end of the contest, by the score and the tie-breaks above, "
                                   f"{'wins' if ranks <= 1 else 'win'}. The next teams are the alternates."))]
    if contest.trophies:
        blocks.append(("p", t("Chaque trophée revient à l’équipe classée qui a, à la fin du concours, la meilleure "
                              "valeur de sa mesure; une égalité se départage par le bris d’égalité ci-dessus"
                              + _colon(lang),
                              "Each trophy goes to the ranked team with the best value of its measure at the end of "
                              "the contest; a tie is broken by the tie-breaks above:")))
        blocks.append(("ul", [_trophy_line(trophy, lang, t) for trophy in contest.trophies]))
    if terms.notification:
        blocks.append(("p", text(terms.notification, lang)))
    if terms.claim_days:
        blocks.append(("p", t(f"Une équipe gagnante a {terms.claim_days}{NBSP}jours après l’avis pour réclamer son "
                              "prix; passé ce délai, le prix est offert au substitut suivant.",
                              f"A winning team has {terms.claim_days} days after being notified to claim the prize; "
                              "after that, the prize goes to the next alternate.")))
    return blocks


def _trophy_line(trophy, lang: str, t) -> str:
    line = f"{_q(trophy.name, lang)}{_colon(lang)} {_TROPHY_WORDS[trophy.metric][0 if lang == 'fr' else 1]}"
    if trophy.count > 1:
        line += t(f" ({trophy.count}{NBSP}équipes)", f" ({trophy.count} teams)")
    return line


def _prize_line(prize: Prize, lang: str, t) -> str:
    if prize.rank is not None:
        place = t("1er rang" if prize.rank == 1 else f"{prize.rank}e rang", f"rank {prize.rank}")
    else:
        place = t(f"trophée {_q(prize.trophy or '', lang)}", f"trophy {_q(prize.trophy or '', lang)}")
    line = f"{place}{_colon(lang)} {text(prize.description, lang)}"
    if prize.value is not None:
        line += t(f", d’une valeur approximative de {_money(prize.value, lang)}",
                  f", approximate value {_money(prize.value, lang)}")
    return line


def _prizes(contest, lang: str, t) -> list[Block]:
    prizes = contest.terms.prizes
    head = ("h2", t("7. Prix", "7. Prizes"))
    if not prizes:
        return [head, ("p", t("Aucun prix n’est annoncé.", "No prize is announced."))]
    total = sum(p.value for p in prizes if p.value is not None)
    blocks: list[Block] = [head, ("p", t(f"{len(prizes)} prix sont offerts" + _colon(lang),
                                          f"{len(prizes)} prize{'s' if len(prizes) > 1 else ''} are offered:")),
                           ("ul", [_prize_line(p, lang, t) for p in prizes])]
    if total:
        blocks.append(("p", t(f"Valeur totale approximative{_colon(lang)} {_money(total, lang)}.",
                              f"Approximate total value: {_money(total, lang)}.")))
    return blocks


def _selection(contest, lang: str, t) -> list[Block]:
    terms = contest.terms
    draw = terms.draw
    blocks: list[Block] = [("h2", t("8. Choix et avis aux gagnant·es", "8. How winners are chosen and notified"))]
    if draw is None:
        blocks.append(("p", t("Les gagnant·es sont les publications les mieux classées à la fin du concours, selon le "
                              "pointage et le bris d’égalité ci-dessus. Les suivantes au classement sont les substituts.",
                              "The winners are the best-ranked posts at the end of the contest, by the score and the "
                              "tie-breaks above. The next ones are the alternates.")))
    else:
        pool = draw["pool"]
        among = t("toutes les publications admissibles", "every eligible post") if pool == "eligible" else \
            t(f"les {pool[4:]}{NBSP}publications les mieux classées", f"the {pool[4:]} best-ranked posts")
        how = t("chacune avec une chance proportionnelle à son pointage" if draw["weighted"] else
                "chacune avec la même chance",
                "each with a chance in proportion to its score" if draw["weighted"] else "each with the same chance")
        blocks.append(("p", t(
            f"{draw['winners']} gagnant·e{'s' if draw['winners'] > 1 else ''} et {draw['alternates']} substitut"
            f"{'s' if draw['alternates'] > 1 else ''} sont tirés au sort parmi {among}, {how}. Avant le tirage, "
            "l’organisateur publie l’empreinte SHA-256 de la liste des participations et nomme une valeur aléatoire "
            "publique future qu’il ne peut pas choisir; le tirage est fait avec cette valeur et son certificat permet "
            "à quiconque de le refaire (derby draw verify).",
            f"{draw['winners']} winner{'s' if draw['winners'] > 1 else ''} and {draw['alternates']} alternate"
            f"{'s' if draw['alternates'] != 1 else ''} are drawn at random among {among}, {how}. Before the draw the "
            "organizer publishes the SHA-256 fingerprint of the list of entries and names a future public random "
            "value it cannot choose; the draw uses that value, and its certificate lets anyone redo it "
            "(derby draw verify).")))
        blocks.append(("p", t(f"Pour obtenir son prix, la personne sélectionnée doit d’abord répondre correctement, "
                              f"sans aide, à la question d’habileté suivante{_colon(lang)} "
                              f"{text(draw['question'], lang)}",
                              "To receive a prize, the person selected must first correctly answer, unaided, this "
                              f"skill-testing question: {text(draw['question'], lang)}")))
    if terms.notification:
        blocks.append(("p", text(terms.notification, lang)))
    if terms.claim_days:
        blocks.append(("p", t(f"La personne gagnante a {terms.claim_days}{NBSP}jours après l’avis pour réclamer son "
                              "prix; passé ce délai, le prix est offert au substitut suivant.",
                              f"A winner has {terms.claim_days} days after being notified to claim the prize; after "
                              "that, the prize goes to the next alternate.")))
    return blocks


def _instagram(t) -> list[Block]:
    return [("h2", t("9. Instagram", "9. Instagram")),
            ("p", t("Ce concours n’est ni commandité, ni appuyé, ni administré par Instagram, ni associé à "
                    "Instagram. En participant, chaque participant·e dégage Instagram (Meta Platforms) de toute "
                    "responsabilité à l’égard du concours.",
                    "This contest is in no way sponsored, endorsed or administered by, or associated with, "
                    "Instagram. By entering, each entrant releases Instagram (Meta Platforms) from any liability "
                    "regarding the contest."))]


def _privacy(contest, lang: str, t) -> list[Block]:
    terms = contest.terms
    officer = text(terms.organizer["privacy_officer"], lang)
    purge_on = contest.end + timedelta(days=terms.retention_days or 0)
    where = text(terms.data_location, lang)
    if contest_kind(contest) == "teams":
        collected = t("L’organisateur recueille, pour le seul besoin du concours, le nom des équipes, le nom "
                      "d’utilisateur et le nombre d’abonnés de leurs comptes Instagram, ainsi que les données des "
                      "publications de ces comptes (légende, heure, mentions J’aime, commentaires).",
                      "For the contest only, the organizer collects the teams’ names, the usernames and follower "
                      "counts of their Instagram accounts, and the data of these accounts’ posts (caption, time, "
                      "likes, comments).")
    else:
        collected = t("L’organisateur recueille, pour le seul besoin du concours, le nom d’utilisateur Instagram et, "
                      "pour les personnes inscrites, leur nom, ainsi que les données publiques des publications "
                      "participantes (légende, heure, mentions J’aime, commentaires).",
                      "For the contest only, the organizer collects Instagram usernames and, for registered entrants, "
                      "their names, and the public data of the posts entered (caption, time, likes, comments).")
    body = [collected]
    if where:
        body.append(t(f"Lieu de conservation{_colon(lang)} {where}.", f"Where they are kept: {where}."))
    body.append(t(f"La personne responsable de la protection des renseignements personnels est {officer}.",
                  f"The person in charge of personal information is {officer}."))
    body.append(t(f"Les noms d’utilisateur, les noms et les inscriptions sont remplacés par des pseudonymes "
                  f"{terms.retention_days}{NBSP}jours après la fin du concours, soit le {_day(purge_on, contest.tz, lang)}.",
                  f"Usernames, names and registrations are replaced by pseudonyms {terms.retention_days} days after "
                  f"the contest ends, on {_day(purge_on, contest.tz, lang)}."))
    return [("h2", t("10. Renseignements personnels", "10. Personal information")), ("p", " ".join(body))]


def markdown(blocks: list[Block]) -> str:
    """Render blocks as Markdown (user text is written as given: it comes from the
    organizer's own contest file; lines never start with markup)."""
    out: list[str] = []
    for kind, value in blocks:
        if kind == "h1":
            out.append(f"# {value}")
        elif kind == "h2":
            out.append(f"## {value}")
        elif kind == "ul":
            out.append("\n".join(f"- {item}" for item in value))  # type: ignore[union-attr]
        else:
            out.append(str(value))
    return "\n\n".join(out) + "\n"


def html(blocks: list[Block], lang: str) -> str:
    """Render blocks as a standalone HTML page (every text escaped)."""
    parts: list[str] = []
    title = next((str(v) for k, v in blocks if k == "h1"), "")
    for kind, value in blocks:
        if kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in value) + "</ul>")  # type: ignore[union-attr]
        else:
            parts.append(f"<{kind}>{escape(str(value))}</{kind}>")
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            "<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;line-height:1.5}</style>"
            f"</head><body>{''.join(parts)}</body></html>\n")
