"""Email webhooks with the services' own sample payloads: parsed, verified, stored once."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import time_machine

from tandem.crm.models import Person
from tandem.engagement import webhooks
from tandem.engagement.models import Touchpoint
from tandem.engagement.webhooks import (
    ecdsa_p256_verify,
    postmark_events,
    rsa_public_key_of_certificate,
    sendgrid_items_events,
    sns_string_to_sign,
)
from tandem.integrations.services import token_create

SAMPLES = Path(__file__).with_name("samples")
OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.django_db


def sample(name):
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture
def key(cast):
    return token_create(by=cast.revops, user=cast.revops, name="Email service").secret


def test_sendgrids_signature_vector_verifies_and_a_changed_byte_does_not():
    signed = sample("sendgrid_signed.json")
    message = signed["timestamp"].encode() + signed["body"].encode()
    assert ecdsa_p256_verify(public_key=signed["public_key"], message=message, signature_base64=signed["signature"])
    assert not ecdsa_p256_verify(
        public_key=signed["public_key"],
        message=message.replace(b"dropped", b"droppex"),
        signature_base64=signed["signature"],
    )
    other_key = (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj"
        "+y7GjUuFDb/R1NGe1OPzpA=="
    )
    assert not ecdsa_p256_verify(public_key=other_key, message=message, signature_base64=signed["signature"])


def test_a_signed_sendgrid_webhook_is_stored_and_a_tampered_one_refused(client, key, settings):
    signed = sample("sendgrid_signed.json")
    settings.TANDEM_SENDGRID_VERIFICATION_KEY = signed["public_key"]
    headers = {
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_SIGNATURE": signed["signature"],
        "HTTP_X_TWILIO_EMAIL_EVENT_WEBHOOK_TIMESTAMP": signed["timestamp"],
    }
    url = f"/hooks/email/sendgrid/?key={key}"
    with time_machine.travel(dt.datetime(2020, 9, 14, 20, 0, tzinfo=dt.UTC), tick=False):
        tampered = client.post(
            url, signed["body"].replace("Bounced", "Bouncee"), content_type="application/json", **headers
        )
        assert tampered.status_code == 401
        assert tampered.json() == {"detail": "The SendGrid signature does not match the body."}
        assert Touchpoint.objects.count() == 0
        response = client.post(url, signed["body"], content_type="application/json", **headers)
        again = client.post(url, signed["body"], content_type="application/json", **headers)
    assert response.status_code == 200
    assert response.json()["stored"] == 1
    assert again.json()["stored"] == 0
    point = Touchpoint.objects.get()
    assert (point.type, point.channel, point.person.email) == ("email_bounce", "email", "hello@world.com")
    assert point.occurred_at == dt.datetime(2020, 9, 14, 19, 41, 32, tzinfo=dt.UTC)
    assert point.client_event_id == "sendgrid-ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    assert point.properties["reason"] == "Bounced Address"


def test_sendgrid_without_a_configured_key_is_refused(client, key, settings):
    settings.TANDEM_SENDGRID_VERIFICATION_KEY = ""
    response = client.post(f"/hooks/email/sendgrid/?key={key}", "[]", content_type="application/json")
    assert response.status_code == 403
    assert "TANDEM_SENDGRID_VERIFICATION_KEY" in response.json()["detail"]


def test_sendgrids_documented_events_map_to_touchpoint_types():
    events = sendgrid_items_events(sample("sendgrid_events.json"))
    assert [(event["type"], event["properties"]["event"]) for event in events] == [
        ("email_sent", "processed"),
        ("email_delivered", "delivered"),
        ("email_open", "open"),
        ("email_click", "click"),
        ("email_bounce", "bounce"),
        ("email_unsubscribe", "unsubscribe"),
    ]
    assert events[3]["url"] == "http://www.sendgrid.com/"
    assert {event["email"] for event in events} == {"example@test.com"}
    assert events[0]["occurred_at"] == "2017-12-15T00:59:29+00:00"


def _mailgun_body(signing_key: str, *, signature: str | None = None) -> bytes:
    payload = sample("mailgun_delivered.json")
    part = payload["signature"]
    part["signature"] = (
        signature
        or hmac.new(signing_key.encode(), (part["timestamp"] + part["token"]).encode(), hashlib.sha256).hexdigest()
    )
    return json.dumps(payload).encode()


def test_a_mailgun_webhook_is_verified_by_its_hmac(client, key, settings):
    settings.TANDEM_MAILGUN_SIGNING_KEY = "key-mailgun-signing-test"
    url = f"/hooks/email/mailgun/?key={key}"
    with time_machine.travel(dt.datetime(2018, 6, 15, tzinfo=dt.UTC), tick=False):
        forged = client.post(url, _mailgun_body("another-key"), content_type="application/json")
        assert forged.status_code == 401
        assert Touchpoint.objects.count() == 0
        response = client.post(url, _mailgun_body("key-mailgun-signing-test"), content_type="application/json")
    assert response.status_code == 200
    point = Touchpoint.objects.get()
    assert (point.type, point.person.email, point.client_event_id) == (
        "email_delivered",
        "alice@example.com",
        "mailgun-DACSsAdVSeGpLid7TN03WA",
    )
    assert point.properties["tags"] == ["my_tag_1", "my_tag_2"]
    assert point.occurred_at == dt.datetime(2018, 6, 14, 20, 7, 34, 329574, tzinfo=dt.UTC)


def test_postmarks_records_become_touchpoints(client, key):
    records = sample("postmark.json")
    url = f"/hooks/email/postmark/?key={key}"
    with time_machine.travel(dt.datetime(2020, 2, 2, tzinfo=dt.UTC), tick=False):
        for record in records.values():
            assert client.post(url, json.dumps(record), content_type="application/json").status_code == 200
        assert client.post(url, json.dumps(records["open"]), content_type="application/json").json()["stored"] == 0
    stored = sorted(Touchpoint.objects.values_list("type", "person__email", "url"))
    assert stored == [
        ("email_bounce", "john@example.com", ""),
        ("email_click", "john@example.com", "https://example.com"),
        ("email_delivered", "john@example.com", ""),
        ("email_open", "john@example.com", ""),
        ("email_unsubscribe", "bounced-address@wildbit.com", ""),
    ]
    assert Touchpoint.objects.get(type="email_open").occurred_at == dt.datetime(
        2019, 11, 5, 16, 33, 54, 907025, tzinfo=dt.UTC
    )


def test_a_postmark_resubscription_is_not_an_unsubscribe():
    record = {**sample("postmark.json")["subscription_change"], "SuppressSending": False}
    assert postmark_events(json.dumps(record).encode(), {}) == []


@pytest.fixture
def sns_signer(tmp_path):
    """A key and self-signed certificate made by openssl, standing in for Amazon's signing certificate."""
    if not OPENSSL:
        pytest.skip("the openssl command is not installed")
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(  # noqa: S603
        [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
         "-days", "2", "-subj", "/CN=sns.amazonaws.com"],
        check=True, capture_output=True,
    )  # fmt: skip

    def sign(envelope: dict, version: str = "1") -> dict:
        envelope = {**envelope, "SignatureVersion": version}
        digest = "-sha1" if version == "1" else "-sha256"
        signature = subprocess.run(  # noqa: S603
            [OPENSSL, "dgst", digest, "-sign", key],
            input=sns_string_to_sign(envelope),
            capture_output=True,
            check=True,
        ).stdout
        return {**envelope, "Signature": base64.b64encode(signature).decode()}

    webhooks.sns_certificates.clear()
    yield sign, certificate.read_text()
    webhooks.sns_certificates.clear()


