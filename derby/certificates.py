"""A draw certificate as a page a person can read (French and English, the contest's
language first). Every value comes from the certificate's JSON and is HTML-escaped;
the page says how to check it offline. The JSON file, not this page, is what
``derby draw verify`` checks.
"""

from __future__ import annotations

from html import escape

from derby import clock
from derby.config import Contest

_LABELS = {
    "fr": {
        "title": "Certificat de tirage au sort", "contest": "Concours", "pool": "Bassin",
        "eligible": "toutes les participations admissibles", "top": "les {n} premières participations du classement",
        "weighted": "pondéré par le pointage (poids entier = pointage × 10⁶)", "unweighted": "chances égales",
        "entries": "participations", "as_of": "Classement au", "beacon": "Source d’aléa publique (nommée avant)",
        "value": "Valeur publiée", "commitment": "Engagement SHA-256 (publié avant le tirage)",
        "committed": "Engagement pris le", "ran": "Tirage effectué le", "method": "Méthode",
        "winners": "Gagnant·es", "alternates": "Substituts", "rank": "Rang", "media": "Publication",
        "verify": "Vérifier soi-même, hors ligne", "none": "aucun",
        "verify_text": "Avec le fichier JSON de ce certificat et l’engagement publié avant le tirage\u00a0:",
    },
    "en": {
        "title": "Draw certificate", "contest": "Contest", "pool": "Pool",
        "eligible": "every eligible entry", "top": "the first {n} entries of the standings",
        "weighted": "weighted by score (integer weight = score × 10⁶)", "unweighted": "equal chances",
        "entries": "entries", "as_of": "Standings as of", "beacon": "Public randomness (named beforehand)",
        "value": "Published value", "commitment": "SHA-256 commitment (published before the draw)",
        "committed": "Committed at", "ran": "Drawn at", "method": "Method",
        "winners": "Winners", "alternates": "Alternates", "rank": "Rank", "media": "Post",
        "verify": "Check it yourself, offline", "none": "none",
        "verify_text": "With this certificate's JSON file and the commitment published beforehand:",
    },
}


_METHOD_FR = {
    "hmac-sha256-rank/1": "pour chaque participation, HMAC-SHA256 (clé\u00a0: octets de la valeur publiée, message\u00a0: "
                          "identifiant de la publication en ASCII), lu comme un nombre gros-boutiste; la plus petite "
                          "valeur l’emporte",
    "hmac-sha256-weighted-sequential/1": "tirages successifs sans remise\u00a0: au tirage k, W = poids total restant "
                                         "(ordre du bassin); x = HMAC-SHA256(clé, « draw {k} try {t} ») lu comme un "
                                         "nombre, pour t = 0, 1, … jusqu’à x < 2^256 − (2^256 mod W); est tirée la "
                                         "première participation dont la somme cumulée des poids dépasse x mod W",
}


def _rows(ids: list[str], start: int, permalinks: dict, labels: dict) -> str:
    if not ids:
        return f"<p>{escape(labels['none'])}</p>"
    rows = []
    for n, media_id in enumerate(ids, start=start):
        link = permalinks.get(media_id)
        cell = f'<a href="{escape(link, quote=True)}">{escape(media_id)}</a>' if link and link.startswith("https://") \
            else escape(media_id)
        rows.append(f"<tr><td>{n}</td><td>{cell}</td></tr>")
    return (f"<table><tr><th>{escape(labels['rank'])}</th><th>{escape(labels['media'])}</th></tr>"
            + "".join(rows) + "</table>")


def _section(cert: dict, contest: Contest, lang: str) -> str:
    labels = _LABELS[lang]
    pool = cert["pool"]
    tz = contest.tz
    kind = pool["pool"]
    described = labels["eligible"] if kind == "eligible" else labels["top"].format(n=kind.split(":", 1)[1])
    when = lambda text: clock.format_local(clock.from_store(text), tz, lang)  # noqa: E731
    result = cert["result"]
    winners = result["winners"]
    facts = [
        (labels["contest"], contest.title),
        (labels["pool"], f"{described}, {len(pool['entries'])} {labels['entries']}; "
                         f"{labels['weighted'] if pool['weighted'] else labels['unweighted']}"),
        (labels["as_of"], when(pool["as_of"])),
        (labels["beacon"], pool["beacon"]),
        (labels["value"], cert["value"]["value"]),
        (labels["commitment"], cert["commitment"]),
        (labels["committed"], when(cert["committed_at"])),
        (labels["ran"], when(cert["ran_at"])),
        (labels["method"], _METHOD_FR.get(cert["method"]["name"], cert["method"]["description"]) if lang == "fr"
         else cert["method"]["description"]),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in facts)
    return (
        f'<section lang="{lang}"><h1>{escape(labels["title"])}</h1><dl>{items}</dl>'
        f"<h2>{escape(labels['winners'])}</h2>{_rows(winners, 1, cert.get('permalinks') or {}, labels)}"
        f"<h2>{escape(labels['alternates'])}</h2>"
        f"{_rows(result['alternates'], len(winners) + 1, cert.get('permalinks') or {}, labels)}"
        f"<h2>{escape(labels['verify'])}</h2><p>{escape(labels['verify_text'])}</p>"
        f"<pre>derby draw verify CERTIFICATE.json --commitment {escape(cert['commitment'])}</pre></section>"
    )


def draw_html(cert: dict, contest: Contest, lang: str = "fr") -> str:
    """Return the certificate as a standalone HTML page: the ``lang`` section first
    (``fr`` or ``en``), then the other."""
    order = [lang, "en" if lang == "fr" else "fr"]
    style = ("body{font-family:system-ui,sans-serif;max-width:52em;margin:2em auto;line-height:1.4}"
             "dt{font-weight:bold}dd{margin:0 0 .5em 0;word-break:break-all}"
             "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.2em .6em}"
             "section+section{border-top:2px solid #333;margin-top:2em}")
    body = "".join(_section(cert, contest, lg) for lg in order)
    return (f'<!DOCTYPE html><html lang="{order[0]}"><head><meta charset="utf-8">'
            f"<title>{escape(_LABELS[order[0]]['title'])} — {escape(contest.title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")
