"""A ``@task`` of the demo: Django's task API, run as a background session in the current company.

    python manage.py shell -c "from sessions_app.companies import use_company; from demo.tasks import \\
        set_address; use_company('CRONUS').__enter__(); print(set_address.enqueue('C0001', 'Main St 1').id)"
"""

import time

from sessions_app.context import running_session

from .models import Customer

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the django-tasks backport
    from django_tasks import task


@task
def set_address(no, address, pause=0.0):
    """Set one customer's address, after ``pause`` seconds (time to stop it: the change then rolls back)."""
    customer = Customer.objects.get(no=no)
    customer.address = address
    customer.save(update_fields=["address"])
    session = running_session()
    deadline = time.monotonic() + float(pause)
    while time.monotonic() < deadline:
        if session is not None:  # None when called directly, not as a task
            session.progress(int(float(pause) - (deadline - time.monotonic())), int(float(pause)), "pausing")
        time.sleep(0.1)
    return {"customer": no, "address": address}