def test_a_certificates_rsa_key_is_read_as_openssl_reads_it(sns_signer):
    _sign, pem = sns_signer
    numbers = rsa_public_key_of_certificate(pem).public_numbers()
    modulus, exponent = numbers.n, numbers.e
    shown = subprocess.run(  # noqa: S603
        [OPENSSL, "x509", "-noout", "-modulus"], input=pem.encode(), capture_output=True, check=True
    ).stdout.decode()
    assert modulus == int(shown.strip().removeprefix("Modulus="), 16)
    assert exponent == 65537


def test_ses_events_arrive_signed_through_an_allowed_sns_topic(client, key, settings, sns_signer):
    sign, pem = sns_signer
    envelope = sample("ses_open_sns.json")
    webhooks.sns_certificates[envelope["SigningCertURL"]] = rsa_public_key_of_certificate(pem)
    url = f"/hooks/email/ses/?key={key}"
    settings.TANDEM_SES_TOPIC_ARNS = ["arn:aws:sns:us-east-1:123456789012:other-topic"]
    assert client.post(url, json.dumps(sign(envelope)), content_type="text/plain").status_code == 403
    settings.TANDEM_SES_TOPIC_ARNS = ["arn:aws:sns:us-east-1:123456789012:ses-engagement"]
    unsigned = client.post(url, json.dumps(envelope), content_type="text/plain")  # the docs' placeholder signature
    assert unsigned.status_code == 401
    forged = {**sign(envelope), "Message": envelope["Message"].replace("recipient@", "someone@")}
    assert client.post(url, json.dumps(forged), content_type="text/plain").status_code == 401
    assert Touchpoint.objects.count() == 0
    with time_machine.travel(dt.datetime(2017, 8, 10, tzinfo=dt.UTC), tick=False):
        response = client.post(url, json.dumps(sign(envelope, version="2")), content_type="text/plain")
    assert response.status_code == 200
    point = Touchpoint.objects.get()
    assert (point.type, point.person.email) == ("email_open", "recipient@example.com")
    assert point.occurred_at == dt.datetime(2017, 8, 9, 22, 0, 41, 722000, tzinfo=dt.UTC)
    confirmation = sign(
        {**envelope, "Type": "SubscriptionConfirmation", "SubscribeURL": "https://sns.example/confirm", "Token": "t"}
    )
    answer = client.post(url, json.dumps(confirmation), content_type="text/plain")
    assert answer.status_code == 202
    assert answer.json() == {"detail": "Confirm the subscription by opening https://sns.example/confirm"}


