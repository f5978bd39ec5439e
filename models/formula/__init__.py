"""The formula file: its schema and hash (``schema``), scoring curves (``curves``), the shipped baseline
(``baseline``), qualification (``qualify``) and reason codes (``reasons``)."""
