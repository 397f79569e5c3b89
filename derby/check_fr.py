"""French text of what ``derby check-winners`` shows: the lines and warnings that
:mod:`derby.check` and :mod:`derby.team_check` write for each winner and alternate,
and the command's own frame. Standard library only.

The checks write their sentences in English, once, and the audit log keeps them so;
:func:`french` gives each of them in French by the patterns below (times written
``2017-04-12 08:30 (UTC−4)`` become ``12 avril 2017, 8 h 30 (UTC−4)``), so the display
follows ``--lang`` without a second copy of the checks. A sentence no pattern knows is
shown as it is (never lost). User text (usernames, team names, a platform's error) is
carried through untouched.
"""

from __future__ import annotations

import re

from derby.explain_fr import french as scoring_french

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre")
_WHEN = re.compile(r"(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}) \((UTC[^)]*)\)")
_D = r"(?P<{}>\d{{4}}-\d{{2}}-\d{{2}} \d{{2}}:\d{{2}} \(UTC[^)]*\))"

_WHY: list[tuple[str, str]] = [
    (r"^derby has no way to read this post by id \(the hashtag feed cannot read a stranger's post, and no refresh of "
     r"known media is configured\)$",
     "derby n'a aucun moyen de relire cette publication par son id (le flux du mot-clic ne lit pas la publication "
     "d'un·e inconnu·e, et aucune relecture des médias connus n'est configurée)"),
    (r"^its caption does not mention @(?P<a>\S+), so it cannot be read by mention$",
     r"sa légende ne mentionne pas @\g<a>, elle ne peut donc pas être relue par mention"),
    (r"^the mention read was refused \((?P<e>.*)\)$", r"la relecture par mention a été refusée (\g<e>)"),
    (r"^the mention read answered without the post \(its caption may no longer mention the account\)$",
     "la relecture par mention a répondu sans la publication (sa légende ne mentionne peut-être plus le compte)"),
    (r"^the account cools down until " + _D.format("d") + r" \((?P<r>.*)\); no request made$",
     r"le compte est en pause jusqu'au \g<d> (\g<r>); aucune requête faite"),
    (r"^cooling down until " + _D.format("d") + r" \((?P<r>.*)\); no request made$",
     r"en pause jusqu'au \g<d> (\g<r>); aucune requête faite"),
    (r"^the owner read was refused \((?P<e>.*)\)$", r"la relecture par le ou la propriétaire a été refusée (\g<e>)"),
    (r"^the owner read answered without the account$",
     "la relecture par le ou la propriétaire a répondu sans le compte"),
    (r"^no owner read is possible \(no feed could be made\)$",
     "aucune relecture par le ou la propriétaire n'est possible (aucun flux n'a pu être ouvert)"),
    (r"^the team is no longer in the contest file$", "l'équipe n'est plus dans le fichier du concours"),
]

