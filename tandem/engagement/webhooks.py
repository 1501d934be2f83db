"""Email engagement from email services: their webhook bodies as Tandem events, signatures checked.

Each provider's parser takes the raw body (and headers) and returns events in Tandem's own
format (the format of POST /api/v1/events), which are then checked and stored like any other.
Every event gets a client event id derived from the provider's own event id, so a webhook the
provider retries is stored once.

Signatures: SendGrid's Signed Event Webhook (ECDSA P-256 over timestamp + body, verified here
with the verification key in TANDEM_SENDGRID_VERIFICATION_KEY), Mailgun (HMAC-SHA256 of
timestamp + token with TANDEM_MAILGUN_SIGNING_KEY), Amazon SES through SNS (RSA signature with
the certificate at SigningCertURL, only from sns.<region>.amazonaws.com). Postmark does not sign
its webhooks; the key in the webhook URL authenticates it, as it does every provider.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
from urllib.parse import urlsplit


class WebhookRefused(ValueError):
    """A webhook body that cannot be taken: the HTTP status and why."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(message)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _epoch(value) -> str:
    try:
        return _iso(dt.datetime.fromtimestamp(float(value), dt.UTC))
    except (TypeError, ValueError, OverflowError):
        raise WebhookRefused(422, f"'{str(value)[:40]}' is not a Unix timestamp.") from None


