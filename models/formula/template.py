"""A formula as a commented YAML template for people to edit by hand (``innopoints formula new``).

The template is the formula's own YAML with a comment above every top-level key, a comment on every
indicator and bonus item (its Chinese and English name, guideline 1.0 group and 2.0 category, policy
direction and unit) and a comment on the keys people edit most (points, curve, missing). Its provenance says
it is hand-written and its content hash is empty, so it loads unsealed as it is and after any edit that
keeps it valid; ``innopoints formula seal`` writes the sealed file. Nothing here reads or writes a file.
"""

from __future__ import annotations

import re

import yaml

from innopoints.features.catalog import CATEGORIES, OFFICIAL_GROUPS
from innopoints.models.formula.curves import CURVE_TYPES
from innopoints.models.formula.schema import Formula, Provenance, _known_indicators

TOP_COMMENTS: dict[str, str] = {
    "schema_version": "formula file schema; keep it '1.0' (quoted). Every key: docs/formula.md",
    "name": "a short id: lower case letters, digits, '.', '_' or '-'",
    "version": "your version label, e.g. 2025.1",
    "title": "one line people read in reports",
    "description": "what the formula is and where its numbers come from",
    "illustrative": "true when the numbers are not the real official ones",
    "scale": "base_points: every stage's indicator points sum to it; bonus_points: cap on the bonus total",
    "stage_rule": "lifecycle stage (start-up 初创期 / growth 成长期 / stable 稳定期) by firm age in years",
    "indicators": "scored indicators: ids from `innopoints indicators`; points per stage sum to base_points",
    "bonus": "bonus items: each scores up to its points; the bonus total is capped at scale.bonus_points",
    "local_indicators": "your own indicators (expressions over raw columns); see docs/formula.md",
    "provenance": "how the formula was made; leave content_hash empty: `innopoints formula seal` fills it",
}

KEY_COMMENTS: dict[str, str] = {
    "points": "max points in each stage (startup, growth, stable); bonus items: one number",
    "curve": f"value -> fraction of the max points: {' | '.join(CURVE_TYPES)}",
    "missing": "a missing value scores: zero | fixed (fraction) | stage_median | risk_matched",
    "direction": "1: more is better (the policy direction); -1: less is better",
}

_ITEM = re.compile(r"^(?P<indent>\s*)- id: (?P<id>\S+)\s*$")
_KEY = re.compile(r"^(?P<indent>\s*)(?P<key>[a-z_]+):")
_INDICATOR = re.compile(r"^\s*indicator: (?P<id>\S+)\s*$")


def template(formula: Formula, source: str) -> str:
    """The commented YAML template of ``formula`` (read from ``source``), unsealed."""
    draft = formula.model_copy(update={
        "provenance": Provenance(method="hand-written",
                                 notes=f"from {source} ({formula.name} {formula.version}, "
                                       f"{formula.compute_hash()[:12]}); edited by hand")})
    text = yaml.safe_dump(draft.to_dict(), allow_unicode=True, sort_keys=False, width=110)
    known = _known_indicators(formula.local_indicators)
    lines = [
        f"# innopoints points formula: a template to edit, made from {source}.",
        "# Check it with `innopoints formula check FILE`; it loads unsealed wherever a formula is accepted,",
        "# and `innopoints formula seal FILE --out FILE` writes it sealed (with its content hash).",
        "",
    ]
    section = ""
    for line in text.splitlines():
        item = _ITEM.match(line)
        key = _KEY.match(line)
        if key and not key["indent"]:
            section = key["key"]
            lines.append(f"# {TOP_COMMENTS.get(section, '')}".rstrip())
            lines.append(line)
            continue
        if item and section == "indicators" and item["id"] in known:
            lines.append(f"{line}  # {_describe(known[item['id']])}")
            continue
        indicator = _INDICATOR.match(line)
        if indicator and section == "bonus" and indicator["id"] in known:
            lines.append(f"{line}  # {_describe(known[indicator['id']])}")
            continue
        if key and section in ("indicators", "bonus") and key["key"] in KEY_COMMENTS and line.rstrip().endswith(":"):
            lines.append(f"{line}  # {KEY_COMMENTS[key['key']]}")
            continue
        lines.append(line)
    return "\n".join(lines) + "\n"


def _describe(meta: dict) -> str:
    parts = [f"{meta['name_zh']} {meta['name_en']}".strip()]
    if meta.get("official_group"):
        parts.append(f"1.0 {OFFICIAL_GROUPS.get(meta['official_group'], meta['official_group'])}")
    if meta.get("category"):
        parts.append(f"2.0 {CATEGORIES.get(meta['category'], meta['category'])}")
    parts.append(f"direction {meta['direction']:+d}")
    if meta.get("unit"):
        parts.append(str(meta["unit"]))
    return " · ".join(parts)
