"""The codeunit registry: only functions registered here can run in a session.

Register with the decorator in an installed app's ``codeunits.py`` (imported
at start-up by ``SessionsConfig.ready``)::

    @codeunit(50100, "The Works", params=WorksParameters)
    def the_works(rec, session):
        ...

Mistakes (duplicate id or name, a signature that does not take ``rec`` and
``session``, a ``params`` that is not a ``ParameterRecord``) raise
``CodeunitRegistrationError`` at import, so the project refuses to start.
"""

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .exceptions import CodeunitRegistrationError, UnknownCodeunit
from .records import NoParameters, ParameterRecord

MAX_NAME_LENGTH = 30  # Business Central's object name limit


@dataclass(frozen=True)
class Codeunit:
    id: int
    name: str
    func: Callable[..., Any] = field(compare=False)
    params: type[ParameterRecord] = NoParameters
    description: str = ""
    rerun_lost: bool = False

    def __str__(self) -> str:
        return f"{self.id} {self.name}"


class Registry:
    """Codeunits by id and by name. The project has one: ``registry``."""

    def __init__(self):
        self._by_id: dict[int, Codeunit] = {}
        self._by_name: dict[str, Codeunit] = {}
        self._by_func: dict[Callable, Codeunit] = {}

    def register(self, cu: Codeunit) -> Codeunit:
        if not isinstance(cu.id, int) or isinstance(cu.id, bool) or not 0 < cu.id < 2**31:
            raise CodeunitRegistrationError(f"Codeunit id {cu.id!r} must be a positive integer.")
        if not isinstance(cu.name, str) or not cu.name.strip() or len(cu.name) > MAX_NAME_LENGTH:
            raise CodeunitRegistrationError(f"Codeunit name {cu.name!r} must be 1 to {MAX_NAME_LENGTH} characters.")
        if not (isinstance(cu.params, type) and issubclass(cu.params, ParameterRecord)):
            raise CodeunitRegistrationError(
                f"Codeunit {cu.id} {cu.name!r}: params must be a ParameterRecord subclass, got {cu.params!r}."
            )
        _check_signature(cu)
        existing = self._by_id.get(cu.id)
        if existing and existing.func is not cu.func:
            raise CodeunitRegistrationError(
                f"Codeunit id {cu.id} is registered twice: {existing.name!r} and {cu.name!r}."
            )
        existing = self._by_name.get(cu.name.casefold())
        if existing and existing.func is not cu.func:
            raise CodeunitRegistrationError(
                f"Codeunit name {cu.name!r} is registered twice: ids {existing.id} and {cu.id}."
            )
        self._by_id[cu.id] = cu
        self._by_name[cu.name.casefold()] = cu
        self._by_func[cu.func] = cu
        return cu

    def get(self, ref: "int | str | Callable | Codeunit") -> Codeunit:
        """Return the codeunit for an id, a name (any case), a registered function or a Codeunit.

        Raise ``UnknownCodeunit`` otherwise. A string of digits is taken as an id.
        """
        cu = None
        if isinstance(ref, Codeunit):
            cu = self._by_id.get(ref.id)
        elif isinstance(ref, bool):
            cu = None
        elif isinstance(ref, int):
            cu = self._by_id.get(ref)
        elif isinstance(ref, str):
            text = ref.strip()
            cu = self._by_name.get(text.casefold())
            if cu is None and text.isdecimal() and len(text) < 12:
                cu = self._by_id.get(int(text))
        elif callable(ref):
            cu = self._by_func.get(ref) or self._by_func.get(getattr(ref, "__wrapped__", None))
        if cu is None:
            raise UnknownCodeunit(ref)
        return cu

    def all(self) -> list[Codeunit]:
        return sorted(self._by_id.values(), key=lambda cu: cu.id)

    def by_name(self) -> dict[str, Codeunit]:
        """Every name registered (casefolded) and the codeunit it finds: a re-registered function leaves stale
        names here that ``get`` no longer reaches, which the system checks report."""
        return dict(self._by_name)

    def by_id(self) -> dict[int, Codeunit]:
        return dict(self._by_id)

    def __contains__(self, ref) -> bool:
        try:
            self.get(ref)
        except UnknownCodeunit:
            return False
        return True


def _check_signature(cu: Codeunit) -> None:
    func = cu.func
    if not callable(func):
        raise CodeunitRegistrationError(f"Codeunit {cu.id} {cu.name!r} is not callable.")
    if "<locals>" in getattr(func, "__qualname__", ""):
        raise CodeunitRegistrationError(
            f"Codeunit {cu.id} {cu.name!r} must be a module-level function, not {func.__qualname__}."
        )
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as e:
        raise CodeunitRegistrationError(f"Codeunit {cu.id} {cu.name!r}: {e}") from e
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required_other = [p for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if len(positional) != 2 or required_other:
        raise CodeunitRegistrationError(
            f"Codeunit {cu.id} {cu.name!r} must take exactly (rec, session); {func.__qualname__}{sig} does not."
        )


registry = Registry()


def summary(func) -> str:
    """The first line of ``func``'s docstring, as a page shows it: reST's ````literal```` marks left out."""
    first = (inspect.getdoc(func) or "").split("\n")[0]
    return re.sub(r"``(.+?)``", r"\1", first)


def codeunit(
    id: int,
    name: str,
    *,
    params: type[ParameterRecord] = NoParameters,
    rerun_lost: bool = False,
    registry: Registry = registry,
):
    """Register the decorated ``func(rec, session)`` as codeunit ``id`` called ``name``."""

    def decorator(func):
        registry.register(
            Codeunit(id=id, name=name, func=func, params=params, description=summary(func), rerun_lost=rerun_lost)
        )
        return func

    return decorator


def get_codeunit(ref) -> Codeunit:
    """Return the registered codeunit for ``ref``; raise ``UnknownCodeunit``."""
    return registry.get(ref)
