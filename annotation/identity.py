"""Pseudonymous identity: keyed hashes of crowd ids and signed participant tokens.

The raw crowd-platform id is hashed with a secret key (HMAC-SHA256) so that a returning worker
can be recognised without the id being recoverable from a database dump. Participant tokens are
signed, not stored: the same participant always gets the same token back, so a resumed session
or a second tab keeps working, and there is nothing in the database to steal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core import signing

TOKEN_SALT = "rpl.participant-token"


def external_id_hash(*, study_id: int, external_id: str) -> str:
    key = settings.PARTICIPANT_ID_SECRET.encode()
    message = f"{study_id}:{external_id.strip()}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def new_pseudonym() -> str:
    return "P" + secrets.token_hex(5).upper()


def participant_token(*, participant_id: int) -> str:
    return signing.Signer(salt=TOKEN_SALT).sign(str(participant_id))


def participant_id_from_token(token: str) -> int | None:
    try:
        value = signing.Signer(salt=TOKEN_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None
