"""Codeunit 50100 "The Works", as in the seed, its twin for a named customer, and the demo's other codeunits."""

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
    # As the seed's Customer.FindFirst(): the first customer, whatever customer_no says.
    return _works(rec, session, lambda: Customer.objects.order_by("no").first(), missing="no customers")


class CustomerWorksParameters(ParameterRecord):
    """The Works' parameters, with the customer it changes named."""

    customer_no = Code(20)
    vendor_no = Code(20, default="")
    log_id = Guid(default=uuid.uuid4)


@codeunit(50101, "The Works for a Customer", params=CustomerWorksParameters)
def the_works_for_a_customer(rec, session):
    """The Works on the customer it is given: the admin's action runs it once per selected customer."""
    customer = Customer.objects.filter(no=rec.customer_no)
    return _works(rec, session, customer.first, missing=f"no customer {rec.customer_no}")


def _works(rec, session, find_customer, missing: str):
    """Sleep, set the address of the customer ``find_customer`` returns, and log the session in its company."""
    start = timezone.now()
    session.log(f"The Works in {session.company}: sleeping {settings.SESSIONS_DEMO_SLEEP:g}s")
    total = settings.SESSIONS_DEMO_SLEEP
    steps = max(1, int(total * 4))
    for step in range(steps):
        time.sleep(total / steps)
        session.progress(step + 1, steps, "sleeping")
    customer = find_customer()
    if customer is None:
        raise Customer.DoesNotExist(f"Company {session.company!r} has {missing}.")
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


class SliceParameters(ParameterRecord):
    """A slice of the customers, by number: from ``first_no`` to ``last_no``."""

    first_no = Code(20)
    last_no = Code(20)


@codeunit(50120, "Recalculate Customers", params=SliceParameters)
def recalculate_customers(rec, session):
    """Recalculate one slice of the customers (a member of "Recalculate all customers")."""
    customers = list(Customer.objects.filter(no__gte=rec.first_no, no__lte=rec.last_no).order_by("no"))
    for i, customer in enumerate(customers, 1):
        time.sleep(settings.SESSIONS_DEMO_SLEEP / 10)
        session.progress(i, len(customers), customer.no)
    return {"customers": len(customers), "first": rec.first_no, "last": rec.last_no}


@codeunit(50121, "Post Recalculation")
def post_recalculation(rec, session):
    """The completion of "Recalculate all customers": log the summary once every slice has ended."""
    outcomes = session.group.outcomes()
    done = [o for o in outcomes if o["status"] == "succeeded"]
    customers = sum(o["result"]["customers"] for o in done)
    summary = f"{customers} customers recalculated in {len(done)} of {len(outcomes)} sessions"
    now = timezone.now()
    SessionLog.objects.create(
        session_id=session.id, result=summary[:100], start_time=now, stop_time=now, elapsed=now - now
    )
    session.log(summary)
    return {"customers": customers, "sessions": len(outcomes), "succeeded": len(done)}
