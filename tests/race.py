"""Run by several processes at once: start sessions at the same instant, print what came back.

python tests/race.py START_AT COUNT CODEUNIT [--key K] [--max-active N] [--max-per-company N] [--companies A,B]
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from sessions_app.api import try_start_session  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("start_at", type=float)
    parser.add_argument("count", type=int)
    parser.add_argument("codeunit")
    parser.add_argument("--key")
    parser.add_argument("--max-active", type=int)
    parser.add_argument("--max-per-company", type=int)
    parser.add_argument("--companies", default="CRONUS")
    args = parser.parse_args()
    settings.SESSIONS_MAX_ACTIVE = args.max_active
    settings.SESSIONS_MAX_ACTIVE_PER_COMPANY = args.max_per_company
    companies = args.companies.split(",")
    # Connect before the barrier so every process starts its inserts together.
    from django.db import connections

    connections["registry"].ensure_connection()
    time.sleep(max(0.0, args.start_at - time.time()))
    ids = []
    for i in range(args.count):
        s = try_start_session(args.codeunit, company=companies[i % len(companies)], key=args.key)
        ids.append(s.id if s else None)
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
