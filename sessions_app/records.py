"""Parameter records: typed, validated, carried as JSON, never stored.

A parameter record is Business Central's temporary table with one row: the
values a session is started with. Declare one like a form::

    class WorksParameters(ParameterRecord):
        customer_no = Code(20)
        vendor_no = Code(20)
        log_id = Guid(default=uuid.uuid4)

Validation is done by Django's own form fields, so a record also renders as a
form (``WorksParameters.form_class()``) and takes strings from a command line.
"""

import datetime
import decimal
import json
import uuid
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import cached_property

from . import storable
from .exceptions import RecordValidationError

_MISSING = object()
_CONTROL_CHARS = {chr(c) for c in range(32)} | {chr(127)}


def _no_control_characters(value: str) -> None:
    if any(ch in _CONTROL_CHARS for ch in value):
        raise ValidationError("Control characters are not allowed.", code="control_characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates, e.g. undecodable bytes from a command line
        raise ValidationError("The text is not valid UTF-8.", code="encoding") from None


class Field:
    """One typed field of a parameter record."""

    python_types: tuple[type, ...] = ()
    type_name = "value"

    def __init__(self, *, default: Any = _MISSING, required: bool | None = None, label: str = "", help_text: str = ""):
        self.default = default
        self.required = (default is _MISSING) if required is None else required
        self.label = label
        self.help_text = help_text
        self.name = ""

    def __set_name__(self, owner, name):
        self.name = name

    def get_default(self) -> Any:
        if self.default is _MISSING:
            return None
        return self.default() if callable(self.default) else self.default

    def formfield(self) -> forms.Field:
        """The form field; a default shows as its placeholder, so an empty field stores nothing and takes it.

        A check box or a choice cannot be empty: there the default is the initial value.
        """
        field = self.make_formfield(required=self.required, label=self.label or None, help_text=self.help_text)
        if callable(self.default):
            field.widget.attrs.setdefault("placeholder", "a new value for each run when left empty")
        elif self.default is not _MISSING:
            if isinstance(field.widget, (forms.CheckboxInput, forms.Select)):
                field.initial = self.default
            elif self.default not in (None, ""):
                field.widget.attrs.setdefault("placeholder", f"{self.to_json(self.default)} when left empty")
        return field

    def make_formfield(self, **kwargs) -> forms.Field:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_type(self, value: Any) -> None:
        """Refuse values of a foreign type before the form field coerces them."""
        if (
            not isinstance(value, (str, *self.python_types))
            or isinstance(value, bool)
            and bool not in self.python_types
        ):
            raise ValidationError(f"Expected a {self.type_name}, got {type(value).__name__}.", code="type")

    def clean(self, value: Any) -> Any:
        if value is None or value == "":
            if self.required:
                raise ValidationError("This field is required.", code="required")
            return self.get_default()
        self.check_type(value)
        return self._cleaner.clean(value)

    @cached_property
    def _cleaner(self) -> forms.Field:
        # One form field per record field does the validating: cleaning is stateless, and
        # building a field for every value would cost every start and every run.
        return self.formfield()

    def to_json(self, value: Any) -> Any:
        return value

    def describe(self) -> str:
        return self.type_name


class Text(Field):
    type_name = "Text"

    def __init__(self, max_length: int, **kwargs):
        self.max_length = max_length
        super().__init__(**kwargs)

    def make_formfield(self, **kwargs):
        return forms.CharField(max_length=self.max_length, strip=False, validators=[_no_control_characters], **kwargs)

    def describe(self):
        return f"{self.type_name}[{self.max_length}]"


class Code(Text):
    """Business Central's Code[n]: trimmed, upper-cased, at most n characters."""

    type_name = "Code"

    def make_formfield(self, **kwargs):
        return CodeFormField(max_length=self.max_length, validators=[_no_control_characters], **kwargs)


class CodeFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        return value.upper() if isinstance(value, str) else value

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        attrs["style"] = "text-transform: uppercase"
        return attrs


class Integer(Field):
    python_types = (int,)
    type_name = "Integer"

    def __init__(self, *, min_value: int | None = -(2**31), max_value: int | None = 2**31 - 1, **kwargs):
        self.min_value, self.max_value = min_value, max_value
        super().__init__(**kwargs)

    def make_formfield(self, **kwargs):
        return forms.IntegerField(min_value=self.min_value, max_value=self.max_value, **kwargs)


class Decimal(Field):
    python_types = (int, float, decimal.Decimal)
    type_name = "Decimal"

    def __init__(self, *, max_digits: int = 18, decimal_places: int = 5, **kwargs):
        self.max_digits, self.decimal_places = max_digits, decimal_places
        super().__init__(**kwargs)

    def make_formfield(self, **kwargs):
        return forms.DecimalField(max_digits=self.max_digits, decimal_places=self.decimal_places, **kwargs)

    def to_json(self, value):
        return None if value is None else str(value)


class Boolean(Field):
    python_types = (bool,)
    type_name = "Boolean"

    def __init__(self, **kwargs):
        kwargs.setdefault("default", False)
        super().__init__(**kwargs)

    def make_formfield(self, **kwargs):
        kwargs["required"] = False
        return forms.BooleanField(**kwargs)

    def clean(self, value):
        if value is None or value == "":
            return self.get_default()
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on"}:
            return True
        if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "off"}:
            return False
        raise ValidationError("Expected a Boolean: true or false.", code="type")


class Date(Field):
    python_types = (datetime.date,)
    type_name = "Date"

    def make_formfield(self, **kwargs):
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **kwargs)

    def check_type(self, value):
        if isinstance(value, datetime.datetime):
            raise ValidationError("Expected a Date, got a date and time.", code="type")
        super().check_type(value)

    def to_json(self, value):
        return None if value is None else value.isoformat()


