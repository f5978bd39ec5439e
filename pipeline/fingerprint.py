"""A short, order-sensitive fingerprint of the input tables for provenance (no raw values leave)."""

from __future__ import annotations

import hashlib

import pandas as pd


def data_fingerprint(tables: dict[str, pd.DataFrame]) -> str:
    """sha256 over each table's name, columns and row hashes (first 16 hex digits)."""
    h = hashlib.sha256()
    for name in sorted(tables):
        df = tables[name]
        h.update(name.encode())
        h.update("\x1f".join(map(str, df.columns)).encode())
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]