_LINES: list[tuple[str, str]] = [
    (r"^the post is no longer online \(deleted, hidden or made private\)$",
     "la publication n'est plus en ligne (supprimée, masquée ou rendue privée)"),
    (r"^still online \(read now\)$", "toujours en ligne (relue à l'instant)"),
    (r"^still online \(read now\), though (?P<s>\S+) reported it gone " + _D.format("d")
     + r": a judge may keep it \(derby reinstate (?P<m>\S+) --reason TEXT\)$",
     r"toujours en ligne (relue à l'instant), bien que \g<s> l'ait signalée disparue le \g<d> : un·e juge peut la "
     r"garder (derby reinstate \g<m> --reason TEXTE)"),
    (r"^reported gone by (?P<s>\S+) " + _D.format("d") + r" \(deleted, hidden or made private\); a judge decides: "
     r"derby disqualify passes it over, derby reinstate keeps it$",
     r"signalée disparue par \g<s> le \g<d> (supprimée, masquée ou rendue privée); un·e juge décide : derby "
     r"disqualify la fait passer, derby reinstate la garde"),
    (r"^never seen by the feed$", "jamais vue par le flux"),
    (r"^the feed last saw it " + _D.format("a") + r", not in the last poll \(" + _D.format("b")
     + r"\): it may have been deleted or hidden$",
     r"le flux l'a vue pour la dernière fois le \g<a>, pas à la dernière relève (\g<b>) : elle a peut-être été "
     r"supprimée ou masquée"),
    (r"^seen by the last poll \((?P<d>.*)\)$", r"vue par la dernière relève (\g<d>)"),
    (r"^not a stored entry of this contest$", "pas une participation enregistrée de ce concours"),
    (r"^the caption \((?P<w>now|as last stored)\) no longer passes: (?P<p>.*)$",
     r"la légende (\g<w>) ne passe plus : \g<p>"),
    (r"^caption \((?P<w>now|as last stored)\) still holds the contest hashtag and mention$",
     r"la légende (\g<w>) contient toujours le mot-clic et la mention du concours"),
    (r"^caption \((?P<w>now|as last stored)\) still holds the contest hashtag$",
     r"la légende (\g<w>) contient toujours le mot-clic du concours"),
    (r"^the caption \((?P<w>now|as last stored)\) differs from the one scored at the close$",
     r"la légende (\g<w>) diffère de celle comptée à la clôture"),
    (r"^engagement (?P<s>since the close|since the standings' reading \(the contest is still running\)) \((?P<w>.*?)\): "
     r"likes (?P<l>\S+) → (?P<l2>\S+), comments (?P<c>\S+) → (?P<c2>\S+?)(?P<x>: .* dropped \(bought engagement "
     r"removed\?\))?$",
     r"engagement \g<s> (\g<w>) : J'aime \g<l> → \g<l2>, commentaires \g<c> → \g<c2>\g<x>"),
    (r"^the post is now by @(?P<a>\S+), registered to @(?P<b>\S+)$",
     r"la publication est maintenant de @\g<a>, inscrite au nom de @\g<b>"),
    (r"^the entrant changed after the close: now @(?P<a>\S+)$",
     r"le ou la participant·e a changé après la clôture : maintenant @\g<a>"),
    (r"^entrant @(?P<a>\S+) \(confirmed by the read\)$", r"participant·e @\g<a> (confirmé·e par la relecture)"),
    (r"^entrant @(?P<a>\S+) \(registered\)$", r"participant·e @\g<a> (inscrit·e)"),
    (r"^entrant unknown \(no registration matched this post\); the post is by @(?P<a>\S+)$",
     r"participant·e inconnu·e (aucune inscription ne correspond à cette publication); la publication est de @\g<a>"),
    (r"^entrant unknown \(no registration matched this post\)$",
     "participant·e inconnu·e (aucune inscription ne correspond à cette publication)"),
    # team contests
    (r"^the account is gone: the platform answered that it does not exist or cannot be loaded \(deleted, "
     r"deactivated, or no longer managed by this token\); open (?P<l>\S+) to check it$",
     r"le compte a disparu : la plateforme a répondu qu'il n'existe pas ou ne peut être chargé (supprimé, "
     r"désactivé, ou plus géré par ce jeton); ouvrez \g<l> pour le vérifier"),
    (r"^no poll ever read this account$", "aucune relève n'a jamais lu ce compte"),
    (r"^last read by a poll " + _D.format("d") + r" \((?P<f>\d+) followers\)$",
     r"lu pour la dernière fois par une relève le \g<d> (\g<f> abonné·es)"),
    (r"^last read by a poll " + _D.format("d") + r"$", r"lu pour la dernière fois par une relève le \g<d>"),
    (r"^the latest poll could not read it \(" + _D.format("d") + r": (?P<e>.*)\)$",
     r"la dernière relève n'a pas pu le lire (\g<d> : \g<e>)"),
    (r"^account still online \(read now by its owner\)$",
     "compte toujours en ligne (relu à l'instant par son ou sa propriétaire)"),
    (r"^the account is now @(?P<a>\S+), it was @(?P<b>\S+) at the close$",
     r"le compte est maintenant @\g<a>, il était @\g<b> à la clôture"),
    (r"^the read gave no followers_count \(is it still a Business or Creator account\?\)$",
     "la relecture n'a donné aucun followers_count (est-ce encore un compte professionnel ou créateur?)"),
    (r"^followers since the close: (?P<a>\S+) → (?P<b>\S+): (?P<n>\d+) fewer \(bought followers removed\?\)$",
     r"abonné·es depuis la clôture : \g<a> → \g<b> : \g<n> de moins (abonné·es acheté·es retiré·es?)"),
    (r"^followers since the close: (?P<a>\S+) → (?P<b>\S+)$", r"abonné·es depuis la clôture : \g<a> → \g<b>"),
    (r"^counted post (?P<m>\S+) \((?P<l>.*)\) is no longer in the account's media \(deleted or archived\)$",
     r"la publication comptée \g<m> (\g<l>) n'est plus dans les médias du compte (supprimée ou archivée)"),
    (r"^counted post (?P<m>\S+): the caption \(now\) no longer holds a contest hashtag$",
     r"la publication comptée \g<m> : la légende (à l'instant) ne contient plus de mot-clic du concours"),
    (r"^(?P<o>\d+) of (?P<n>\d+) counted posts still online \(read now\); engagement since the close: likes "
     r"(?P<l>\S+) → (?P<l2>\S+), comments (?P<c>\S+) → (?P<c2>\S+)$",
     r"\g<o> des \g<n> publications comptées toujours en ligne (relues à l'instant); engagement depuis la clôture : "
     r"J'aime \g<l> → \g<l2>, commentaires \g<c> → \g<c2>"),
]
_COMPILED = [(re.compile(p), r) for p, r in _LINES]
_WHY_COMPILED = [(re.compile(p), r) for p, r in _WHY]
_CANNOT = re.compile(r"^cannot be read: (?P<why>.*); open (?P<l>.+?) to check (?:it|them)$")
_FRAGMENTS = (
    ("(now)", "(à l'instant)"), ("(as last stored)", "(telle qu'enregistrée en dernier)"),
    ("since the standings' reading (the contest is still running)",
     "depuis la lecture du classement (le concours est toujours en cours)"),
    ("since the close", "depuis la clôture"), ("(now;", "(à l'instant;"), ("as last read ", "tel que lu le "),
    ("; the close's counts were read ", "; les nombres de la clôture ont été lus le "),
    ("; the standings' counts were read ", "; les nombres du classement ont été lus le "),
    ("likes and comments dropped", "les J'aime et les commentaires ont baissé"),
    ("likes dropped", "les J'aime ont baissé"), ("comments dropped", "les commentaires ont baissé"),
    ("(bought engagement removed?)", "(engagement acheté retiré?)"),
    ("the caption does not @mention @", "la légende ne mentionne pas @"),
    ("its permalink", "son permalien"), ("the account", "le compte"), ("no permalink", "sans permalien"),
)
_VALUES = re.compile(r"\b(hidden|unknown)\b")