def _json(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise WebhookRefused(422, f"Malformed JSON: {error}.") from None


def _event(kind, *, email, occurred_at, event_id, provider, url="", properties=None) -> dict:
    event = {
        "type": kind,
        "email": str(email).strip(),
        "occurred_at": occurred_at,
        "client_event_id": f"{provider}-{event_id}"[:100],
        "channel": "email",
        "properties": {"provider": provider, **(properties or {})},
    }
    if url:
        event["url"] = str(url)[:2000]
    return event


# --- ECDSA P-256 (NIST curve secp256r1), enough to verify a signature ---------------------------------------------

_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_A = _P - 3
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    if p1[0] == p2[0] and (p1[1] + p2[1]) % _P == 0:
        return None
    if p1 == p2:
        slope = (3 * p1[0] * p1[0] + _A) * pow(2 * p1[1], -1, _P) % _P
    else:
        slope = (p2[1] - p1[1]) * pow(p2[0] - p1[0], -1, _P) % _P
    x = (slope * slope - p1[0] - p2[0]) % _P
    return x, (slope * (p1[0] - x) - p1[1]) % _P


def _multiply(k: int, point):
    result = None
    while k:
        if k & 1:
            result = _add(result, point)
        point = _add(point, point)
        k >>= 1
    return result


def _der_integers(signature: bytes) -> tuple[int, int]:
    """(r, s) from a DER SEQUENCE of two INTEGERs."""
    if len(signature) < 8 or signature[0] != 0x30:
        raise ValueError("not a DER sequence")
    position, values = 2, []
    for _ in range(2):
        if signature[position] != 0x02:
            raise ValueError("not a DER integer")
        length = signature[position + 1]
        values.append(int.from_bytes(signature[position + 2 : position + 2 + length], "big"))
        position += 2 + length
    return values[0], values[1]


def _public_point(key_base64: str):
    """The curve point of a base64 DER SubjectPublicKeyInfo of a P-256 key (uncompressed point at its end)."""
    der = base64.b64decode(
        key_base64.strip().replace("-----BEGIN PUBLIC KEY-----", "").replace("-----END PUBLIC KEY-----", "")
    )
    point = der[-65:]
    if len(point) != 65 or point[0] != 4:
        raise ValueError("not an uncompressed P-256 public key")
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    if (y * y - (x * x * x + _A * x + _B)) % _P:
        raise ValueError("the point is not on the curve")
    return x, y


def ecdsa_p256_verify(*, public_key: str, message: bytes, signature_base64: str) -> bool:
    """Whether `signature_base64` (DER, base64) is a valid ECDSA P-256 SHA-256 signature of `message`."""
    try:
        point = _public_point(public_key)
        r, s = _der_integers(base64.b64decode(signature_base64))
    except (ValueError, IndexError, TypeError):
        return False
    if not (0 < r < _N and 0 < s < _N):
        return False
    digest = int.from_bytes(hashlib.sha256(message).digest(), "big")
    inverse = pow(s, -1, _N)
    total = _add(_multiply(digest * inverse % _N, _G), _multiply(r * inverse % _N, point))
    return total is not None and total[0] % _N == r


# --- Providers --------------------------------------------------------------------------------------------------

SENDGRID_TYPES = {
    "processed": "email_sent",
    "delivered": "email_delivered",
    "open": "email_open",
    "click": "email_click",
    "bounce": "email_bounce",
    "dropped": "email_bounce",
    "unsubscribe": "email_unsubscribe",
    "group_unsubscribe": "email_unsubscribe",
    "spamreport": "email_unsubscribe",
}


def sendgrid_events(body: bytes, headers: dict, *, verification_key: str) -> list[dict]:
    """SendGrid's Event Webhook: a JSON list; signed (ECDSA over timestamp + body) when a key is configured."""
    if not verification_key:
        raise WebhookRefused(403, "SendGrid webhooks need TANDEM_SENDGRID_VERIFICATION_KEY to check their signature.")
    signature = headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    timestamp = headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    if not signature or not timestamp:
        raise WebhookRefused(401, "The SendGrid signature headers are missing.")
    if not ecdsa_p256_verify(
        public_key=verification_key, message=timestamp.encode() + body, signature_base64=signature
    ):
        raise WebhookRefused(401, "The SendGrid signature does not match the body.")
    items = _json(body)
    if not isinstance(items, list):
        raise WebhookRefused(422, "A SendGrid webhook body is a JSON list of events.")
    return sendgrid_items_events(items)


def sendgrid_items_events(items: list) -> list[dict]:
    """SendGrid's events (the decoded, verified list) as Tandem events; deferrals and account events are left out."""
    events = []
    for item in items:
        kind = SENDGRID_TYPES.get(item.get("event")) if isinstance(item, dict) else None
        if kind is None:
            continue  # deferred and the account events are not engagement
        event_id = item.get("sg_event_id") or hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()
        properties = {key: item[key] for key in ("sg_message_id", "category", "reason", "response") if key in item}
        events.append(
            _event(
                kind,
                email=item.get("email", ""),
                occurred_at=_epoch(item.get("timestamp")),
                event_id=event_id,
                provider="sendgrid",
                url=item.get("url", ""),
                properties={"event": item.get("event"), **properties},
            )
        )
    return events


MAILGUN_TYPES = {
    "accepted": "email_sent",
    "delivered": "email_delivered",
    "opened": "email_open",
    "clicked": "email_click",
    "failed": "email_bounce",
    "unsubscribed": "email_unsubscribe",
    "complained": "email_unsubscribe",
}


def mailgun_signature_valid(*, signing_key: str, timestamp: str, token: str, signature: str) -> bool:
    expected = hmac.new(signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, str(signature))


def mailgun_events(body: bytes, headers: dict, *, signing_key: str) -> list[dict]:
    """Mailgun's webhooks: {"signature": {...}, "event-data": {...}}, HMAC-signed with the webhook signing key."""
    if not signing_key:
        raise WebhookRefused(403, "Mailgun webhooks need TANDEM_MAILGUN_SIGNING_KEY to check their signature.")
    payload = _json(body)
    signature = payload.get("signature") if isinstance(payload, dict) else None
    data = payload.get("event-data") if isinstance(payload, dict) else None
    if not isinstance(signature, dict) or not isinstance(data, dict):
        raise WebhookRefused(422, 'A Mailgun webhook body has "signature" and "event-data".')
    if not mailgun_signature_valid(
        signing_key=signing_key,
        timestamp=str(signature.get("timestamp", "")),
        token=str(signature.get("token", "")),
        signature=str(signature.get("signature", "")),
    ):
        raise WebhookRefused(401, "The Mailgun signature does not match.")
    kind = MAILGUN_TYPES.get(data.get("event"))
    if kind is None or (data.get("event") == "failed" and data.get("severity") == "temporary"):
        return []
    message_id = ((data.get("message") or {}).get("headers") or {}).get("message-id", "")
    return [
        _event(
            kind,
            email=data.get("recipient", ""),
            occurred_at=_epoch(data.get("timestamp")),
            event_id=data.get("id") or signature.get("token"),
            provider="mailgun",
            url=data.get("url", ""),
            properties={
                "event": data.get("event"),
                "message_id": message_id,
                **({"tags": data["tags"]} if data.get("tags") else {}),
            },
        )
    ]


POSTMARK_TYPES = {
    "Delivery": ("email_delivered", "Recipient", "DeliveredAt"),
    "Open": ("email_open", "Recipient", "ReceivedAt"),
    "Click": ("email_click", "Recipient", "ReceivedAt"),
    "Bounce": ("email_bounce", "Email", "BouncedAt"),
    "SpamComplaint": ("email_unsubscribe", "Email", "BouncedAt"),
    "SubscriptionChange": ("email_unsubscribe", "Recipient", "ChangedAt"),
}


def _postmark_time(value) -> str:
    text = str(value or "")
    # Postmark writes seven fraction digits (2019-11-05T16:33:54.9070259Z); Python reads up to six.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return _iso(dt.datetime.fromisoformat(text))
    except ValueError:
        raise WebhookRefused(422, f"'{str(value)[:40]}' is not a Postmark time.") from None


def postmark_events(body: bytes, headers: dict) -> list[dict]:
    """Postmark's webhooks: one JSON record per request, told apart by RecordType."""
    record = _json(body)
    if not isinstance(record, dict) or "RecordType" not in record:
        raise WebhookRefused(422, "A Postmark webhook body is a JSON object with a RecordType.")
    known = POSTMARK_TYPES.get(record["RecordType"])
    if known is None:
        return []
    kind, email_field, time_field = known
    if record["RecordType"] == "SubscriptionChange" and not record.get("SuppressSending"):
        return []  # a resubscription
    moment = _postmark_time(record.get(time_field))
    event_id = record.get("ID") or f"{record['RecordType']}-{record.get('MessageID', '')}-{moment}"
    return [
        _event(
            kind,
            email=record.get(email_field, ""),
            occurred_at=moment,
            event_id=event_id,
            provider="postmark",
            url=record.get("OriginalLink", ""),
            properties={
                "record_type": record["RecordType"],
                "message_id": record.get("MessageID", ""),
                **({"tag": record["Tag"]} if record.get("Tag") else {}),
            },
        )  # fmt: skip
    ]


# --- SNS message signatures (RSA PKCS#1 v1.5 with the signing certificate) --------------------------------------

SNS_CERT_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
_DIGEST_INFO = {
    "1": (hashlib.sha1, bytes.fromhex("3021300906052b0e03021a05000414")),
    "2": (hashlib.sha256, bytes.fromhex("3031300d060960864801650304020105000420")),
}
# Signing certificates by URL, as (modulus, exponent): fetched once per process.
sns_certificates: dict[str, tuple[int, int]] = {}


def _der_read(data: bytes, position: int) -> tuple[int, bytes, int]:
    """(tag, content, next position) of the DER element at `position`."""
    tag, length = data[position], data[position + 1]
    position += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[position : position + count], "big")
        position += count
    return tag, data[position : position + length], position + length


