"""What an e-mail reader and a chat channel get from the alerts topic, on moto, read back as they
would get it.

The function publishes with MessageStructure=json (one message per protocol). moto delivers to SQS
and http(s) subscribers itself, choosing each protocol's part as SNS does; it sends no e-mail but
keeps every message published to a topic. So:

- chat: ``HttpsInbox`` is an https endpoint on 127.0.0.1 (a self-signed certificate made here)
  subscribed with protocol https, the way Amazon Q Developer in chat applications subscribes; it
  keeps the SNS envelopes moto POSTs to it. moto posts with ``requests``, which trusts the
  certificate once REQUESTS_CA_BUNDLE names it (``trust_environment``).
- e-mail: ``email_messages`` asks moto's own e-mail subscription object for its part of each
  message the topic recorded (moto's code picks the part, not ours). That goes through two private
  methods of moto's SNS backend (``_find_subscription``, ``_parse_message_structure``): moto is
  pinned (requirements-dev.in, moto 5.2.5), and ``_moto_email_part`` is the one place that calls
  them, turning a moto that changed them into one error that says so.

moto keeps its backends per process: this works with ``mock_aws`` and with the moto server that
local mode runs in-process, not with a moto server in another process.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from local_mode.loopback import BackgroundServer, LoopbackHTTPServer
from local_mode.moto_server import ACCOUNT_ID, REGION, AlertingResources, aws_client

__all__ = ["EMAIL_READER", "HttpsInbox", "MotoInternalsChanged", "email_messages", "subscribe_readers"]

EMAIL_READER = "oncall@example.com"  # the e-mail subscriber local mode and the tests subscribe


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA (one day), and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "athena-session-monitor local chat inbox")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "inbox-cert.pem", directory / "inbox-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class HttpsInbox(BackgroundServer):
    """An https endpoint on 127.0.0.1 that answers 200 and keeps each request body (JSON)."""

    thread_name = "https-inbox"

    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self._directory = tempfile.TemporaryDirectory(prefix="session-monitor-inbox-")
        self.certificate, self._key = _self_signed_certificate(Path(self._directory.name))
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def _make_server(self) -> LoopbackHTTPServer:
        import ssl

        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with inbox._lock:
                    inbox.received.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:  # quiet: local mode prints its own story
                pass

        server = LoopbackHTTPServer(self.port, Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certificate, self._key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        return server

    @property
    def url(self) -> str:
        return super().url.replace("http://", "https://", 1)

    def trust_environment(self) -> dict[str, str]:
        """What makes ``requests`` (moto's sender) trust this inbox's certificate."""
        return {"REQUESTS_CA_BUNDLE": str(self.certificate)}

    def envelopes(self) -> list[dict[str, Any]]:
        """The SNS notifications received so far (each with Type, MessageId, Subject, Message...)."""
        with self._lock:
            return [body for body in self.received if body.get("Type") == "Notification"]

    def messages(self) -> list[dict[str, Any]]:
        """The ``Message`` of each notification, parsed: what a chat channel renders."""
        return [json.loads(envelope["Message"]) for envelope in self.envelopes()]

    def stop(self) -> None:
        super().stop()
        self._directory.cleanup()


def subscribe_readers(resources: AlertingResources, inbox: HttpsInbox | None = None) -> None:
    """Subscribe an e-mail reader and (if given) the chat inbox to the alerts topic."""
    sns = aws_client("sns", resources.endpoint_url)
    try:
        sns.subscribe(TopicArn=resources.topic_arn, Protocol="email", Endpoint=EMAIL_READER)
        if inbox is not None:
            sns.subscribe(TopicArn=resources.topic_arn, Protocol="https", Endpoint=inbox.url)
    finally:
        sns.close()


class MotoInternalsChanged(RuntimeError):
    """moto's SNS backend no longer has the private methods ``email_messages`` reads."""


def _moto_email_part(topic_arn: str, address: str) -> Callable[[str], str]:
    """moto's e-mail subscription of ``address`` to the topic, as a function from a published
    message to the part SNS would e-mail (the only use of moto's private SNS methods)."""
    from moto.sns.exceptions import InvalidParameterValue
    from moto.sns.models import sns_backends

    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else REGION
    backend = sns_backends[ACCOUNT_ID][region]
    try:
        subscription = backend._find_subscription(topic_arn, address, "email")
        if subscription is None:
            raise LookupError(f"{address} is not subscribed to {topic_arn}")
        pick = subscription._parse_message_structure
    except AttributeError as error:
        raise MotoInternalsChanged(
            f"moto's SNS backend changed ({error}): local_mode/deliveries.py reads its private "
            "_find_subscription and _parse_message_structure, written for the pinned moto 5.2.5"
        ) from None

    def email_part(message: str) -> str:
        try:
            return str(pick(message, "email"))
        except InvalidParameterValue:  # no "default" key: published plain (too big per protocol)
            return message

    return email_part


def email_messages(topic_arn: str, address: str = EMAIL_READER) -> list[str]:
    """The e-mail text SNS would send ``address`` for each message published to the topic, chosen
    by moto's own subscription object (the e-mail part of a MessageStructure=json message, else
    the message itself)."""
    from moto.sns.models import sns_backends

    email_part = _moto_email_part(topic_arn, address)
    region = topic_arn.split(":")[3] if topic_arn.count(":") >= 5 else REGION
    topic = sns_backends[ACCOUNT_ID][region].get_topic(topic_arn)
    return [email_part(message) for _id, message, *_rest in topic.sent_notifications]
