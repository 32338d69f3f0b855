import os
import signal
import subprocess
import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a django-q2 cluster together (stop both with Ctrl+C)."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        manage = os.path.join(os.getcwd(), "manage.py")
        cluster = subprocess.Popen([sys.executable, manage, "qcluster"], start_new_session=True)  # noqa: S603
        # A SIGTERM to this process must stop the cluster too, not leave it orphaned.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        self.stdout.write(f"qcluster started (pid {cluster.pid}); web server on http://{options['addrport']}/")
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            cluster.send_signal(signal.SIGTERM)  # running sessions finish first
            try:
                cluster.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
