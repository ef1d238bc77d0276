"""Structured output: check a caller's JSON Schema, then parse and validate replies.

A schema is either a Pydantic model (the reply becomes an instance of it) or a
JSON Schema dict (the reply stays plain JSON, checked with ``jsonschema``).
Validation problems are reported as ``{"path", "keyword", "message"}`` dicts
that never quote the reply itself: they go back to API clients, and the reply
is upstream text.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft202012Validator, SchemaError
from pydantic import BaseModel, ValidationError

from app.core.ai.base import Message

#: A Pydantic model class, or a JSON Schema.
SchemaSpec = type[BaseModel] | dict[str, Any]
#: Deepest nesting a caller's schema may have.
MAX_SCHEMA_DEPTH = 32
#: Most subschemas a caller's schema may hold once its references are followed:
#: a few kilobytes of ``$ref`` fanning out can otherwise stand for millions.
MAX_EXPANDED_SUBSCHEMAS = 10_000
#: Deepest nesting of a reply that is validated (deeper: a problem, not a crash).
MAX_REPLY_DEPTH = 64
#: Problems reported per reply; the first few are enough to repair it.
MAX_PROBLEMS = 20
#: Keywords that give a subschema an identity of its own, to be referenced by
#: name or by a changing base URI. Refused: references go by JSON pointer only,
#: which keeps every schema checkable here for cycles and size.
_IDENTITY_KEYWORDS = (
    "$id",
    "$anchor",
    "$dynamicAnchor",
    "$dynamicRef",
    "$recursiveAnchor",
    "$recursiveRef",
)

# Keywords whose value is a schema, a list of schemas or a map of schemas.
_SUBSCHEMA = frozenset(
    {
        "additionalItems", "additionalProperties", "contains", "else", "if", "items", "not",
        "propertyNames", "then", "unevaluatedItems", "unevaluatedProperties",
    }
)  # fmt: skip
_SUBSCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_SUBSCHEMA_MAPS = frozenset({"$defs", "definitions", "dependentSchemas", "properties"})


class SchemaProblem(ValueError):
    """A caller's schema cannot be used; ``kind`` is a stable error type."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def check_schema(schema: dict[str, Any], *, max_bytes: int) -> None:
    """Accept a caller's JSON Schema, or raise :class:`SchemaProblem` saying why not.

    Besides size, depth and validity, some things are refused: ``$ref`` to
    anything outside the schema (nothing is ever fetched) or that cannot be
    followed, recursive schemas (a reference cycle: validating against one may
    never end), references that multiply the schema past
    ``MAX_EXPANDED_SUBSCHEMAS``, and ``pattern`` / ``patternProperties``, whose
    regular expressions would run on model output in Python's backtracking
    engine, where one crafted pattern can pin a CPU.
    """
    _check_depth(schema)
    size = len(json.dumps(schema, separators=(",", ":")).encode())
    if size > max_bytes:
        raise SchemaProblem(
            f"The schema is {size} bytes; the limit is {max_bytes} (AI_MAX_SCHEMA_BYTES).",
            "schema_too_large",
        )
    _check_keywords(schema)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise SchemaProblem(f"Not a valid JSON Schema: {exc.message}", "invalid_schema") from None
    _check_references(schema)


def _check_depth(schema: Any) -> None:
    # Iterative, so a hostile schema cannot exhaust the recursion limit here.
    stack = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_SCHEMA_DEPTH:
            raise SchemaProblem(
                f"The schema is nested deeper than {MAX_SCHEMA_DEPTH} levels.", "schema_too_deep"
            )
        if isinstance(node, dict | list):
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _check_keywords(schema: Any) -> None:
    if not isinstance(schema, dict):
        return  # true/false schemas, or a type error check_schema reports
    for keyword in ("pattern", "patternProperties"):
        if keyword in schema:
            raise SchemaProblem(
                f"'{keyword}' is not supported: regular expressions from requests are not "
                "run on model output.",
                "unsupported_keyword",
            )
    for keyword in _IDENTITY_KEYWORDS:
        if keyword in schema:
            raise SchemaProblem(
                f"'{keyword}' is not supported: refer to subschemas with '$ref' and a JSON "
                "pointer ('#/$defs/name').",
                "unsupported_keyword",
            )
    reference = schema.get("$ref")
    if reference is not None and not (isinstance(reference, str) and reference.startswith("#")):
        raise SchemaProblem(
            "'$ref' may only point inside the schema (start with '#').", "external_ref"
        )
    for child in _subschemas(schema):
        _check_keywords(child)


