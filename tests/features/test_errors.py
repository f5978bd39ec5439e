"""Tests for features/errors.py: one exception type per kind of user mistake, all caught as one."""

from __future__ import annotations

import pytest

from innopoints.features import errors

KINDS = ("IndicatorError", "DataError", "ConfigError", "SimulationError", "FormulaError", "ModelInputError",
         "EvaluationError", "PolicyError", "TrackingError", "OutputError")


@pytest.mark.parametrize("name", KINDS)
def test_every_user_mistake_is_an_innopoints_error(name):
    kind = getattr(errors, name)
    assert issubclass(kind, errors.InnopointsError) and kind is not errors.InnopointsError
    with pytest.raises(errors.InnopointsError, match="^table firms: column 'firm_id' is missing$"):
        raise kind("table firms: column 'firm_id' is missing")


def test_the_kinds_are_distinct_and_none_is_a_bug_type():
    kinds = [getattr(errors, name) for name in KINDS]
    for kind in kinds:
        assert [other for other in kinds if issubclass(kind, other)] == [kind]  # no kind is another kind
        assert not issubclass(kind, (ValueError, KeyError, TypeError))  # bugs keep their own types
    found = {name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, Exception)}
    assert found == {"InnopointsError", *KINDS}
