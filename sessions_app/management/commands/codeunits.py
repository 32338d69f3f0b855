"""``manage.py codeunits``: the codeunit registry, with each parameter record's fields (``--json`` for machines)."""

from sessions_app.codeunits import registry

from ._base import SessionsCommand


class Command(SessionsCommand):
    help = "List the registered codeunits and their parameter records' fields."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        codeunits = registry.all()
        if options["json"]:
            self.write_json(
                [
                    {
                        "id": cu.id,
                        "name": cu.name,
                        "function": f"{cu.func.__module__}.{cu.func.__qualname__}",
                        "description": cu.description,
                        "params": cu.params.__name__,
                        "fields": cu.params.describe(),
                    }
                    for cu in codeunits
                ]
            )
            return
        for cu in codeunits:
            self.stdout.write(f"{cu.id:>7}  {cu.name}  ({cu.func.__module__}.{cu.func.__qualname__})")
            for f in cu.params.describe():
                required = "required" if f["required"] else "optional"
                self.stdout.write(f"           {f['name']}: {f['type']} ({required})")
