import os
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from demo.models import Customer, Vendor
from sessions_app.companies import all_companies, use_company
from sessions_app.management.commands._base import SessionsCommand
from sessions_app.scheduling.api import add_job
from sessions_app.scheduling.models import JobQueueEntry

CUSTOMERS = [
    ("C00010", "Adatum Corporation"),
    ("C00020", "Trey Research"),
    ("C00030", "School of Fine Art"),
    ("C00040", "Alpine Ski House"),
    ("C00050", "Relecloud"),
]
VENDORS = [
    ("V00010", "Fabrikam, Inc."),
    ("V00020", "First Up Consultants"),
    ("V00030", "Graphic Design Institute"),
]


class Command(SessionsCommand):
    help = (
        "Load the demo customers and vendors into every company and create the admin user. An existing admin "
        "keeps its password unless --reset-password is given or DEMO_ADMIN_PASSWORD names one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--no-user", action="store_true", help="Do not create or reset the admin user.")
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Give an existing admin user a new password (DEMO_ADMIN_PASSWORD, else a random one).",
        )
        parser.add_argument(
            "--jobs", action="store_true", help="Add a recurring 'Count Customers' job queue entry to each company."
        )

    def handle(self, *args, **options):
        for company in all_companies():
            with use_company(company), transaction.atomic(using=company.alias):
                for no, name in CUSTOMERS:
                    Customer.objects.update_or_create(no=no, defaults={"name": f"{name} ({company.name})"})
                for no, name in VENDORS:
                    Vendor.objects.update_or_create(no=no, defaults={"name": name})
            self.stdout.write(f"{company.name}: {len(CUSTOMERS)} customers, {len(VENDORS)} vendors")
            if options["jobs"] and not JobQueueEntry.objects.filter(company=company.name, codeunit_id=50110).exists():
                add_job(
                    "Count Customers",
                    company=company.name,
                    description="Count customers every 5 minutes",
                    weekdays=["mon-sun"],
                    minutes_between_runs=5,
                    category="DEMO",
                )
                self.stdout.write(f"{company.name}: job queue entry 'Count customers every 5 minutes'")
        if options["no_user"]:
            return
        given = os.environ.get("DEMO_ADMIN_PASSWORD") or ""
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=options["username"], defaults={"is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        # The password is kept between runs (it is stored hashed, so it cannot be shown again) unless a new
        # one is asked for: --reset-password, or one given in DEMO_ADMIN_PASSWORD.
        keep = not created and user.has_usable_password() and not options["reset_password"] and not given
        if keep:
            user.save()
            self.stdout.write(
                self.style.SUCCESS(
                    f"Admin user: {user.username}  password unchanged (the one set before; "
                    "`make demo DEMO_RESET_PASSWORD=1` or `manage.py load_demo --reset-password` sets a new one)"
                )
            )
            return
        password = given or secrets.token_urlsafe(9)
        user.set_password(password)
        user.save()
        shown = "the one in DEMO_ADMIN_PASSWORD" if given else password
        self.stdout.write(self.style.SUCCESS(f"Admin user: {user.username}  password: {shown}"))