def _der_children(content: bytes) -> list[tuple[int, bytes]]:
    children, position = [], 0
    while position < len(content):
        tag, child, position = _der_read(content, position)
        children.append((tag, child))
    return children


def rsa_public_key_of_certificate(pem: str) -> tuple[int, int]:
    """The RSA modulus and exponent of an X.509 certificate in PEM."""
    body = "".join(line for line in pem.strip().splitlines() if line and not line.startswith("-----"))
    _tag, certificate, _end = _der_read(base64.b64decode(body), 0)
    _tag, tbs = _der_children(certificate)[0]
    fields = _der_children(tbs)
    if fields[0][0] == 0xA0:  # the optional [0] version
        fields = fields[1:]
    _tag, key_info = fields[5]  # serial, signature algorithm, issuer, validity, subject, then the key
    _algorithm, (_bit_tag, bits) = _der_children(key_info)
    _tag, rsa_key, _end = _der_read(bits[1:], 0)  # a bit string's first byte counts its unused bits
    (_n_tag, modulus), (_e_tag, exponent) = _der_children(rsa_key)
    return int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big")


def sns_string_to_sign(message: dict) -> bytes:
    """The text SNS signs: each signed field present, its name and its value on lines of their own."""
    names = _SNS_FIELDS.get(message.get("Type"), ())
    return "".join(f"{name}\n{message[name]}\n" for name in names if name in message).encode()


