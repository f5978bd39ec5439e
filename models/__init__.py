"""The model layer: the formula file, learning, evaluation and policy maths (no files, MLflow or printing).

``PointsFormulaClassifier`` (:mod:`innopoints.models.learning.estimator`) is exported here, loaded on first use
so that importing a submodule stays cheap.
"""

__all__ = ["PointsFormulaClassifier"]


def __getattr__(name: str):
    if name == "PointsFormulaClassifier":
        from innopoints.models.learning.estimator import PointsFormulaClassifier

        return PointsFormulaClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
