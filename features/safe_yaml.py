"""One YAML loader for every YAML a person hands us: formula files, run configs, policy files (and the local
indicators they declare).

PyYAML's ``safe_load`` builds only plain data but does not limit alias expansion: a few hundred bytes of
anchors and aliases ("billion laughs") expand to gigabytes and run for minutes. Our files never need
anchors or aliases, so :func:`load_yaml` refuses them outright, at the first one, before anything is
expanded; it also refuses text longer than :data:`MAX_YAML_CHARS`, nesting deeper than
:data:`MAX_YAML_DEPTH`, and a key written twice in one mapping (PyYAML keeps the last one silently).
A refusal is a :class:`RefusedYAMLError`, a ``yaml.YAMLError``, so callers that
already turn ``yaml.YAMLError`` into their own one-line error (``FormulaError``, ``ConfigError``) need no
new branch.

This module takes text, never a path: the models layer must not touch files.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

MAX_YAML_CHARS = 1_000_000
"""Longest YAML text accepted (characters, about 1 MB). The largest shipped formula is about 60 kB."""

MAX_YAML_DEPTH = 50
"""Deepest nesting of mappings and lists accepted; our files nest at most 6 levels."""


class RefusedYAMLError(yaml.YAMLError):
    """YAML text refused: too long, too deep, using anchors or aliases, or repeating a key."""


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing anchors, aliases and deep nesting while it composes (before any expansion)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 (PyYAML's own signature)
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise RefusedYAMLError(f"alias *{event.anchor} at {_where(event)}: anchors and aliases are not "
                                   "allowed (write the value out)")
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor is not None:
            raise RefusedYAMLError(f"anchor &{event.anchor} at {_where(event)}: anchors and aliases are not "
                                   "allowed (write the value out)")
        if isinstance(event, CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                raise RefusedYAMLError(f"nesting deeper than {MAX_YAML_DEPTH} levels at {_where(event)}")
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # noqa: ANN001, ANN201 (PyYAML's own signature)
        # PyYAML keeps the last of two equal keys without a word: a pasted line would silently win.
        first: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:  # an unhashable key: PyYAML's own error says so
                break
            if seen is not key_node:
                raise RefusedYAMLError(f"key {key!r} appears twice, at line {seen.start_mark.line + 1} and line "
                                       f"{key_node.start_mark.line + 1}: keep one")
        return super().construct_mapping(node, deep=deep)


def _where(event: Any) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1} column {mark.column + 1}"


def load_yaml(text: str) -> Any:
    """Parse one YAML document into plain data (dicts, lists, strings, numbers, booleans, None).

    Raises:
        RefusedYAMLError: the text is longer than :data:`MAX_YAML_CHARS`, nests deeper than
            :data:`MAX_YAML_DEPTH`, uses an anchor or alias, or repeats a key in one mapping.
        yaml.YAMLError: the text is not valid YAML.
    """
    if len(text) > MAX_YAML_CHARS:
        raise RefusedYAMLError(f"{len(text):,} characters, more than the {MAX_YAML_CHARS:,} accepted")
    loader = _NoAliasLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
