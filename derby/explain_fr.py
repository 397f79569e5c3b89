"""French text of what ``derby explain`` shows: the sentences :mod:`derby.scoring`
builds (check notes, point bases, reasons) and the explanation's own frame. Standard
library only.

Scoring writes its sentences in English, once; :func:`french` gives each of them in
French by the patterns below, so the explanation follows ``--lang`` without a second
copy of the scoring. A sentence no pattern knows is shown as it is (never lost).
User text (usernames, a judge's reason) is carried through untouched.
"""

from __future__ import annotations

import re

_PATTERNS: list[tuple[re.Pattern, str]] = [(re.compile(p), r) for p, r in (
    # eligibility checks
    (r"^the feed gave no timestamp$", "la plateforme n'a donné aucune date"),
    (r"^posted before the start$", "publiée avant le début"),
    (r"^posted after the end$", "publiée après la clôture"),
    (r"^posted between the start and the end$", "publiée entre le début et la clôture"),
    (r"^no caption$", "pas de légende"),
    (r"^caption holds (#.*)$", r"la légende porte \1"),
    (r"^no contest hashtag in the caption$", "aucun mot-clic du concours dans la légende"),
    (r"^caption mentions @(\S+)$", r"la légende mentionne @\1"),
    (r"^caption does not mention @(\S+)$", r"la légende ne mentionne pas @\1"),
    (r"^likes hidden; cleared by (.*)$", r"J'aime masqués ; validée par \1"),
    (r"^likes hidden: held for a judge \(hidden_likes = review\)$",
     "J'aime masqués : retenue pour un·e juge (hidden_likes = review)"),
    (r"^@(\S+) already has (\d+) better-ranked entr(?:y|ies)$", r"@\1 a déjà \2 participation(s) mieux classée(s)"),
    (r"^entry (\d+) of at most (\d+) for @(\S+)$", r"participation \1 sur \2 au plus pour @\3"),
    (r"^disqualified by (.*?): (.*)$", r"disqualifiée par \1 : \2"),
    # points
    (r"^likes not counted: some entries hide theirs \(hidden_likes = comments_only\)$",
     "J'aime non comptés : des participations masquent les leurs (hidden_likes = comments_only)"),
    (r"^likes hidden: counted as 0 likes$", "J'aime masqués : comptés comme 0"),
    (r"^(\d+) likes, capped at (\d+) × (\S+)$", r"\1 J'aime, plafonnés à \2 × \3"),
    (r"^(\d+) likes × (\S+)$", r"\1 J'aime × \2"),
    (r"^(\d+) comments, capped at (\d+) × (\S+)$", r"\1 commentaires, plafonnés à \2 × \3"),
    (r"^(\d+) comments × (\S+)$", r"\1 commentaires × \2"),
    (r"^media type (\S+)$", r"type de média \1"),
    (r"^(\d+) extra contest hashtags? × (\S+)$", r"\1 mot(s)-clic(s) du concours en plus × \2"),
    (r"^posted within the first (\S+) h$", r"publiée dans les \1 premières heures"),
    (r"^posted after the first (\S+) h$", r"publiée après les \1 premières heures"),
    # reasons
    (r"^disqualified by a judge$", "disqualifiée par un·e juge"),
    (r"^the feed gave no timestamp for this post$", "la plateforme n'a donné aucune date pour cette publication"),
    (r"^posted before the contest started$", "publiée avant le début du concours"),
    (r"^posted after the contest closed$", "publiée après la clôture du concours"),
    (r"^no caption, so no contest hashtag in it$", "pas de légende, donc aucun mot-clic du concours"),
    (r"^the caption does not @mention the required account$", "la légende ne @mentionne pas le compte exigé"),
    (r"^likes are hidden and the rules hold such entries for a judge$",
     "les J'aime sont masqués et les règles retiennent ces participations pour un·e juge"),
    (r"^the entrant already has the most ranked entries the rules allow$",
     "la personne a déjà le nombre maximal de participations classées que permettent les règles"),
)]

