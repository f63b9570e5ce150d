"""HMAC-SHA256 signatures of processor callbacks (shared by the sandbox processor and the webhook).

The processor signs ``f"{timestamp}.{body}"`` with the shared secret and sends::

    X-Processor-Timestamp: 1767225600            (unix seconds)
    X-Processor-Signature: sha256=<hex digest>

A callback is accepted only with a valid signature and a timestamp within ``TOLERANCE_SECONDS`` of
now, so a captured callback cannot be replayed later with a fresh effect (and a replay inside the
window is a no-op because its event id was already applied). Pure Python: no Django import, so the
sandbox can use it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Processor-Timestamp"
SIGNATURE_HEADER = "X-Processor-Signature"
TOLERANCE_SECONDS = 300
# Development default only: `make run` and the tests use it unless the variable is set.
DEV_WEBHOOK_SECRET = "lendsimple-dev-processor-webhook-secret-do-not-use-in-production"


class SignatureError(Exception):
    pass


def webhook_secret() -> str:
    """The shared secret; in production (``LENDSIMPLE_ENV``) a missing or development one stops the service."""
    from common import conf

    return conf.secret("LENDSIMPLE_PROCESSOR_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET)


def sign(body: bytes, *, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers that sign ``body``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: f"sha256={digest}"}


def verify(body: bytes, *, timestamp: str | None, signature: str | None, secret: str,
           now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> None:
    """Raise ``SignatureError`` unless ``signature`` signs ``timestamp.body`` and is fresh."""
    if not timestamp or not signature:
        raise SignatureError("missing signature headers")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("malformed timestamp") from None
    if abs((time.time() if now is None else now) - ts) > tolerance:
        raise SignatureError("stale timestamp")
    expected = sign(body, secret=secret, timestamp=ts)[SIGNATURE_HEADER]
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise SignatureError("signature does not match")
