import json
from pathlib import Path

from bench.report import is_journal_variant, is_scale, render
from sessions_app.management.commands._base import SessionsCommand, bad_input


class Command(SessionsCommand):
    help = (
        "Write docs/benchmarks.md whole from the JSON files of `benchmark_sessions --out`: set-up runs, and a "
        "run with --populate for the populated-registry section; of `idle_queries --out` for an idle "
        "cluster; of `session_statements --out` for where a session's statements go. Every figure on the "
        "page comes from them."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="JSON", help="benchmark_sessions --out files, in page order")
        parser.add_argument("--out", default="docs/benchmarks.md", help="the page to write (default: %(default)s)")
        parser.add_argument(
            "--plot",
            metavar="PNG",
            help="also draw the chart of these files here (needs matplotlib); without it the page links to "
            "benchmarks.png beside it when there is one",
        )

    def handle(self, *args, **options):
        files = []
        for path in options["files"]:
            try:
                data = json.loads(Path(path).read_text())
            except (OSError, ValueError) as e:
                raise bad_input(f"{path}: {e}")
            kinds = ("summary", "statements_per_s", "statements_per_session")
            if not isinstance(data, dict) or not any(key in data for key in kinds):
                raise bad_input(
                    f"{path} is not a benchmark_sessions, idle_queries or session_statements --out file "
                    "(it has none of 'summary', 'statements_per_s', 'statements_per_session')."
                )
            files.append((path, data))
        out = Path(options["out"])
        out.parent.mkdir(parents=True, exist_ok=True)
        chart = options["plot"]
        if chart:
            Path(chart).parent.mkdir(parents=True, exist_ok=True)
            from bench.plot import plot

            # The set-up runs of the page: a populated registry's run or a journal variant is a section of its own.
            runs = [d for _, d in files if "summary" in d and not is_journal_variant(d) and not is_scale(d)]
            plot(runs or [d for _, d in files if "summary" in d], chart)
        elif (out.parent / "benchmarks.png").exists():
            chart = str(out.parent / "benchmarks.png")
        out.write_text(render(files, out=str(out), chart=chart))
        also = f", and {options['plot']}" if options["plot"] else ""
        self.stdout.write(f"Wrote {out} from {len(files)} file(s){also}")
