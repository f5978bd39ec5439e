"""Every error meant for people, in one place: one type per kind of user mistake.

The command line catches :class:`InnopointsError` and prints its message in one line with exit code 2;
anything else is a bug and keeps its traceback. This module sits in the lowest layer (``features``) so that
every layer can raise these without importing upwards.
"""


class InnopointsError(Exception):
    """A mistake in the user's input (data, formula, config): printed in one line, no traceback."""


class IndicatorError(InnopointsError):
    """Raised when an indicator declaration (built-in or local) is malformed or an indicator is asked for
    columns the panel does not have."""


class DataError(InnopointsError):
    """Raised when the input tables are missing, unreadable or break the data contract
    (``docs/data-contract.md``)."""


class ConfigError(InnopointsError):
    """Raised when a run config, a policy file or a command-line setting is invalid."""


class SimulationError(InnopointsError):
    """Raised when a synthetic-cohort setting is out of range."""


class FormulaError(InnopointsError):
    """Raised when a points-formula file or object is malformed, tampered with, or cannot score the data."""


class ModelInputError(InnopointsError):
    """Raised when data or settings handed to a learner or an explainer are unusable."""


class EvaluationError(InnopointsError):
    """Raised when evaluation input is unusable (missing column, no defaults, no earlier year, bad scores)."""


class PolicyError(InnopointsError):
    """Raised when policy-simulation input is unusable (no observed loans or defaults, bad terms, bad rule)."""


class TrackingError(InnopointsError):
    """Raised when the MLflow store is unreachable or refuses a request, or a run or model reference is wrong."""


class OutputError(InnopointsError):
    """Raised when an output cannot be written: the path is a file where a folder is expected (or the
    reverse), the folder is read-only or holds files innopoints did not write, or the disk is full."""
