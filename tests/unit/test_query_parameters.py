"""Query strings parsed into their frozen models, remembered for the strings asked most: the
same string gives an equal answer each time, a string that does not fit is refused each time."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from api.compliance_routes import ComplianceQuery
from api.params import Clocks, parse_query
from api.problems import ApiProblem


def parsed(query: str, model: type[Clocks] = ComplianceQuery) -> Clocks:
    return parse_query(make_mocked_request("GET", f"/v1/x?{query}"), model)


def test_a_repeated_parameter_keeps_every_value_in_order_each_time() -> None:
    first = parsed("role=b&as_of=2026-07-01T00:00:00Z&role=a")
    again = parsed("role=b&as_of=2026-07-01T00:00:00Z&role=a")
    assert isinstance(first, ComplianceQuery)
    assert first.role == ("b", "a")
    assert again == first
    assert parsed("role=a&role=b&as_of=2026-07-01T00:00:00Z").role == ("a", "b")


def test_parsed_queries_are_frozen() -> None:
    query = parsed("as_of=2026-07-01T00:00:00Z")
    with pytest.raises(ValueError, match="frozen"):
        query.as_of = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("query", "field"),
    [("as_of=yesterday", "as_of"), ("asof=2026-07-01T00:00:00Z", "asof"), ("role=", "role.0")],
)
def test_a_query_that_does_not_fit_is_refused_every_time(query: str, field: str) -> None:
    for _ in range(2):
        with pytest.raises(ApiProblem) as refused:
            parsed(query)
        assert refused.value.status == 422
        assert refused.value.extensions["field"] == field
