"""The codeunit registry: autodiscovery, lookups and registration-time checks."""

import pytest

from demo.codeunits import WorksParameters, the_works
from sessions_app.codeunits import Registry, codeunit, get_codeunit, registry
from sessions_app.exceptions import CodeunitRegistrationError, UnknownCodeunit


def ok(rec, session):
    return None


def other(rec, session):
    return None


def test_codeunits_are_autodiscovered_from_installed_apps():
    works = get_codeunit(50100)
    assert works.name == "The Works" and works.func is the_works and works.params is WorksParameters
    assert get_codeunit(90001).name == "Insert Row"  # tests/testapp/codeunits.py


@pytest.mark.parametrize("ref", [50100, "50100", "The Works", "the works", "  THE WORKS ", the_works])
def test_lookup_by_id_name_or_function(ref):
    assert get_codeunit(ref).id == 50100


@pytest.mark.parametrize("ref", [50199, "Teh Works", "", "5" * 40, None, 3.5, True, print, b"The Works"])
def test_unknown_codeunits_are_refused_with_the_value_named(ref):
    with pytest.raises(UnknownCodeunit) as e:
        get_codeunit(ref)
    assert repr(ref) in str(e.value)


def test_duplicate_id_or_name_is_refused_at_registration():
    reg = Registry()
    codeunit(1, "First", registry=reg)(ok)
    with pytest.raises(CodeunitRegistrationError, match="id 1 is registered twice"):
        codeunit(1, "Second", registry=reg)(other)
    with pytest.raises(CodeunitRegistrationError, match="name 'FIRST' is registered twice"):
        codeunit(2, "FIRST", registry=reg)(other)
    codeunit(1, "First", registry=reg)(ok)  # re-importing the same module is harmless


def test_wrong_signatures_are_refused_at_registration():
    reg = Registry()

    def one_arg(rec):
        return None

    with pytest.raises(CodeunitRegistrationError, match="module-level"):
        codeunit(3, "Local", registry=reg)(one_arg)
    for bad in (print, len):
        with pytest.raises(CodeunitRegistrationError):
            codeunit(4, "Builtin", registry=reg)(bad)


def no_session(rec):
    return None


def three(rec, session, extra):
    return None


def test_a_codeunit_must_take_rec_and_session():
    reg = Registry()
    for func in (no_session, three):
        with pytest.raises(CodeunitRegistrationError, match=r"must take exactly \(rec, session\)"):
            codeunit(5, "Bad", registry=reg)(func)


@pytest.mark.parametrize("cid, name", [(0, "Zero"), (-1, "Neg"), ("7", "Str"), (2**31, "Big"), (6, ""), (6, "x" * 31)])
def test_ids_and_names_are_checked(cid, name):
    with pytest.raises(CodeunitRegistrationError):
        codeunit(cid, name, registry=Registry())(ok)


def test_params_must_be_a_parameter_record():
    with pytest.raises(CodeunitRegistrationError, match="ParameterRecord"):
        codeunit(8, "Bad Params", params=dict, registry=Registry())(ok)


def test_the_registry_lists_codeunits_in_id_order():
    ids = [cu.id for cu in registry.all()]
    assert ids == sorted(ids) and 50100 in ids


def test_a_description_shows_a_docstrings_first_line_without_rest_literal_marks():
    from sessions_app.backends import codeunit_id
    from sessions_app.codeunits import summary

    task = get_codeunit(codeunit_id())
    assert task.description == "Run a @task function with its arguments: the codeunit every enqueued task runs as."

    def documented():
        """Return ``x`` and ``y`` (not ``z``).

        More ``lines``.
        """

    assert summary(documented) == "Return x and y (not z)."
