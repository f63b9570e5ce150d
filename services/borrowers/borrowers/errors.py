"""Error codes and messages of the borrowers service (tests import these constants)."""

from __future__ import annotations

from enum import StrEnum


class BorrowerErrorCode(StrEnum):
    NOT_FOUND = "borrower_not_found"
    VERSION_MISMATCH = "borrower_version_mismatch"
    CHANGE_NOT_ALLOWED = "borrower_change_not_allowed"
    BAD_IF_MATCH = "borrower_bad_if_match"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    BAD_IDEMPOTENCY_KEY = "bad_idempotency_key"


NOT_FOUND = "borrower not found"
VERSION_MISMATCH = "the borrower was changed by someone else (version {current}, you sent {expected}); reload and retry"
CHANGE_NOT_ALLOWED = "you may view this borrower but not change it"
BAD_IF_MATCH = "If-Match must be the borrower's version, e.g. \"3\" (as sent in the ETag header)"
IDEMPOTENCY_KEY_REUSED = "this Idempotency-Key was already used with a different request body"
BAD_IDEMPOTENCY_KEY = "Idempotency-Key must be 1-255 printable ASCII characters"
