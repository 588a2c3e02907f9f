#!/usr/bin/env python3
"""An independent DSSE + Ed25519 implementation (Python `cryptography`), used by cordon's tests
to check that cordon's envelopes verify elsewhere and that cordon verifies envelopes made
elsewhere. It follows the DSSE v1 protocol text, not cordon's code.

usage:
  dsse_interop.py verify ENVELOPE PUBLIC_KEY_JSON   exit 0 if a signature by that key verifies
  dsse_interop.py sign MANIFEST OUT_PREFIX           new key: OUT_PREFIX.pub (cordon format)
                                                     and OUT_PREFIX.envelope.json
"""
import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PAYLOAD_TYPE = "application/vnd.cordon.manifest.v1+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def b64decode(text: str) -> bytes:
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def verify(envelope_path: str, key_path: str) -> int:
    with open(key_path) as f:
        key_file = json.load(f)
    raw = b64decode(key_file["publicKey"])
    keyid = hashlib.sha256(raw).hexdigest()
    if keyid != key_file["keyid"]:
        print(f"key file id {key_file['keyid']} does not match key {keyid}")
        return 1
    key = Ed25519PublicKey.from_public_bytes(raw)
    with open(envelope_path) as f:
        env = json.load(f)
    payload = b64decode(env["payload"])
    message = pae(env["payloadType"], payload)
    for sig in env["signatures"]:
        if sig.get("keyid") != keyid:
            continue
        try:
            key.verify(b64decode(sig["sig"]), message)
        except InvalidSignature:
            print("signature does not verify")
            return 1
        print(f"ok sha256:{hashlib.sha256(payload).hexdigest()} {env['payloadType']}")
        return 0
    print("no signature by that key")
    return 1


def sign(manifest_path: str, prefix: str) -> int:
    with open(manifest_path, "rb") as f:
        payload = f.read()
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keyid = hashlib.sha256(raw).hexdigest()
    with open(prefix + ".pub", "w") as f:
        json.dump({"kind": "cordon-public-key", "algorithm": "ed25519", "keyid": keyid,
                   "publicKey": base64.b64encode(raw).decode()}, f)
    sig = key.sign(pae(PAYLOAD_TYPE, payload))
    env = {"payload": base64.b64encode(payload).decode(), "payloadType": PAYLOAD_TYPE,
           "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()}]}
    with open(prefix + ".envelope.json", "w") as f:
        json.dump(env, f)
    print(keyid)
    return 0


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "verify":
        return verify(sys.argv[2], sys.argv[3])
    if len(sys.argv) == 4 and sys.argv[1] == "sign":
        return sign(sys.argv[2], sys.argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
