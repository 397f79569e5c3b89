"""The words of ``derby status`` in French and English: the report's lines and the
problems it names. Standard library only; :mod:`derby.health` fills them in.

Keys of :data:`PROBLEMS` name one problem each; their ``{…}`` fields are the values
:func:`derby.health.judge` passes (times already written for the language). Stored
error texts (derby's own, the platform's) are quoted as they came.
"""

from __future__ import annotations

PROBLEMS: dict[str, dict[str, str]] = {
    "en": {
        "lock_unknown": "cannot tell whether derby run is polling: {lock} cannot be opened by this user; run derby "
                        "status as the daemon's user (sudo -u derby …)",
        "not_polling": "no derby run is polling this database during the contest: start it (systemctl start derby)",
        "left_running": "poll #{id} was left running by a process that ended; its stored pages are kept, and the "
                        "next command that writes marks it interrupted",
        "last_failed": "the last poll (#{id}) ended {status}: {error}", "no_error": "no error text",
        "ended_failed": "failed", "ended_partial": "partial", "ended_skipped": "skipped",
        "ended_interrupted": "interrupted",
        "cooldown": "the feed asked to cool down: no poll before {when}",
        "stale_ahead": "no successful poll of #{tag} since {since}: posts are lost for good unless a poll succeeds "
                       "before {lost}",
        "stale_lost": "no successful poll of #{tag} since {since}: posts published between then and {limit} are out "
                      "of recent_media's 24-hour reach; only top_media may still show some",
        "gap": "coverage gap on #{tag}: posts from {start} to {end} ({hours} h) may be lost",
        "team_failed": "team “{name}” (account {account}) could not be read: {error}",
        "refresh_off": "{source} refreshes are off since {since}: {reason}",
    },
    "fr": {
        "lock_unknown": "impossible de savoir si derby run relève cette base : {lock} ne s'ouvre pas pour cet "
                        "utilisateur; lancez derby status sous l'utilisateur du service (sudo -u derby …)",
        "not_polling": "aucun derby run ne relève cette base pendant le concours : démarrez-le (systemctl start derby)",
        "left_running": "la relève n° {id} est restée en cours après la fin de son processus; ses pages enregistrées "
                        "sont gardées et la prochaine commande qui écrit la marque interrompue",
        "last_failed": "la dernière relève (n° {id}) s'est terminée {status} : {error}", "no_error": "sans texte d'erreur",
        "ended_failed": "en échec", "ended_partial": "partielle", "ended_skipped": "sautée",
        "ended_interrupted": "interrompue",
        "cooldown": "la plateforme a demandé une pause : aucune relève avant le {when}",
        "stale_ahead": "aucune relève réussie de #{tag} depuis le {since} : des publications seront perdues pour de "
                       "bon si aucune relève ne réussit avant le {lost}",
        "stale_lost": "aucune relève réussie de #{tag} depuis le {since} : les publications parues entre ce moment et "
                      "le {limit} sont hors de la portée de 24 heures de recent_media; seul top_media peut encore en "
                      "montrer",
        "gap": "trou de couverture sur #{tag} : les publications du {start} au {end} ({hours} h) sont peut-être "
               "perdues",
        "team_failed": "l'équipe « {name} » (compte {account}) n'a pas pu être lue : {error}",
        "refresh_off": "les relectures par {source} sont désactivées depuis le {since} : {reason}",
    },
}
"""Each problem of ``derby status``, by language."""

