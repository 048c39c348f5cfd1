#!/usr/bin/env python3
"""A local SMTP sink for the test suite (and for trying mail by hand).

    python3 tests/mail/sink.py PORT MAILDIR [--remove-on-exit]

Listens on 127.0.0.1:PORT (0 = any free port), plain SMTP without AUTH or
TLS, and files every accepted message, as the client sent it, into the
maildir MAILDIR (new/), behind four headers of its own:

    X-Sink-Seq: 1            (order of arrival, from 1)
    X-Peer: 127.0.0.1
    X-MailFrom: sender@example.com
    X-RcptTo: a@example.com, b@example.com   (the envelope recipients)

Addresses that exercise failures:

    *@refused.test   refused at RCPT TO with 550 5.1.1 mailbox unavailable
    *@tempfail.test  the whole message refused at DATA with 451 4.3.0 try again later

Prints exactly one line, "PORT <n>", once listening, and exits when its
standard input reaches end of file (so it dies with the process that
started it; at a terminal, press Ctrl-D, or Ctrl-C). With
--remove-on-exit it deletes MAILDIR on the way out.
"""

import argparse
import asyncio
import itertools
import logging
import mailbox
import os
import shutil
import sys
import threading

from aiosmtpd.smtp import SMTP

REFUSED_DOMAIN = "@refused.test"
TEMPFAIL_DOMAIN = "@tempfail.test"


class Sink:
    """An aiosmtpd handler: aiosmtpd.handlers.Mailbox plus refusals."""

    def __init__(self, maildir):
        # An existing empty directory becomes a maildir too.
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        self.maildir = mailbox.Maildir(maildir, create=False)
        self.seq = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith(REFUSED_DOMAIN):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if any(r.lower().endswith(TEMPFAIL_DOMAIN) for r in envelope.rcpt_tos):
            return "451 4.3.0 try again later"
        peer = session.peer[0] if isinstance(session.peer, tuple) else session.peer
        trace = (
            f"X-Sink-Seq: {next(self.seq)}\r\n"
            f"X-Peer: {peer}\r\n"
            f"X-MailFrom: {envelope.mail_from}\r\n"
            f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n"
        )
        # Maildir.add writes into tmp/ and renames into new/: a reader never
        # sees half a message.
        self.maildir.add(trace.encode("utf-8") + envelope.original_content)
        return "250 OK"


def exit_at_eof(maildir, remove):
    """Blocks on standard input; at its end, leaves the whole process."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        if remove:
            shutil.rmtree(maildir, ignore_errors=True)
        os._exit(0)


async def serve(port, maildir):
    handler = Sink(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.localhost", enable_SMTPUTF8=True),
        host="127.0.0.1",
        port=port,
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int, help="port on 127.0.0.1; 0 for any free port")
    parser.add_argument("maildir", help="maildir to file messages into (created when missing)")
    parser.add_argument(
        "--remove-on-exit", action="store_true", help="delete MAILDIR when the sink exits"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every SMTP session")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.ERROR,
        format="sink: %(levelname)s %(message)s",
    )
    threading.Thread(
        target=exit_at_eof, args=(args.maildir, args.remove_on_exit), daemon=True
    ).start()
    try:
        asyncio.run(serve(args.port, args.maildir))
    except KeyboardInterrupt:
        pass
    finally:
        if args.remove_on_exit:
            shutil.rmtree(args.maildir, ignore_errors=True)


if __name__ == "__main__":
    main()
