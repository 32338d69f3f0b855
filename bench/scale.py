"""A large registry for the benchmark: ``populate`` it, then time the pages that list it."""

import statistics
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from sessions_app.companies import all_companies
from sessions_app.conf import app_settings
from sessions_app.models import BackgroundSession, Status

from .benchmark import POPULATED_CODEUNIT

BATCH = 10_000


def populate(total: int, active: int = 1000, progress: bool = False) -> dict:
    """Add finished sessions until the registry holds ``total`` populated ones, plus ``active`` queued ones."""
    sessions = BackgroundSession.objects.using(app_settings.REGISTRY_ALIAS)
    cid, name = POPULATED_CODEUNIT
    have = sessions.filter(codeunit_id=cid).count()
    want = total + active
    companies = [c.name for c in all_companies()]
    bar = None
    if progress and want > have:
        from tqdm import tqdm

        bar = tqdm(total=want - have, desc="populate", unit="row", unit_scale=True)
    now = timezone.now()
    created = 0
    while have + created < want:
        n = min(BATCH, want - have - created)
        rows = []
        for i in range(n):
            k = have + created + i
            is_active = k >= total
            started = now - timedelta(seconds=k % 86_400 + 10)
            rows.append(
                BackgroundSession(
                    codeunit_id=cid,
                    codeunit_name=name,
                    company=companies[k % len(companies)],
                    status=Status.QUEUED if is_active else (Status.SUCCEEDED if k % 10 else Status.FAILED),
                    created_at=started,
                    started_at=None if is_active else started,
                    finished_at=None if is_active else started + timedelta(seconds=1),
                    error="" if is_active or k % 10 else "populated failure",
                    # Shown as active, never run: marked as taken by a cluster that is not one, at no time.
                    fetched_by="benchmark (populated)" if is_active else "",
                )
            )
        sessions.bulk_create(rows, batch_size=2000)
        created += n
        if bar is not None:
            bar.update(n)
    if bar is not None:
        bar.close()
    return {"created": created, "total": have + created}


# A search the admin answers from its search fields (``codeunit_name``): every populated session matches.
ADMIN_SEARCH = "Populated"
ADMIN_PAGE = 150


def render_times(repeat: int = 5) -> dict:
    """Median milliseconds (of ``repeat``, after one warm-up) to render the admin and dashboard pages that list the
    registry: plain, filtered, searched and deep in the admin's pages. ``pages`` says which URL each figure is."""
    User = get_user_model()
    user, _ = User.objects.get_or_create(username="benchmark-viewer", defaults={"is_staff": True, "is_superuser": True})
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    rows = BackgroundSession.objects.count()
    admin = reverse("admin:sessions_app_backgroundsession_changelist")
    dashboard = reverse("sessions_app:dashboard")
    # The admin shows 50 rows a page; a registry too small for page 150 is timed on its last page.
    page = max(1, min(ADMIN_PAGE, -(-rows // 50)))
    pages = {
        "admin_changelist_ms": admin,
        "admin_filtered_ms": f"{admin}?status__exact={Status.FAILED}",
        "admin_search_ms": f"{admin}?q={ADMIN_SEARCH}",
        "admin_page_ms": f"{admin}?p={page}",
        "dashboard_ms": dashboard,
        "dashboard_filtered_ms": f"{dashboard}?status={Status.FAILED}",
    }
    out = {}
    for key, url in pages.items():
        times = []
        for _ in range(repeat + 1):
            t = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}")
        out[key] = round(statistics.median(times[1:]), 1)
    out["registry_rows"] = rows
    out["pages"] = pages
    return out
