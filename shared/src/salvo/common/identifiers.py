"""The one rule for run and executor ids, which become S3 keys, file names, log words and gate-line fields."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["IDENTIFIER_RULE", "MAX_IDENTIFIER_CHARS", "Identifier", "check_identifier"]

MAX_IDENTIFIER_CHARS = 128
# A letter or digit first: no '.', '..' or '-' can lead (no path step, no option); no '/', space or control character.
_IDENTIFIER = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._\-]{{0,{MAX_IDENTIFIER_CHARS - 1}}}")
IDENTIFIER_RULE = f"expected a letter or digit, then letters, digits, '.', '_' or '-' (at most {MAX_IDENTIFIER_CHARS})"


def check_identifier(value: str) -> str:
    """`value` if it follows the rule (SALVO_RUN_ID, SALVO_EXECUTOR_ID, and their wire copies), else ValueError."""
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(IDENTIFIER_RULE)
    return value


Identifier = Annotated[str, AfterValidator(check_identifier)]
