"""Revert states the operator signs: deleting a policy applies each enactment's
status.revertState as root on its node, and whoever may write enactment status could otherwise
put any state there.

The signature is an HMAC over the state, the enactment's name and the policy's uid (a state
copied to another node or another policy does not verify), keyed from the operator's SSH
private key: whoever can read that key is root on the nodes already.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

FIELD = "revertStateSignature"
PURPOSE = b"nodenet.nmstate revertState v1\0"


def signing_key(private_key: Path) -> bytes:
    return hashlib.sha256(PURPOSE + Path(private_key).read_bytes()).digest()


def canonical(value):
    """JSON as the API server gives it back: a whole float comes back as an integer."""
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def sign(key: bytes, enactment: str, policy_uid: str, state: dict) -> str:
    message = json.dumps(
        [enactment, policy_uid, canonical(state)], sort_keys=True, separators=(",", ":")
    )
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def verified(key: bytes, enactment: str, policy_uid: str, state, signature) -> bool:
    if not isinstance(state, dict) or not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(key, enactment, policy_uid, state), signature)


def sign_for(key: bytes, enactment: dict, policy: dict, state: dict) -> str:
    """The signature `state` gets as the revert state of `enactment` of `policy`."""
    return sign(key, enactment["metadata"]["name"], policy["metadata"]["uid"], state)


def holds_signed_state(key: bytes, enactment: dict, policy: dict) -> bool:
    """Whether the enactment's revertState carries this operator's signature."""
    status = enactment.get("status") or {}
    name, uid = enactment["metadata"]["name"], policy["metadata"]["uid"]
    return verified(key, name, uid, status.get("revertState"), status.get(FIELD))
