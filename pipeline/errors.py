"""User mistakes detected at the edges (files, config): each is printed in one line by the command line."""

from __future__ import annotations

from features.errors import InnopointsError


class DataError(InnopointsError):
    """The input data is missing, unreadable or breaks the data contract (DESIGN §2)."""


class ConfigError(InnopointsError):
    """A config or policy file, or a command-line setting, is invalid."""
