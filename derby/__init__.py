"""derby: run an Instagram hashtag contest from the feed to the winners."""

__version__ = "0.1.0"
