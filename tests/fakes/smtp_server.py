#!/usr/bin/python3
"""A real SMTP server for the notification tests: aiosmtpd (Debian's
python3-aiosmtpd) on loopback, requiring STARTTLS before AUTH and AUTH
before mail, with the certificate and key given. Each message it accepts is
appended to OUT as one JSON line; it prints "ready" once it listens, then
serves until killed.

usage: smtp_server.py PORT CERT KEY USER PASSWORD OUT
"""
import json
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def main():
    port, cert, key, user, password, out = sys.argv[1:7]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok)

    class Keep:
        async def handle_DATA(self, server, session, envelope):
            with open(out, "a") as f:
                f.write(json.dumps({
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "tls": session.ssl is not None,
                    "login": session.authenticated,
                    "data": envelope.content.decode("utf8", "replace"),
                }) + "\n")
            return "250 Message accepted for delivery"

    controller = Controller(
        Keep(),
        hostname="127.0.0.1",
        port=int(port),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
        server_hostname="localhost",
    )
    controller.start()
    print("ready", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    controller.stop()


main()