FRAME: dict[str, dict[str, str]] = {
    "en": {"from": "winners and alternates from the {source}:", "winner": "winner", "alternate": "alternate",
           "draw": "draw", "standings": "standings", "trophy": "trophy “{name}” ", "team": "team “{name}” {account}",
           "warning": "warning: ", "not_read": "posts are not read again: {error}",
           "unread": "{n} of {total} could not be read: open their {what} before announcing",
           "profiles": "profiles", "permalinks": "permalinks",
           "warnings": "{n} warning{s}: look at them before announcing"},
    "fr": {"from": "gagnant·es et substituts d'après {source} :", "winner": "gagnant·e", "alternate": "substitut",
           "draw": "le tirage", "standings": "le classement", "trophy": "trophée « {name} » ",
           "team": "équipe « {name} » {account}", "warning": "avertissement : ",
           "not_read": "les publications ne sont pas relues : {error}",
           "unread": "{n} sur {total} impossibles à relire : ouvrez leurs {what} avant d'annoncer",
           "profiles": "profils", "permalinks": "permaliens",
           "warnings": "{n} avertissement{s} : regardez-les avant d'annoncer"},
}
"""check-winners' own lines, by language."""


def dates(text: str) -> str:
    """``2017-04-12 08:30 (UTC−4)`` times in ``text`` written the French way."""
    return _WHEN.sub(lambda m: f"{int(m[3])} {_MONTHS[int(m[2]) - 1]} {m[1]}, {int(m[4])} h {m[5]} ({m[6]})", text)


def french(line: str) -> str:
    """Return one of the checks' English lines in French (unknown ones unchanged but
    for their times)."""
    cannot = _CANNOT.match(line)
    if cannot:
        why = _first(_WHY_COMPILED, cannot["why"])
        link = cannot["l"].replace("its permalink", "son permalien").replace("the account", "le compte")
        return dates(f"lecture impossible : {why}; ouvrez {link} pour vérifier")
    said = _first(_COMPILED, line)
    if said is line:
        return dates(line)
    for english, french_text in _FRAGMENTS:
        said = said.replace(english, french_text)
    said = _VALUES.sub(lambda m: "masqué" if m[1] == "hidden" else "inconnu", said)
    if said.startswith("la légende (") and " ne passe plus : " in said:
        head, problems = said.split(" ne passe plus : ", 1)
        said = head + " ne passe plus : " + "; ".join(scoring_french(p) or p for p in problems.split("; "))
    return dates(said)


def _first(patterns, line: str) -> str:
    for pattern, replacement in patterns:
        if pattern.match(line):
            return pattern.sub(replacement, line, count=1)
    return line
