"""Shared helpers of the SLA tests: hand-offs made directly, and a webhook receiver on a local port."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

from tandem.crm.tests.factories import make_account, make_person
from tandem.handoff.models import Handoff, HandoffStatus

NEW_YORK = ZoneInfo("America/New_York")


def new_york(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NEW_YORK)


def make_handoff(*, assignee, at: dt.datetime, icp_tier: int | None = 1, email: str = "pat@acme.com", **fields):
    """An assigned, pending hand-off of a new MQL, as routing leaves it (the clock not yet started)."""
    account = make_account(name=f"Account of {email}", domain=email.split("@")[1])
    person = make_person(email=email, stage="mql", account=account)
    return Handoff.objects.create(
        person=person,
        account=account,
        assignee=assignee,
        team=assignee.team if assignee is not None else None,
        status=HandoffStatus.PENDING if assignee is not None else HandoffStatus.QUEUED,
        icp_tier=icp_tier,
        created_at=at,
        routed_at=at if assignee is not None else None,
        **fields,
    )


class WebhookReceiver:
    """A local HTTP endpoint that records JSON posts; it answers `fail_next` requests with 500 first."""

    def __init__(self):
        self.posts: list[dict] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    self.send_response(500)
                else:
                    receiver.posts.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/sla"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
