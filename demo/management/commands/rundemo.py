import os
import signal
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand

DEFAULT_ADDRPORT = "127.0.0.1:8000"


def site_url(addrport: str) -> str:
    """The address a browser opens for runserver's ``addrport`` (a port alone is on 127.0.0.1, as runserver has it)."""
    return f"http://{'127.0.0.1:' + addrport if addrport.isdecimal() else addrport}/"


class Command(BaseCommand):
    help = "Run the web server and a django-q2 cluster together (stop both with Ctrl+C)."

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport", nargs="?", default=DEFAULT_ADDRPORT, help=f"as runserver's (default {DEFAULT_ADDRPORT})"
        )

    def handle(self, *args, **options):
        addrport = options["addrport"]
        manage = os.path.join(os.getcwd(), "manage.py")
        cluster = subprocess.Popen([sys.executable, manage, "qcluster"], start_new_session=True)  # noqa: S603
        # A SIGTERM to this process must stop the cluster too, not leave it orphaned.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        url = site_url(addrport)
        self.stdout.write(f"qcluster started (pid {cluster.pid}); web server on {url}; sign in at {url}admin/")
        try:
            call_command("runserver", addrport, use_reloader=False)
        finally:
            cluster.send_signal(signal.SIGTERM)  # running sessions finish first
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
