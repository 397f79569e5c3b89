"""The words of the judges' listings, ``derby flags`` and ``derby audit``, in French and
English (``--lang``, default the contest's language). Standard library only.

A flag's detail is the English sentence :mod:`derby.flags` stores, given in French by
:func:`derby.explain_fr.flag_detail` (the sentence ``derby explain`` shows). An audit
row's summary is kept as it was recorded (derby's own words at the time, a judge's
reason): the listing's frame, times and action names follow the language.
"""

from __future__ import annotations

from derby.explain_fr import FRAME, flag_detail

LINES: dict[str, dict[str, str]] = {
    "en": {
        "flag": "#{id}  {when}  {media}  {kind}: {detail}{decided}",
        "decided": "  [{decision} by {by}: {note}]", "clear": "clear", "act": "act",
        "none_open": "no flag to look at", "none": "no flag raised",
        "next": "a flag never disqualifies; look at the post, then: derby flags clear ID --note TEXT "
                "(or derby flags act ID --note TEXT after derby disqualify)",
        "audit": "{when}  {actor}  {action}  {summary}",
    },
    "fr": {
        "flag": "n° {id}  {when}  {media}  {kind} : {detail}{decided}",
        "decided": "  [{decision} par {by} : {note}]", "clear": "écarté", "act": "suivi d'une action",
        "none_open": "aucun signalement à examiner", "none": "aucun signalement",
        "next": "un signalement ne disqualifie jamais; examinez la publication, puis : derby flags clear ID --note "
                "TEXTE (ou derby flags act ID --note TEXTE après derby disqualify)",
        "audit": "{when}  {actor}  {action}  {summary}",
    },
}
"""The listings' lines, by language."""

ACTIONS_FR: dict[str, str] = {
    "rule_seed": "règles initiales", "rule_set": "règle modifiée", "disqualify": "disqualification",
    "reinstate": "réintégration", "entrants_import": "import des participant·es", "ack_gaps": "trous acceptés",
    "draw_commit": "tirage engagé", "draw_commit_refused": "engagement du tirage refusé",
    "draw_run": "tirage fait", "draw_run_refused": "tirage refusé", "results_certify": "résultats certifiés",
    "results_verify": "résultats vérifiés", "check_winners": "vérification des gagnant·es",
    "flag_clear": "signalement écarté", "flag_act": "signalement suivi d'une action", "purge": "purge",
    "purge_refused": "purge refusée", "contest_file_refused": "fichier du concours refusé",
    "team_disqualify": "équipe disqualifiée", "team_reinstate": "équipe réintégrée",
    "team_rename": "équipe renommée", "team_drop": "équipe retirée",
}
"""French names of the audit log's actions (the stored key is kept in json/csv)."""


def flag_kind(kind: str, lang: str) -> str:
    """A flag kind (``burst``, ``ratio``, ``lockstep``) as the listing names it."""
    return FRAME["fr"]["kinds"].get(kind, kind) if lang == "fr" else kind  # type: ignore[union-attr]


def detail(text: str, lang: str) -> str:
    """A stored flag detail in ``lang``."""
    return flag_detail(text) if lang == "fr" else text


def action(name: str, lang: str) -> str:
    """An audit action's name in ``lang`` (an unknown one as stored)."""
    return ACTIONS_FR.get(name, name) if lang == "fr" else name
