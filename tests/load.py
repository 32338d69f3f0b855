"""Run by each load-test process: start COUNT sessions of a codeunit, round-robin over every company.

python tests/load.py COUNT CODEUNIT  -> prints the session ids as JSON
"""

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from sessions_app.api import start_session  # noqa: E402
from sessions_app.companies import all_companies  # noqa: E402


def main():
    count, codeunit = int(sys.argv[1]), sys.argv[2]
    companies = [c.name for c in all_companies()]
    offset = os.getpid()
    ids = [start_session(codeunit, company=companies[(offset + i) % len(companies)]).id for i in range(count)]
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
