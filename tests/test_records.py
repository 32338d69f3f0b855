"""Parameter records: typed fields, validation before anything is written, JSON in and out, forms."""

import datetime
import decimal
import json
import uuid

import pytest

from demo.codeunits import WorksParameters
from sessions_app.exceptions import RecordValidationError
from tests.testapp.codeunits import EveryTypeParameters


def errors_of(data, record=EveryTypeParameters):
    with pytest.raises(RecordValidationError) as e:
        record.validate(data)
    return e.value.errors


def test_code_is_trimmed_upper_cased_and_at_most_its_length():
    rec = WorksParameters.validate({"customer_no": "c00010", "vendor_no": "v00010"})
    assert rec.customer_no == "C00010" and rec.vendor_no == "V00010"
    assert WorksParameters.validate({"customer_no": "x" * 20}).customer_no == "X" * 20
    errors = errors_of({"customer_no": "x" * 21}, WorksParameters)
    assert list(errors) == ["customer_no"]
    assert "at most 20 characters" in errors["customer_no"][0]


def test_guid_gets_a_new_value_when_not_given_and_refuses_non_guids():
    a, b = WorksParameters.validate({}), WorksParameters.validate({})
    assert isinstance(a.log_id, uuid.UUID) and a.log_id != b.log_id
    given = uuid.uuid4()
    assert WorksParameters.validate({"log_id": str(given)}).log_id == given
    assert WorksParameters.validate({"log_id": given}).log_id == given
    assert "valid UUID" in errors_of({"log_id": "not-a-guid"}, WorksParameters)["log_id"][0]


def test_every_type_coerces_strings_from_a_command_line():
    rec = EveryTypeParameters.validate(
        {
            "code": "ab",
            "text": "Hello",
            "count": "7",
            "amount": "12.50",
            "due": "2026-01-31",
            "flag": "true",
            "ref": "12345678-1234-5678-1234-567812345678",
        }
    )
    assert rec.code == "AB" and rec.text == "Hello" and rec.count == 7
    assert rec.amount == decimal.Decimal("12.50") and rec.due == datetime.date(2026, 1, 31)
    assert rec.flag is True and rec.ref == uuid.UUID("12345678-1234-5678-1234-567812345678")


def test_defaults_and_required_fields():
    rec = EveryTypeParameters.validate({"code": "X"})
    assert (rec.text, rec.count, rec.amount, rec.due, rec.flag, rec.ref) == ("", 0, 0, None, False, None)
    assert errors_of({})["code"] == ["This field is required."]


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("count", "seven", "whole number"),
        ("count", 1001, "less than or equal to 1000"),
        ("count", True, "Expected a Integer"),
        ("count", 1.5, "Expected a Integer"),
        ("amount", "1e400", "no more than 10 digits"),
        ("amount", "NaN", "Enter a number"),
        ("amount", "123456789.12", "no more than 10 digits"),
        ("due", "31/31/2026", "valid date"),
        ("due", datetime.datetime(2026, 1, 1, 12, 0), "date and time"),
        ("flag", "maybe", "true or false"),
        ("text", "x" * 31, "at most 30"),
        ("text", "bell\x07", "Control characters"),
        ("code", ["A"], "Expected a Code"),
        ("code", {"a": 1}, "Expected a Code"),
    ],
)
def test_bad_values_are_refused_with_a_message_naming_the_problem(field, value, fragment):
    errors = errors_of({"code": "OK", field: value} if field != "code" else {field: value})
    assert fragment in " ".join(errors[field])


def test_every_bad_field_is_reported_at_once_and_unknown_fields_are_refused():
    errors = errors_of({"code": "x" * 11, "count": "-1", "colour": "blue"})
    assert set(errors) == {"code", "count", "colour"}
    assert "Unknown field" in errors["colour"][0]
    assert "__all__" in errors_of(["not", "a", "mapping"])


def test_round_trip_through_json_gives_the_same_record():
    rec = EveryTypeParameters.validate(
        {
            "code": "A1",
            "count": 3,
            "amount": decimal.Decimal("2.25"),
            "due": datetime.date(2026, 2, 1),
            "flag": True,
            "ref": uuid.uuid4(),
        }
    )
    carried = json.loads(json.dumps(rec.to_json()))
    again = EveryTypeParameters.from_json(carried)
    assert again == rec
    assert again.amount == decimal.Decimal("2.25") and again.due == datetime.date(2026, 2, 1)


def test_a_record_instance_is_accepted_and_revalidated():
    rec = WorksParameters(customer_no="hello", vendor_no="world")
    assert WorksParameters.validate(rec).customer_no == "HELLO"
    with pytest.raises(RecordValidationError):
        EveryTypeParameters.validate(rec)
    with pytest.raises(RecordValidationError):
        WorksParameters(colour="blue")


def test_a_record_renders_as_a_django_form_that_validates_the_same_way():
    form_class = EveryTypeParameters.form_class()
    form = form_class(data={"code": "x" * 11, "count": "2"})
    assert not form.is_valid()
    assert "code" in form.errors
    html = form_class().as_p()
    for name in EveryTypeParameters.fields:
        assert f'name="{name}"' in html
    assert 'type="date"' in html
    good = form_class(data={"code": "ab", "count": "2", "amount": "1.5"})
    assert good.is_valid(), good.errors
    assert EveryTypeParameters.validate({k: v for k, v in good.cleaned_data.items()}).code == "AB"


def test_describe_lists_each_field_type_with_its_length():
    assert WorksParameters.describe() == [
        {"name": "customer_no", "type": "Code[20]", "required": False},
        {"name": "vendor_no", "type": "Code[20]", "required": False},
        {"name": "log_id", "type": "Guid", "required": False},
    ]