def rsa_pkcs1_verify(*, key: tuple[int, int], message: bytes, signature: bytes, version: str) -> bool:
    """Whether `signature` is an RSA PKCS#1 v1.5 signature of `message` (SHA-1 for SNS version 1, SHA-256 for 2)."""
    if version not in _DIGEST_INFO:
        return False
    modulus, exponent = key
    size = (modulus.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    hash_function, prefix = _DIGEST_INFO[version]
    digest = prefix + hash_function(message).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    recovered = pow(int.from_bytes(signature, "big"), exponent, modulus).to_bytes(size, "big")
    return hmac.compare_digest(recovered, expected)


def _fetch_certificate(address: str) -> str:
    import urllib.request

    with urllib.request.urlopen(address, timeout=5) as answer:  # noqa: S310 - https and an Amazon SNS host
        return answer.read().decode()


def sns_certificate(url: str, *, fetch=_fetch_certificate) -> tuple[int, int]:
    """The public key of an SNS signing certificate; only from https://sns.<region>.amazonaws.com/….pem."""
    if url not in sns_certificates:
        parts = urlsplit(url)
        if parts.scheme != "https" or not SNS_CERT_HOST.match(parts.hostname or "") or not parts.path.endswith(".pem"):
            raise WebhookRefused(401, f"'{url[:200]}' is not an Amazon SNS signing certificate address.")
        try:
            sns_certificates[url] = rsa_public_key_of_certificate(fetch(url))
        except (OSError, ValueError, IndexError) as error:
            raise WebhookRefused(503, f"The SNS signing certificate could not be read ({error}).") from None
    return sns_certificates[url]


def sns_signature_valid(envelope: dict) -> bool:
    """Whether an SNS message carries a valid signature by the certificate it names."""
    try:
        signature = base64.b64decode(str(envelope.get("Signature", "")), validate=True)
    except ValueError:
        return False
    key = sns_certificate(str(envelope.get("SigningCertURL", "")))
    message = sns_string_to_sign(envelope)
    return rsa_pkcs1_verify(
        key=key, message=message, signature=signature, version=str(envelope.get("SignatureVersion"))
    )


SES_TYPES = {
    "Send": "email_sent",
    "Delivery": "email_delivered",
    "Open": "email_open",
    "Click": "email_click",
    "Bounce": "email_bounce",
    "Complaint": "email_unsubscribe",
}


def ses_events(body: bytes, headers: dict, *, topic_arns: list[str]) -> list[dict]:
    """Amazon SES event publishing through an SNS topic: the SNS envelope, the SES event inside it.

    Only topics listed in TANDEM_SES_TOPIC_ARNS are taken. A subscription confirmation is
    answered with its SubscribeURL, for the operator to open once.
    """
    envelope = _json(body)
    if not isinstance(envelope, dict) or "Type" not in envelope:
        raise WebhookRefused(422, "An SNS message is a JSON object with a Type.")
    if envelope.get("TopicArn") not in topic_arns:
        raise WebhookRefused(
            403, f"The SNS topic '{str(envelope.get('TopicArn'))[:200]}' is not in TANDEM_SES_TOPIC_ARNS."
        )
    if not sns_signature_valid(envelope):
        raise WebhookRefused(401, "The SNS signature does not match the message.")
    if envelope["Type"] == "SubscriptionConfirmation":
        raise WebhookRefused(202, f"Confirm the subscription by opening {envelope.get('SubscribeURL', '')}")
    if envelope["Type"] != "Notification":
        return []
    message = _json(str(envelope.get("Message", "")).encode())
    kind_name = message.get("eventType") or message.get("notificationType") if isinstance(message, dict) else None
    kind = SES_TYPES.get(kind_name)
    if kind is None:
        return []
    mail = message.get("mail") or {}
    detail = message.get(kind_name[0].lower() + kind_name[1:]) or {}
    if kind_name == "Bounce":
        recipients = [item.get("emailAddress", "") for item in detail.get("bouncedRecipients", [])]
    elif kind_name == "Complaint":
        recipients = [item.get("emailAddress", "") for item in detail.get("complainedRecipients", [])]
    elif kind_name == "Delivery":
        recipients = detail.get("recipients") or mail.get("destination", [])
    else:
        recipients = mail.get("destination", [])
    moment = detail.get("timestamp") or mail.get("timestamp")
    try:
        occurred_at = _iso(dt.datetime.fromisoformat(str(moment).replace("Z", "+00:00")))
    except ValueError:
        raise WebhookRefused(422, f"'{str(moment)[:40]}' is not an SES time.") from None
    return [
        _event(
            kind,
            email=recipient,
            occurred_at=occurred_at,
            event_id=f"{envelope.get('MessageId', mail.get('messageId', ''))}-{index}",
            provider="ses",
            url=detail.get("link", ""),
            properties={"event": kind_name, "message_id": mail.get("messageId", "")},
        )
        for index, recipient in enumerate(recipients)
    ]


def generic_events(body: bytes, headers: dict) -> list[dict]:
    """Tandem's own format: {"events": [...]} or one event, each an email_* type with an email."""
    payload = _json(body)
    events = payload.get("events") if isinstance(payload, dict) and "events" in payload else [payload]
    if not isinstance(events, list):
        raise WebhookRefused(422, 'The body is one event or {"events": [...]}.')
    for index, event in enumerate(events):
        if not isinstance(event, dict) or not str(event.get("type", "")).startswith("email_"):
            raise WebhookRefused(422, f"events[{index}]: an email webhook event has an email_* type.")
        event.setdefault("channel", "email")
    return events
