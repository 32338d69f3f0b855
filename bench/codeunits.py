"""The codeunits the benchmark measures (autodiscovered: this app is installed in the demo project only)."""

from django.utils import timezone

from demo.models import SessionLog
from sessions_app.codeunits import codeunit


@codeunit(50190, "Benchmark No-op")
def benchmark_noop(rec, session):
    """Do nothing: what a session costs by itself (manage.py benchmark_sessions)."""
    return None


@codeunit(50191, "Benchmark Insert")
def benchmark_insert(rec, session):
    """Insert one row in the session's company (manage.py benchmark_sessions)."""
    now = timezone.now()
    SessionLog.objects.create(
        session_id=session.id, result="benchmark", start_time=now, stop_time=now, elapsed=now - now
    )