def _subschemas(schema: dict[str, Any]) -> list[Any]:
    """The subschemas ``schema`` applies (those under ``$defs`` only when referenced)."""
    children: list[Any] = []
    for keyword, value in schema.items():
        if keyword in _SUBSCHEMA_MAPS and isinstance(value, dict):
            children += value.values()
        elif keyword in _SUBSCHEMA_LISTS and isinstance(value, list):
            children += value
        elif keyword in _SUBSCHEMA:
            children.append(value)
    return children


def _resolve(root: dict[str, Any], reference: str) -> Any:
    """The subschema a ``#/json/pointer`` reference names, or a :class:`SchemaProblem`."""
    pointer = unquote(reference[1:])
    target: Any = root
    for token in pointer.split("/")[1:] if pointer else ():
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            target = target[int(key)]
        else:
            raise SchemaProblem(f"'$ref' {reference!r} points at nothing.", "invalid_ref")
    return target


def _check_references(root: dict[str, Any]) -> None:
    """Follow every ``$ref`` from the root: refuse a cycle, a reference that points
    at nothing, and a schema that expands past ``MAX_EXPANDED_SUBSCHEMAS``."""
    # Depth-first, iteratively; ``None`` marks leaving the target of a reference.
    stack: list[Any] = [root]
    following: list[int] = []
    expanded = 0
    while stack:
        node = stack.pop()
        if node is None:
            following.pop()
            continue
        expanded += 1
        if expanded > MAX_EXPANDED_SUBSCHEMAS:
            raise SchemaProblem(
                f"The schema's references expand it past {MAX_EXPANDED_SUBSCHEMAS} subschemas.",
                "schema_too_large",
            )
        if not isinstance(node, dict):
            continue
        stack.extend(_subschemas(node))
        reference = node.get("$ref")
        if isinstance(reference, str):
            target = _resolve(root, reference)
            if id(target) in following or target is node:
                raise SchemaProblem(
                    "Recursive schemas are not supported: a '$ref' leads back to itself.",
                    "schema_recursive",
                )
            following.append(id(target))
            stack.extend((None, target))


def json_schema_of(spec: SchemaSpec) -> dict[str, Any]:
    """The JSON Schema to send upstream for ``spec``."""
    if isinstance(spec, dict):
        return spec
    return spec.model_json_schema()


def instruction(schema: dict[str, Any]) -> Message:
    """A system message asking for JSON only: servers without a native JSON mode need it."""
    return Message(
        "system",
        "Reply with one JSON value and nothing else (no prose, no code fences). "
        f"It must match this JSON Schema:\n{json.dumps(schema, separators=(',', ':'))}",
    )


def repair_turns(reply: str, problems: list[dict[str, str]]) -> tuple[Message, ...]:
    """The turns that show the model its invalid reply and what was wrong with it."""
    listed = "\n".join(f"- at '{p['path'] or '/'}': {p['message']}" for p in problems)
    return (
        Message("assistant", reply),
        Message(
            "user",
            f"That reply does not match the JSON Schema:\n{listed}\n"
            "Reply again with only the corrected JSON value.",
        ),
    )


def validate_reply(text: str, spec: SchemaSpec) -> tuple[Any, list[dict[str, str]]]:
    """Parse ``text`` as JSON and check it against ``spec``.

    :returns: The value (a model instance for a Pydantic ``spec``) and an empty
        list, or ``None`` and the problems found.
    """
    try:
        value = json.loads(_strip_fences(text))
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        return None, [{"path": "", "keyword": "json", "message": message}]
    except RecursionError:
        value = None
        too_deep = True
    else:
        too_deep = _too_deep(value)
    if too_deep:
        message = f"nested deeper than {MAX_REPLY_DEPTH} levels"
        return None, [{"path": "", "keyword": "json", "message": message}]
    if isinstance(spec, dict):
        errors = sorted(
            Draft202012Validator(spec).iter_errors(value), key=lambda error: list(error.path)
        )
        problems = [
            {
                "path": _pointer(error.absolute_path),
                "keyword": str(error.validator),
                "message": f"fails '{error.validator}': "
                f"{json.dumps(error.validator_value, default=str)[:200]}",
            }
            for error in errors[:MAX_PROBLEMS]
        ]
        return (None, problems) if problems else (value, [])
    try:
        return spec.model_validate(value), []
    except ValidationError as exc:
        problems = [
            {"path": _pointer(error["loc"]), "keyword": error["type"], "message": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False)[:MAX_PROBLEMS]
        ]
        return None, problems


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_REPLY_DEPTH:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def _strip_fences(text: str) -> str:
    # Models asked for bare JSON still wrap it in ```json fences now and then.
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped[3:-3]
        stripped = stripped.removeprefix("json").strip()
    return stripped


def _pointer(path: Any) -> str:
    return "".join(f"/{part}" for part in path)
