"""A real SMTP server on loopback for the invitation tests (aiosmtpd, through lib/mail_catcher):
plain, or STARTTLS with AUTH and a self-signed certificate made here, with the faults real
servers show: a 550 for one address, a 421 before accepting, a connection dropped after the
message arrived (the server has it, the client never hears so)."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from lib.mail_catcher import CatchingHandler, MailCatcher

USER, PASSWORD = "rep@example.com", "app-pass:w0rd@1"


@dataclass
class Faults:
    refuse: dict[str, str] = field(default_factory=dict)  # address → the 5xx reply to RCPT
    busy_first: int = 0  # answer the first N messages' data with 421
    drop_after_data: set[str] = field(default_factory=set)  # addresses whose message is kept, then the line cut


class FaultyHandler(CatchingHandler):
    def __init__(self, faults: Faults) -> None:
        super().__init__()
        self.faults = faults
        self.data_replies = Counter[str]()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:  # noqa: N802
        if address.lower() in self.faults.refuse:
            return self.faults.refuse[address.lower()]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.data_replies["all"] += 1
        if self.data_replies["all"] <= self.faults.busy_first:
            return "421 4.7.0 Too many messages, try again later"
        self.keep(envelope)
        if any(r.lower() in self.faults.drop_after_data for r in envelope.rcpt_tos):
            server.transport.abort()  # the message is ours; the client never hears the 250
        return "250 2.0.0 OK: queued"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost, made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "giftrun-test-smtp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


def start_server(
    faults: Faults | None = None, *, tls_folder: Path | None = None, auth: bool = False, implicit_tls: bool = False
) -> MailCatcher:
    """A started server; with `tls_folder`, STARTTLS (or TLS from the start) with a certificate
    written there (`tls_folder / "smtp-cert.pem"` is the CA to trust)."""
    kwargs: dict[str, Any] = {}
    if tls_folder is not None:
        cert, key = self_signed(tls_folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        if implicit_tls:
            kwargs["ssl_context"] = context
        else:
            kwargs.update(tls_context=context, require_starttls=True)
    if auth:
        # aiosmtpd counts only STARTTLS as TLS for AUTH; a TLS-from-the-start socket is TLS all along
        kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=not implicit_tls)
    return MailCatcher(FaultyHandler(faults or Faults()), **kwargs).start()
