"""Errors of the model layer meant for people (DESIGN §8: the base class lives in ``features``)."""

from features.errors import InnopointsError


class FormulaError(InnopointsError):
    """A points-formula file or object is malformed, tampered with, or cannot score the given data."""
