"""A real worker killed with SLA timers pending: after a restart nothing is missed and nothing doubled.

Six hand-offs get due-time tasks on a Redis queue. A Huey consumer breaches the first three and
sends their notices; three more timers are scheduled, and the consumer is killed (SIGKILL) before
they are due. Their due time passes with no worker running; a second consumer picks the overdue
timers off the Redis schedule, and the sweep runs on top. Every breach is notified exactly once per
recipient and channel: in the app, by email, and one webhook post each.
"""

import os
import signal
import subprocess
import time
import uuid

import pytest

from tandem.core.tests.redis_support import (
    SharedDatabase,
    manage,
    redis_url,
    require_redis,
    start_consumer,
    wait_for,
)
from tandem.handoff.models import Notification
from tandem.sla.models import DeliveryStatus, SlaBreach, SlaDelivery
from tandem.sla.tests.support import WebhookReceiver, make_handoff, new_york

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WAIT_SECONDS = 180
EARLY_SECONDS = 3
LATE_SECONDS = 20


def _start_clocks(environment, handoff_ids: list[int], *, assignee_id: int, seconds: int) -> None:
    """Assign these queued hand-offs in another process, clocks due `seconds` from now (one scheduled task)."""
    manage(
        environment,
        "import datetime as dt\n"
        "from django.utils import timezone\n"
        "from tandem.handoff.models import Handoff\n"
        "from tandem.sla.services import sla_clocks_started\n"
        "now = timezone.now()\n"
        f"Handoff.objects.filter(pk__in={handoff_ids}).update(status='pending', assignee_id={assignee_id}, "
        f"routed_at=now, sla_status='pending', sla_policy='tier_1', due_at=now + dt.timedelta(seconds={seconds}))\n"
        f"sla_clocks_started(handoffs=list(Handoff.objects.filter(pk__in={handoff_ids})))\n",
    )


def _breaches(database: SharedDatabase) -> int:
    return database.fetch_one("SELECT count(*) FROM sla_slabreach")[0]


def test_a_killed_worker_misses_no_timer_and_doubles_no_notice(cast, tmp_path):
    url = redis_url()
    client = require_redis(url)
    receiver = WebhookReceiver()
    # Waiting in the queue until the test assigns them, so the sweep has no clock of its own to start.
    handoffs = [
        make_handoff(assignee=None, at=new_york(2026, 3, 13, 16, 30), email=f"lead{index}@firm{index}.com")
        for index in range(6)
    ]
    database = SharedDatabase(tmp_path)
    queue_name = f"tandemsla{uuid.uuid4().hex}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tandem.settings",
        "DATABASE_URL": database.url,
        "REDIS_URL": url,
        "TANDEM_HUEY_NAME": queue_name,
        "TANDEM_DATA_DIR": str(tmp_path / "data"),
        "TANDEM_SLA_WEBHOOK_URL": receiver.url,
        "TANDEM_EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
    }
    ids = [handoff.pk for handoff in handoffs]
    log = tmp_path / "consumers.log"
    consumers = []
    try:
        consumers.append(start_consumer(environment, log, workers=2))
        _start_clocks(environment, ids[:3], assignee_id=cast.sdr.pk, seconds=EARLY_SECONDS)
        wait_for(lambda: len(receiver.posts) == 3, "the first three breaches to be posted", log, seconds=WAIT_SECONDS)
        # Three more timers go on the schedule while the worker runs; it dies before they are due.
        _start_clocks(environment, ids[3:], assignee_id=cast.sdr.pk, seconds=LATE_SECONDS)
        scheduled_at = time.monotonic()
        consumers[0].send_signal(signal.SIGKILL)
        assert consumers[0].wait(timeout=30) == -signal.SIGKILL
        assert _breaches(database) == 3
        assert len(receiver.posts) == 3

        # The later timers fall due while no worker runs.
        wait_for(
            lambda: time.monotonic() - scheduled_at > LATE_SECONDS + 1, "the later due time", log, seconds=WAIT_SECONDS
        )
        assert _breaches(database) == 3
        consumers.append(start_consumer(environment, log, workers=2))
        wait_for(lambda: len(receiver.posts) == 6, "the later breaches after the restart", log, seconds=WAIT_SECONDS)
        swept = manage(environment, "from tandem.sla.services import sla_sweep\nprint(sla_sweep())\nprint(sla_sweep())")
        assert "breached=0" in swept.splitlines()[-1] and "sent=0" in swept.splitlines()[-1]
        wait_for(
            lambda: log.read_text().count("Subject: SLA breached") >= 12,
            "the twelve breach emails to be sent",
            log,
            seconds=WAIT_SECONDS,
        )
        time.sleep(2)  # let anything that would double show up before the queue is torn down
    finally:
        for consumer in consumers:
            if consumer.poll() is None:
                consumer.terminate()
                try:
                    consumer.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    consumer.kill()
                    consumer.wait()
        for key in client.scan_iter(match=f"huey.*{queue_name}*"):
            client.delete(key)
        receiver.close()
    database.bring_back()

    assert SlaBreach.objects.count() == 6
    assert sorted(SlaBreach.objects.values_list("handoff_id", flat=True)) == sorted(ids)
    assert len(receiver.posts) == 6
    assert len({post["text"] for post in receiver.posts}) == 6
    assert log.read_text().count("Subject: SLA breached") == 12
    assert Notification.objects.filter(kind="sla_breach", user=cast.sdr).count() == 6
    assert Notification.objects.filter(kind="sla_breach", user=cast.sales_manager).count() == 6
    assert SlaDelivery.objects.count() == 30  # 6 breaches x (2 people x 2 channels + 1 webhook)
    assert SlaDelivery.objects.filter(status=DeliveryStatus.SENT).count() == 30
