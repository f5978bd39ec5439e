"""A checker for Chinese reports: runs of English words left in the text.

Code spans, HTML tags and entities, URLs and identifiers (words with ``_``, digits, dots or slashes) are not
prose and are removed first; what is left may not hold ``n`` or more English words in a row.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"`[^`\n]*`")
_TAG = re.compile(r"<[^>]*>|&[a-z]+;|&#\d+;")
_URL = re.compile(r"\b(?:https?|file|models|runs)://\S+|\S+\.(?:md|json|csv|png|html|yaml|xlsx)\b")
_IDENT = re.compile(r"[A-Za-z0-9]*[_./\\][\w./\\-]*")
_WORD = r"[A-Za-z][A-Za-z'’-]*"


def english_runs(text: str, n: int = 4) -> list[str]:
    """Every run of ``n`` or more English words separated only by spaces or commas."""
    for pattern in (_CODE, _TAG, _URL, _IDENT):
        text = pattern.sub(" ", text)
    run = re.compile(rf"{_WORD}(?:[ ,]+{_WORD}){{{n - 1},}}")
    return run.findall(text)