FRAME = {
    "fr": {
        "entry": "Participation {id}  {permalink}", "no_permalink": "(pas de lien)",
        "unknown_entrant": "participant·e inconnu·e (aucune inscription importée ne correspond)",
        "posted": "publiée le {when} · {type}", "unknown_type": "type de média inconnu", "unknown": "inconnue",
        "caption": "légende : {caption}", "none": "(aucune)",
        "as_of": "Classement au {as_of} ; l'engagement compte jusqu'au {freeze}",
        "no_snapshot": "Relevé utilisé : aucun pour l'instant (aucun engagement relevé)",
        "snapshot": "Relevé utilisé : relevé le {when} : {likes}, {comments}{late}",
        "late": "  (relevé tardif : vue après la fin du décompte de l'engagement, son premier relevé est donc utilisé)",
        "points": "Points :", "score": "pointage", "eligibility": "Admissibilité :", "ok": "oui", "no": "NON",
        "moderation": "Modération :", "no_moderation": "Modération : aucune",
        "action": "{when}  {action} par {by} : {reason}",
        "disqualify": "disqualification", "reinstate": "réintégration",
        "rank": "Rang : {rank} sur {of}",
        "tied": " (à égalité de pointage avec une voisine ; départagée par {key} : {why})",
        "not_ranked": "Rang : non classée, {reason} [{status}]",
        "order": "Ordre de départage : {order}",
        "window": "Fenêtre d'engagement : engagement_window_hours = {hours} : chaque participation est notée sur son "
                  "engagement {hours} h après sa publication (jamais après le gel), ici le {end}",
        "checks": {"window": "période"}, "colon": " : ",
        "types": {"IMAGE": "photo", "VIDEO": "vidéo", "CAROUSEL_ALBUM": "carrousel", "REELS": "réel"},
        "flag": "Signalement n° {id} ({kind}, {when}) : {detail} [{state}]", "open": "à examiner",
        "decided": "{decision} par {by} : {note}", "cleared": "écarté", "acted": "suivi d'une action",
        "kinds": {"burst": "rafale", "ratio": "ratio J'aime/comm.", "lockstep": "en phase"},
    },
    "en": {
        "entry": "Entry {id}  {permalink}", "no_permalink": "(no permalink)",
        "unknown_entrant": "entrant unknown (no entrant import matched)",
        "posted": "posted {when} · {type}", "unknown_type": "unknown media type", "unknown": "unknown",
        "caption": "caption: {caption}", "none": "(none)",
        "as_of": "Standings as of {as_of}; engagement counts until {freeze}",
        "no_snapshot": "Snapshot used: none yet (no engagement recorded)",
        "snapshot": "Snapshot used: observed {when}: {likes}, {comments}{late}",
        "late": "  (observed late: first seen after engagement stopped counting, so its first snapshot is used)",
        "points": "Points:", "score": "score", "eligibility": "Eligibility:", "ok": "ok ", "no": "NO ",
        "moderation": "Moderation:", "no_moderation": "Moderation: none",
        "action": "{when}  {action} by {by}: {reason}",
        "disqualify": "disqualify", "reinstate": "reinstate",
        "rank": "Rank: {rank} of {of}",
        "tied": " (tied on score with a neighbour; separated by {key}: {why})",
        "not_ranked": "Rank: not ranked, {reason} [{status}]",
        "order": "Tie-break order: {order}",
        "window": "Engagement window: engagement_window_hours = {hours}: every entry is scored on its engagement as "
                  "of {hours} h after it was posted (never after the freeze), here {end}",
        "checks": {}, "colon": ": ", "types": {},
        "flag": "Flag #{id} ({kind}, {when}): {detail} [{state}]", "open": "open",
        "decided": "{decision} by {by}: {note}", "cleared": "cleared", "acted": "acted",
        "kinds": {},
    },
}
"""The explanation's own lines, by language."""


def french(sentence: str | None) -> str | None:
    """Return one of scoring's English sentences in French (unknown ones unchanged)."""
    if not sentence:
        return sentence
    for pattern, replacement in _PATTERNS:
        if pattern.match(sentence):
            return pattern.sub(replacement, sentence, count=1)
    return sentence


_FLAG_PATTERNS: list[tuple[re.Pattern, str]] = [(re.compile(p), r) for p, r in (
    (r"^\+(\d+) likes and comments in (\d+) min \((\d+)/h\): (\d+)× the higher of its own past rate \(([\d.]+)/h\) "
     r"and the field's this poll \(([\d.]+)/h\)$",
     r"+\1 J'aime et commentaires en \2 min (\3/h) : \4 × le plus élevé de son propre rythme passé (\5/h) et de "
     r"celui des autres participations à cette relève (\6/h)"),
    (r"^\+(\d+) likes and comments in (\d+) min \((\d+)/h\): (\d+)× the higher of its own past rate \(([\d.]+)/h\) "
     r"and the field's fastest starts \(([\d.]+)/h\)$",
     r"+\1 J'aime et commentaires en \2 min (\3/h) : \4 × le plus élevé de son propre rythme passé (\5/h) et des "
     r"départs les plus rapides des autres participations (\6/h)"),
    (r"^(\d+) likes for ([01]) comments: ratio ([\d.]+), the field's median is ([\d.]+) \((\d+) entries\)$",
     r"\1 J'aime pour \2 commentaire : ratio \3, la médiane des participations est de \4 (\5 participations)"),
    (r"^(\d+) likes for (\d+) comments: ratio ([\d.]+), the field's median is ([\d.]+) \((\d+) entries\)$",
     r"\1 J'aime pour \2 commentaires : ratio \3, la médiane des participations est de \4 (\5 participations)"),
    (r"^gained in lock-step with (\S+) in (\d+) of the last (\d+) polls \((.*)\)$",
     r"a gagné en phase avec \1 dans \2 des \3 dernières relèves (\4)"),
)]
_DECIMAL = re.compile(r"(\d)\.(\d)")


def flag_detail(detail: str) -> str:
    """Return a judge flag's detail (the English sentence :mod:`derby.flags` stores) in
    French, decimals with a comma; an unknown sentence unchanged."""
    for pattern, replacement in _FLAG_PATTERNS:
        if pattern.match(detail):
            return _DECIMAL.sub(r"\1,\2", pattern.sub(replacement, detail, count=1))
    return detail