def test_an_sns_certificate_is_only_taken_from_amazon(client, key, settings, sns_signer):
    sign, _pem = sns_signer
    envelope = {**sample("ses_open_sns.json"), "SigningCertURL": "https://evil.example/SimpleNotificationService-1.pem"}
    settings.TANDEM_SES_TOPIC_ARNS = [envelope["TopicArn"]]
    response = client.post(f"/hooks/email/ses/?key={key}", json.dumps(sign(envelope)), content_type="text/plain")
    assert response.status_code == 401
    address = "https://evil.example/SimpleNotificationService-1.pem"
    assert response.json() == {"detail": f"'{address}' is not an Amazon SNS signing certificate address."}
    assert webhooks.sns_certificates == {}


def test_the_generic_format_and_a_missing_key(client, key):
    body = {"events": [{"type": "email_open", "email": "kim@acme.com", "client_event_id": "esp-1"}]}
    assert client.post("/hooks/email/generic/", json.dumps(body), content_type="application/json").status_code == 401
    wrong = {"events": [{"type": "page_view", "email": "kim@acme.com"}]}
    refused = client.post(f"/hooks/email/generic/?key={key}", json.dumps(wrong), content_type="application/json")
    assert refused.status_code == 422
    assert Touchpoint.objects.count() == 0
    response = client.post(f"/hooks/email/generic/?key={key}", json.dumps(body), content_type="application/json")
    assert response.json()["stored"] == 1
    assert Person.objects.get(email="kim@acme.com").touchpoints.get().channel == "email"
