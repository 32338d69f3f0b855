"""Codeunit 50100 "The Works", as in the seed, and the demo's job queue and benchmark codeunits."""

import time
import uuid

from django.conf import settings
from django.utils import timezone

from sessions_app.codeunits import codeunit
from sessions_app.records import Code, Guid, ParameterRecord

from .models import Customer, SessionLog


class WorksParameters(ParameterRecord):
    """The seed's "StartSession Parameter" temporary table."""

    customer_no = Code(20, default="")
    vendor_no = Code(20, default="")
    log_id = Guid(default=uuid.uuid4)


@codeunit(50100, "The Works", params=WorksParameters)
def the_works(rec, session):
    """Sleep, set the first customer's address, and log the session in its company."""
    start = timezone.now()
    session.log(f"The Works in {session.company}: sleeping {settings.SESSIONS_DEMO_SLEEP:g}s")
    total = settings.SESSIONS_DEMO_SLEEP
    steps = max(1, int(total * 4))
    for step in range(steps):
        time.sleep(total / steps)
        session.progress(step + 1, steps, "sleeping")
    customer = Customer.objects.order_by("no").first()
    if customer is None:
        raise Customer.DoesNotExist(f"Company {session.company!r} has no customers.")
    customer.address = f"{rec.customer_no} {rec.vendor_no}"
    customer.save(update_fields=["address"])
    stop = timezone.now()
    log = SessionLog.objects.create(
        id=rec.log_id, session_id=session.id, result="OK", start_time=start, stop_time=stop, elapsed=stop - start
    )
    return {"customer": customer.no, "address": customer.address, "log_id": str(log.id), "elapsed": str(log.elapsed)}


@codeunit(50110, "Count Customers")
def count_customers(rec, session):
    """Count the company's customers: the demo's recurring job queue entry."""
    count = Customer.objects.count()
    session.log(f"{count} customers in {session.company}")
    return {"customers": count}


@codeunit(50111, "Report Failure")
def report_failure(rec, session):
    """A failure codeunit for scheduled tasks: log what failed and how."""
    task = session.failed_task
    if task is None:
        return None
    session.log(f"Task {task.id} ({task.codeunit_name}) failed: {task.error_message}")
    return {"task": task.id, "error_type": task.error_type, "error": task.error_message}
