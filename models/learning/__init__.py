"""Learning a formula from loans: default models (``learners``), SHAP explanation (``explain``), candidate
curves and points (``candidates``, ``fit``), the refinement verdicts (``refine``) and the workflow (``train``)."""
