"""`tandem serve`: migrate, then run the web server and the background worker together."""

import os
import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError

DEMO_PASSWORD = "tandem-demo"  # noqa: S105 -- the published password of the demo users
STOP_GRACE_SECONDS = 15
READY_TIMEOUT_SECONDS = 60


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Migrate, then run the web server and the background worker (--demo loads demo data into an empty database)."

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="Load demo data first if there are no people yet.")
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument("--workers", type=_positive, default=2, help="Web server processes (default 2).")
        parser.add_argument("--threads", type=_positive, default=4, help="Threads per web server process.")
        parser.add_argument(
            "--queue-workers",
            type=_positive,
            help="Background worker threads (default TANDEM_WORKERS or 2).",
        )

    def handle(self, *args, **options):
        self.check_port_free(options["host"], options["port"])
        quiet = max(0, options["verbosity"] - 1)
        self.stdout.write("Applying database migrations ...")
        call_command("migrate", interactive=False, verbosity=quiet)
        call_command("collectstatic", interactive=False, verbosity=quiet)
        if options["demo"]:
            self.load_demo()

        host, port = options["host"], options["port"]
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tandem.settings",
            # Children resolve a relative data directory the same way, even from another cwd.
            "TANDEM_DATA_DIR": str(settings.DATA_DIR),
        }
        worker_command = [sys.executable, "-m", "tandem.cli", "manage", "run_huey"]
        if options["queue_workers"]:
            worker_command += ["--workers", str(options["queue_workers"])]
        # gunicorn's asyncio worker: event collection is answered in its event loop (a fraction of
        # the CPU a thread-per-request worker spends on each small request); pages run on threads.
        web_command = [
            sys.executable, "-m", "gunicorn", "tandem.asgi:application",
            "--bind", f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
            "--worker-class", "asgi",
            "--workers", str(options["workers"]),
            "--graceful-timeout", str(STOP_GRACE_SECONDS - 5),
            "--no-control-socket",
        ]  # fmt: skip
        web_environment = {**environment, "TANDEM_WEB_THREADS": str(options["threads"])}

        # Own process groups: a Ctrl-C reaches the children once, through us, not twice.
        worker = subprocess.Popen(worker_command, env=environment, start_new_session=True)  # noqa: S603
        web = subprocess.Popen(web_command, env=web_environment, start_new_session=True)  # noqa: S603
        children = {"web server": web, "background worker": worker}
        received = []

        def forward(signum, frame):
            received.append(signum)
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signum)

        previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.wait_until_listening(host, port, children):
                self.announce(host, port)
            stopped_name, stopped = self.wait_for_first_exit(children)
            if not received:
                self.stderr.write(
                    f"The {stopped_name} stopped (exit code {stopped.returncode}); stopping the other process."
                )
            self.stop(children, already_signalled=bool(received))
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if received:
            self.stdout.write("Tandem stopped.")
            return
        raise CommandError(f"The {stopped_name} stopped unexpectedly.", returncode=1)

    def check_port_free(self, host, port):
        """Refuse early, before anything starts, when another program holds the port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                raise CommandError(
                    f"port: cannot listen on {host}:{port} ({error.strerror}); "
                    "is Tandem already running? Choose another with --port."
                ) from None

    def load_demo(self):
        from tandem.crm.models import Person

        if Person.objects.exists():
            self.stdout.write("The database already has people in it, so no demo data is loaded.")
            return
        if "demo" not in get_commands():
            self.stderr.write(
                self.style.WARNING(
                    "--demo: the demo data generator (`tandem demo`) is not installed in this "
                    "build yet, so no demo data was loaded; starting with an empty database."
                )
            )
            return
        self.stdout.write("The database is empty: generating the demo company ...")
        call_command("demo")

    def wait_until_listening(self, host, port, children) -> bool:
        """Wait until the web server accepts connections; False if a child died first."""
        connect_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if any(child.poll() is not None for child in children.values()):
                return False
            try:
                with socket.create_connection((connect_host, port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.2)
        self.stderr.write(f"The web server is not answering on port {port} yet; still waiting.")
        return False

    def announce(self, host, port):
        from tandem.users.selectors import demo_users

        shown_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
        url = f"http://[{shown_host}]:{port}/" if ":" in shown_host else f"http://{shown_host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"Tandem is running at {url}"))
        demo_user = demo_users().first()
        if demo_user is not None:
            if demo_user.check_password(DEMO_PASSWORD):
                self.stdout.write(f"Sign in at {url} as {demo_user.email} / password {DEMO_PASSWORD}")
            else:
                self.stdout.write(f"Sign in at {url} as {demo_user.email} with the demo password.")
        self.stdout.write("Press Ctrl-C to stop.")

    def wait_for_first_exit(self, children):
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    return name, child
            time.sleep(0.2)

    def stop(self, children, *, already_signalled: bool):
        """Stop the children that are still running: ask first, then insist."""
        for child in children.values():
            if child.poll() is None and not already_signalled:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
