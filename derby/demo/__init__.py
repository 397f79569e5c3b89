"""The bundled demo contest: ``contest.toml`` and its recorded ``replay/`` folder."""
