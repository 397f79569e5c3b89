"""derby: run an Instagram hashtag contest from the feed to the winners."""

__version__ = "0.1.0"

import logging as _logging

# a library's habit: without a handler configured by the CLI (derby run), derby's log
# records go nowhere rather than to Python's last-resort stderr handler
_logging.getLogger("derby").addHandler(_logging.NullHandler())
