"""Reading YAML strictly: duplicate keys are errors, and errors carry line and column.

Bounded (see mesh.documents.limits): the text is at most MAX_DOCUMENT_BYTES, and it is first
read as a stream of events (PyYAML's parser keeps a stack, it does not recurse) to refuse
nesting deeper than MAX_DEPTH and every anchor or alias before the composer and constructor,
which recurse once per level and expand aliases, ever see it. Numbers longer than
MAX_NUMBER_CHARS are refused, and a value the constructor cannot build (`2001-02-31`) is a
problem of the text. Reading is then linear in the size of the text.
"""

from __future__ import annotations

from typing import Any, NoReturn

import yaml

from mesh.documents.limits import MAX_DEPTH, number_problem, size_problem
from mesh.errors import Problem

# libyaml when the PyYAML wheel has it (Linux and macOS wheels do): an order of magnitude
# faster than the pure-Python loader, with the same resolver and constructors.
_BASE: type[yaml.SafeLoader] = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader  # type: ignore[assignment]


class _StrictLoader(_BASE):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last one),
    numbers too long to convert cheaply, and values it cannot construct, each with its mark."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            problem = f"cannot read this value: {exc}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:
            problem = "a key must be a string, not a collection"
            raise yaml.constructor.ConstructorError(None, None, problem, key_node.start_mark) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    mapping: dict[Any, Any] = loader.construct_mapping(node, deep=deep)
    return mapping


def _bounded_number(tag: str) -> Any:
    construct = yaml.SafeLoader.yaml_constructors[tag]

    def construct_number(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
        problem = number_problem(str(node.value))
        if problem is not None:
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        return construct(loader, node)

    return construct_number


# libyaml's own bound (1,000 levels, met before MAX_DEPTH when its scanner reads ahead), said as ours.
_LIBYAML_TOO_DEEP = "exceeded maximum nesting depth"

_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
for _tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
    _StrictLoader.add_constructor(_tag, _bounded_number(_tag))


def _check_shape(text: str | bytes) -> None:
    """Raise a MarkedYAMLError for nesting beyond MAX_DEPTH or any anchor or alias."""
    events = _BASE(text)
    try:
        depth = 0
        while events.check_event():
            event = events.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.AliasEvent):
                _refuse(f"aliases (*{event.anchor}) are not supported; write the value out in full", event)
            if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
                _refuse(f"anchors (&{event.anchor}) and aliases are not supported; write the value out in full", event)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    _refuse(f"nested more than {MAX_DEPTH} levels deep", event)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        events.dispose()


def _refuse(problem: str, event: yaml.Event) -> NoReturn:
    mark: Any = event.start_mark  # libyaml's Mark or PyYAML's: the same fields
    raise yaml.composer.ComposerError(None, None, problem, mark)


def parse_yaml(text: str | bytes) -> tuple[Any, list[Problem]]:
    """Parse YAML (JSON is YAML too); return the value or a problem with its position."""
    too_big = size_problem(text)
    if too_big is not None:
        return None, [too_big]
    try:
        _check_shape(text)
        return yaml.load(text, Loader=_StrictLoader), []  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        if what == _LIBYAML_TOO_DEEP:
            what = f"nested more than {MAX_DEPTH} levels deep"
        return None, [Problem("", f"invalid YAML{where}: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem("", f"invalid YAML: {exc}")]
