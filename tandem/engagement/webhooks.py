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

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


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


# --- Signatures, checked with the cryptography library ----------------------------------------------------------


def _public_key_der(key_text: str) -> bytes:
    """A public key given as base64 DER, with or without the PEM armour lines."""
    lines = [line.strip() for line in key_text.strip().splitlines()]
    return base64.b64decode("".join(line for line in lines if line and not line.startswith("-----")), validate=True)


def ecdsa_p256_verify(*, public_key: str, message: bytes, signature_base64: str) -> bool:
    """Whether `signature_base64` (DER, base64) is a valid ECDSA P-256 SHA-256 signature of `message`."""
    try:
        key = serialization.load_der_public_key(_public_key_der(public_key))
        signature = base64.b64decode(signature_base64, validate=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return False
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


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
# SignatureVersion 1 signs with SHA-1, version 2 with SHA-256.
_SNS_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
# Signing certificates' public keys by URL: fetched once per process.
sns_certificates: dict[str, rsa.RSAPublicKey] = {}


def rsa_public_key_of_certificate(pem: str) -> rsa.RSAPublicKey:
    """The RSA public key of an X.509 certificate in PEM; ValueError for anything else."""
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the certificate's key is not an RSA key")
    return key


def sns_string_to_sign(message: dict) -> bytes:
    """The text SNS signs: each signed field present, its name and its value on lines of their own."""
    names = _SNS_FIELDS.get(message.get("Type"), ())
    return "".join(f"{name}\n{message[name]}\n" for name in names if name in message).encode()


def rsa_pkcs1_verify(*, key: rsa.RSAPublicKey, message: bytes, signature: bytes, version: str) -> bool:
    """Whether `signature` is an RSA PKCS#1 v1.5 signature of `message` (SHA-1 for SNS version 1, SHA-256 for 2)."""
    if version not in _SNS_HASHES:
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), _SNS_HASHES[version]())
    except InvalidSignature:
        return False
    return True


def _fetch_certificate(address: str) -> str:
    import urllib.request

    with urllib.request.urlopen(address, timeout=5) as answer:  # noqa: S310 - https and an Amazon SNS host
        return answer.read().decode()


def sns_certificate(url: str, *, fetch=_fetch_certificate) -> rsa.RSAPublicKey:
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
