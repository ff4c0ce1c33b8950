"""The product filter holds only the predicates of the criteria given.

`($n is null or column = any($n))` is one statement for every combination, and
a generic plan of it (asyncpg prepares; PostgreSQL goes generic after five runs)
can use no index for the filter: at M scale a one-site listing read all the
tenant's 100,000 products. Each criterion given must be a plain, indexable
predicate, and an absent one no more than a one-time `$n is null`.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from db.fleet import ProductCriteria, _product_filter

CRITERIA = (
    "family_ids",
    "site_ids",
    "health",
    "connectivity",
    "code_status",
    "contract_ends_within_days",
    "search_pattern",
    "group_ids",
    "listed_in_group",
)


def criteria_with(names: set[str]) -> ProductCriteria:
    return ProductCriteria(
        family_ids=[1] if "family_ids" in names else None,
        site_ids=[2] if "site_ids" in names else None,
        health=["CRITICAL"] if "health" in names else None,
        connectivity=["CONNECTED"] if "connectivity" in names else None,
        code_status=["CURRENT"] if "code_status" in names else None,
        contract_ends_within_days=30 if "contract_ends_within_days" in names else None,
        search_pattern="%a%" if "search_pattern" in names else None,
        group_ids=(3,) if "group_ids" in names else (),
        listed_in_group=4 if "listed_in_group" in names else None,
    )


@given(st.sets(st.sampled_from(CRITERIA)))
def test_only_the_given_criteria_become_predicates(names: set[str]) -> None:
    condition = _product_filter(criteria_with(names))
    assert " is null or " not in condition
    assert ("p.site_id = any($5" in condition) == ("site_ids" in names)
    assert ("p.family_id = any($4" in condition) == ("family_ids" in names)
    assert ("ilike $10" in condition) == ("search_pattern" in names)
    assert ("fleet_viewer_groups($1, $2, $11" in condition) == ("group_ids" in names)
    for parameter in range(4, 13):  # every parameter keeps its type, given or not
        assert f"${parameter}::" in condition
