"""The words of ``derby results certify`` and ``derby results verify`` in French and
English (``--lang``, default the contest's language). Standard library only.

The results file, its SHA-256 and the audit log keep derby's words as recorded; the
differences :func:`derby.results.verify` finds (and the file's note) are quoted as it
writes them: the commands' frame, roles and times follow the language.
"""

from __future__ import annotations

LINES: dict[str, dict[str, str]] = {
    "en": {
        "winner": "winner", "alternate": "alternate", "row": "{role:<9} rank {rank}  {who}",
        "team": "team “{name}” {account}", "trophy": "trophy “{name}” ({metric}): {winners}",
        "no_team": "no ranked team", "entries": "entries", "teams": "teams",
        "certified": "certified {n} ranked {what} as of {when} into {path}",
        "ok": "ok  ", "fail": "FAIL", "diff": "DIFF", "file": "{tag} file: SHA-256 {sha}: {note}",
        "same_second": "DIFF as certified: actions recorded in the certification's second, after it, change the "
                       "standings as of that second (times are kept to the second): {actions}",
        "as_certified": "{tag} as certified: {what}",
        "tampered": "the stored data no longer reproduces the certified results (tampering?)",
        "reproduced": "the stored data reproduces them",
        "today": "{tag} today: {what}", "since": "{count} since the certification", "difference": "difference",
        "edited": "the file differs from what was certified: {count}", "same": "the same standings",
        "mismatch": "{file} does not match the results of this database today",
        "match": "match: the certified results still stand",
    },
    "fr": {
        "winner": "gagnant·e", "alternate": "substitut", "row": "{role:<9} rang {rank}  {who}",
        "team": "équipe « {name} » {account}", "trophy": "trophée « {name} » ({metric}) : {winners}",
        "no_team": "aucune équipe classée", "entries": "participations classées", "teams": "équipes classées",
        "certified": "{n} {what} certifiées au {when} dans {path}",
        "ok": "ok  ", "fail": "ÉCHEC", "diff": "ÉCART", "file": "{tag} fichier : SHA-256 {sha} : {note}",
        "same_second": "ÉCART tel que certifié : des actions enregistrées dans la seconde de la certification, "
                       "après elle, changent le classement à cette seconde (les heures sont gardées à la seconde) : "
                       "{actions}",
        "as_certified": "{tag} tel que certifié : {what}",
        "tampered": "les données enregistrées ne reproduisent plus les résultats certifiés (altération?)",
        "reproduced": "les données enregistrées les reproduisent",
        "today": "{tag} aujourd'hui : {what}", "since": "{count} depuis la certification",
        "difference": "différence", "edited": "le fichier diffère de ce qui a été certifié : {count}", "same": "le même classement",
        "mismatch": "{file} ne correspond pas aux résultats de cette base aujourd'hui",
        "match": "concordance : les résultats certifiés tiennent toujours",
    },
}
"""The results commands' lines, by language."""