LINES: dict[str, dict[str, str]] = {
    "en": {
        "contest": "contest: {title}: {phase}{left} {until}", "left": ", {duration} left", "closed": " (closed {when})",
        "until_not_started": "until the start", "until_running": "until the end", "until_grace": "until the final poll",
        "not_started": "not started", "running": "running", "grace": "grace", "final_poll_due": "final poll due",
        "phase_closed": "closed", "day": "d", "on": "{when}",
        "daemon_running": "daemon: running, pid {pid} on {host} since {since}; next poll {next}",
        "daemon_stopped": "daemon: not running", "never": "never",
        "next_polling": "once the poll running now ends",
        "last_poll": "last poll", "last_successful_poll": "last successful poll",
        "poll": "{label}: #{id} {status} at {when}, {new} {new_w} and {updated} updated media", "poll_error": "; error: {error}",
        "poll_none": "{label}: never",
        "ok": "ok", "failed": "failed", "partial": "partial", "skipped": "skipped", "interrupted": "interrupted",
        "status_running": "running",
        "cooldown": "cool-down: {what}", "cooldown_until": "until {when}", "none": "none",
        "token": "token: {state}", "token_ok": "ok", "token_unknown": "unknown", "token_action_needed": "action_needed",
        "budget_teams": "hashtag budget: not used (a team contest makes no hashtag search)",
        "budget_unknown": "hashtag budget: unknown (INSTAGRAM_USER_ID not set)",
        "budget": "hashtag budget: {used} of {limit} used in the last 7 days by account {account}",
        "budget_next": ", next slot frees {when}",
        "team": "team {name} ({account}): last read {when}", "team_failures": "; {n} failed read(s) since",
        "team_error": "; last error: {error}",
        "coverage": "coverage: {reads}", "coverage_read": "#{tag} read {when}",
        "gaps": "coverage gaps: {gaps}", "gap": "#{tag} {start} → {end} ({hours} h{ack})", "ack": ", acknowledged", "no_gaps": "none",
        "database": "database: {mb} MB; {media} {media_w}, {snapshots} {snapshots_w}, {polls} {polls_w}",
        "snapshot": "snapshot", "snapshots": "snapshots", "poll_run": "poll run", "poll_runs": "poll runs",
        "medium": "media", "media": "media", "new": "new", "news": "new",
        "action_needed": "ACTION", "degraded": "warning", "problem": "{level}: {message}",
        "health": "health: {state}", "health_ok": "ok", "health_degraded": "degraded",
        "health_action_needed": "action_needed",
    },
    "fr": {
        "contest": "concours : {title} : {phase}{left} {until}", "left": ", {duration} restants",
        "closed": " (clôture {when})",
        "until_not_started": "avant le début", "until_running": "avant la fin", "until_grace": "avant la dernière relève",
        "not_started": "à venir", "running": "en cours", "grace": "délai de grâce", "final_poll_due": "dernière relève due",
        "phase_closed": "terminé", "day": "j", "on": "le {when}",
        "daemon_running": "derby run : en marche, pid {pid} sur {host} depuis {since}; prochaine relève {next}",
        "daemon_stopped": "derby run : arrêté", "never": "jamais",
        "next_polling": "à la fin de la relève en cours",
        "last_poll": "dernière relève", "last_successful_poll": "dernière relève réussie",
        "poll": "{label} : n° {id} {status} {when} : {new} {new_w}, {updated} mis à jour",
        "poll_error": "; erreur : {error}", "poll_none": "{label} : aucune",
        "ok": "réussie", "failed": "en échec", "partial": "partielle", "skipped": "sautée", "interrupted": "interrompue",
        "status_running": "en cours",
        "cooldown": "pause imposée : {what}", "cooldown_until": "jusqu'au {when}", "none": "aucune",
        "token": "jeton : {state}", "token_ok": "ok", "token_unknown": "inconnu", "token_action_needed": "action requise",
        "budget_teams": "quota de mots-clics : inutilisé (un concours d'équipes ne cherche aucun mot-clic)",
        "budget_unknown": "quota de mots-clics : inconnu (INSTAGRAM_USER_ID n'est pas défini)",
        "budget": "quota de mots-clics : {used} sur {limit} utilisés ces 7 derniers jours par le compte {account}",
        "budget_next": ", prochaine place libre {when}",
        "team": "équipe {name} ({account}) : dernière lecture {when}",
        "team_failures": "; {n} lecture(s) en échec depuis", "team_error": "; dernière erreur : {error}",
        "coverage": "couverture : {reads}", "coverage_read": "#{tag} lu {when}",
        "gaps": "trous de couverture : {gaps}", "gap": "#{tag} {start} → {end} ({hours} h{ack})",
        "ack": ", reconnu", "no_gaps": "aucun",
        "database": "base de données : {mb} Mo; {media} {media_w}, {snapshots} {snapshots_w}, {polls} {polls_w}",
        "snapshot": "relevé", "snapshots": "relevés", "poll_run": "relève", "poll_runs": "relèves",
        "medium": "média", "media": "médias", "new": "nouveau média", "news": "nouveaux médias",
        "action_needed": "ACTION", "degraded": "avertissement", "problem": "{level} : {message}",
        "health": "état : {state}", "health_ok": "ok", "health_degraded": "dégradé",
        "health_action_needed": "action requise",
    },
}
"""The lines of ``derby status`` (text format), by language."""
