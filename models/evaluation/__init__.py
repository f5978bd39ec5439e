"""Judging formulas on out-of-time loans: metrics with intervals (``metrics``) and the evaluation suite
(``evaluate``)."""
