"""HMAC signatures of processor callbacks (pure functions, both sides of the wire)."""

import pytest
from payments.providers.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, sign, verify

SECRET = "s3cret"
BODY = b'{"event_id": "e1"}'


def test_a_signature_verifies_against_the_same_body_secret_and_time():
    headers = sign(BODY, secret=SECRET, timestamp=1_000_000)
    verify(BODY, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER], secret=SECRET,
           now=1_000_100)


@pytest.mark.parametrize("body, secret, now", [
    (BODY + b" ", SECRET, 1_000_000),          # body changed
    (BODY, "other", 1_000_000),                 # another secret
    (BODY, SECRET, 1_000_301),                  # older than five minutes
    (BODY, SECRET, 999_699),                    # from the future
])
def test_anything_else_is_refused(body, secret, now):
    headers = sign(BODY, secret=SECRET, timestamp=1_000_000)
    with pytest.raises(SignatureError):
        verify(body, timestamp=headers[TIMESTAMP_HEADER], signature=headers[SIGNATURE_HEADER], secret=secret, now=now)


def test_the_timestamp_is_part_of_what_is_signed():
    headers = sign(BODY, secret=SECRET, timestamp=1_000_000)
    with pytest.raises(SignatureError):
        verify(BODY, timestamp="1000001", signature=headers[SIGNATURE_HEADER], secret=SECRET, now=1_000_000)
