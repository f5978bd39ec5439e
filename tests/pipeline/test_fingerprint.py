"""Tests for pipeline/fingerprint.py: a short fingerprint of the input tables."""

from __future__ import annotations

import re

from innopoints.pipeline.fingerprint import data_fingerprint


def test_the_fingerprint_is_16_hex_digits_and_stable(valid_tables):
    fp = data_fingerprint(valid_tables)
    assert re.fullmatch(r"[0-9a-f]{16}", fp)
    assert data_fingerprint(valid_tables) == fp
    assert data_fingerprint(dict(reversed(list(valid_tables.items())))) == fp  # tables are taken by name


def test_any_value_row_order_or_column_name_changes_it(valid_tables):
    fp = data_fingerprint(valid_tables)
    changed = {**valid_tables, "firm_years": valid_tables["firm_years"].assign(revenue=lambda t: t["revenue"] + 1)}
    reordered = {**valid_tables, "loans": valid_tables["loans"].iloc[::-1]}
    renamed = {**valid_tables, "firms": valid_tables["firms"].rename(columns={"is_sme": "sme"})}
    fingerprints = {data_fingerprint(t) for t in (changed, reordered, renamed)}
    assert fp not in fingerprints and len(fingerprints) == 3


def test_the_index_does_not_count(valid_tables):
    shifted = {name: t.set_axis(t.index + 100) for name, t in valid_tables.items()}
    assert data_fingerprint(shifted) == data_fingerprint(valid_tables)