class Guid(Field):
    python_types = (uuid.UUID,)
    type_name = "Guid"

    def make_formfield(self, **kwargs):
        return forms.UUIDField(**kwargs)

    def to_json(self, value):
        return None if value is None else str(value)


class JsonFormField(forms.JSONField):
    """Django's JSON form field, with an empty box for no value: Django's own shows ``null`` there."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


class Json(Field):
    """A strict JSON value of one shape (``list`` or ``dict``): the arguments of a plain function.

    Text is read as JSON (a form, a command line); other values must already be
    strict JSON (no NaN, no dates, string keys), at most ``max_bytes`` of it.
    """

    type_name = "JSON"

    def __init__(self, shape: type = dict, *, max_bytes: int = 64 * 1024, **kwargs):
        self.shape = shape
        self.max_bytes = max_bytes
        super().__init__(**kwargs)

    def make_formfield(self, **kwargs):
        return JsonFormField(**kwargs)

    def formfield(self) -> forms.Field:
        field = super().formfield()
        if callable(self.default):  # list, dict: the same empty value each time, not a new one per run
            field.widget.attrs["placeholder"] = f"{json.dumps(self.get_default())} when left empty"
        return field

    def clean(self, value: Any) -> Any:
        if value is None or value == "":
            if self.required:
                raise ValidationError("This field is required.", code="required")
            return self.get_default()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as e:
                raise ValidationError(f"Not valid JSON: {e}.", code="invalid") from None
        if self.shape is list and isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, self.shape):
            raise ValidationError(f"Expected a JSON {self.shape.__name__}, got {type(value).__name__}.", code="type")
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as e:
            raise ValidationError(f"Not strict JSON: {e}.", code="invalid") from None
        if storable.has_nul(text):
            raise ValidationError("A NUL character (\\u0000) cannot be stored.", code="invalid")
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise ValidationError("The text is not valid UTF-8.", code="encoding") from None
        if size > self.max_bytes:
            raise ValidationError(f"{size} bytes of JSON; at most {self.max_bytes}.", code="max_bytes")
        return json.loads(text)

    def describe(self):
        return f"{self.type_name} {self.shape.__name__}"


class ParameterRecord:
    """A temporary record with typed fields: declare fields as class attributes."""

    fields: ClassVar[dict[str, Field]] = {}
    do_not_call_in_templates = True  # a template that names a record class must not build one

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fields = {}
        for base in reversed(cls.__mro__[1:]):
            fields.update(getattr(base, "fields", {}))
        fields.update({name: value for name, value in vars(cls).items() if isinstance(value, Field)})
        cls.fields = fields

    def __init__(self, **values):
        """Build a record from field values; raise ``RecordValidationError`` if any is bad."""
        self.__dict__.update(self._clean(values))

    @classmethod
    def validate(cls, data: "dict[str, Any] | ParameterRecord | None") -> "ParameterRecord":
        """Return a record built from ``data``; raise ``RecordValidationError`` listing every bad field."""
        if isinstance(data, ParameterRecord):
            if not isinstance(data, cls):
                raise RecordValidationError({"__all__": [f"Expected a {cls.__name__}, got {type(data).__name__}."]})
            data = {name: data.__dict__.get(name) for name in cls.fields}
        record = cls.__new__(cls)
        record.__dict__.update(cls._clean(data))
        # Values a default factory made (a new GUID): a stored record leaves them out, so each run makes its own.
        given = data or {}
        record._generated = frozenset(
            name for name, field in cls.fields.items() if callable(field.default) and given.get(name) in (None, "")
        )
        return record

    @classmethod
    def _clean(cls, data) -> dict[str, Any]:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise RecordValidationError(
                {"__all__": [f"Expected a mapping of field values, got {type(data).__name__}."]}
            )
        errors: dict[str, list[str]] = {}
        for name in data:
            if not isinstance(name, str) or name not in cls.fields:
                errors[str(name)[:50]] = [f"Unknown field; {cls.__name__} has: {', '.join(cls.fields) or 'no fields'}."]
        values = {}
        for name, field in cls.fields.items():
            try:
                values[name] = field.clean(data.get(name))
            except ValidationError as e:
                errors[name] = list(e.messages)
        if errors:
            raise RecordValidationError(errors)
        return values

    @property
    def generated_fields(self) -> frozenset[str]:
        """The fields a default factory filled (a new GUID) when the record was validated: given by nobody."""
        return getattr(self, "_generated", frozenset())

    def to_json(self, *, generated: bool = True) -> dict[str, Any]:
        """Return the record as a JSON-able dict (GUIDs, decimals and dates as strings).

        ``generated=False`` leaves out the values a default factory made, for a
        record stored to run later or again (a job queue entry, a task).
        """
        skip = self.generated_fields if not generated else frozenset()
        return {
            name: field.to_json(getattr(self, name, None)) for name, field in self.fields.items() if name not in skip
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ParameterRecord":
        return cls.validate(data)

    @classmethod
    def form_class(cls) -> type[forms.Form]:
        """Return a Django form with one field per record field."""
        attrs = {name: field.formfield() for name, field in cls.fields.items()}
        return type(f"{cls.__name__}Form", (forms.Form,), attrs)

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        return [
            {"name": name, "type": field.describe(), "required": field.required} for name, field in cls.fields.items()
        ]

    def __eq__(self, other):
        return type(self) is type(other) and self.to_json() == other.to_json()

    def __repr__(self):
        values = ", ".join(f"{k}={getattr(self, k, None)!r}" for k in self.fields)
        return f"{type(self).__name__}({values})"


class NoParameters(ParameterRecord):
    """The record of a codeunit that takes no parameters."""
