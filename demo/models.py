"""The seed's tables. Company-scoped: each company's rows are in its own database."""

import uuid

from django.db import models

from sessions_app.models import CompanyModel


class Customer(CompanyModel):
    no = models.CharField("No.", max_length=20, primary_key=True)
    name = models.CharField(max_length=100)
    address = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["no"]
        permissions = [("run_the_works", "Can run The Works on customers")]

    def __str__(self):
        return f"{self.no} {self.name}"


class Vendor(CompanyModel):
    no = models.CharField("No.", max_length=20, primary_key=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["no"]

    def __str__(self):
        return f"{self.no} {self.name}"


class SessionLog(CompanyModel):
    """Written by The Works in its own session, as in the seed."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    session_id = models.BigIntegerField(db_index=True)
    result = models.CharField(max_length=100, blank=True)
    start_time = models.DateTimeField()
    stop_time = models.DateTimeField()
    elapsed = models.DurationField()

    class Meta:
        ordering = ["-start_time"]

    def __str__(self):
        return f"{self.id} session {self.session_id}"
