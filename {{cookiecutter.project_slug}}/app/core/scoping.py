"""Row scoping: which rows of a table the current caller may see, and what new rows get.

A module that restricts access registers a rule here: rows private to whoever
created them, or to one tenant, say. Views pass :func:`visible` conditions and
:func:`stamp` columns to the services, which stay unaware of who is asking.
With no rule registered, every row is visible and new rows get nothing extra.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import ColumnElement


class ScopeRule(Protocol):
    def where(self, model: type[Any]) -> list[ColumnElement[bool]]:
        """Conditions a row of ``model`` must meet to be visible to the caller."""
        ...

    def stamp(self, model: type[Any]) -> dict[str, Any]:
        """Column values a new row of ``model`` gets from the caller."""
        ...


def init_app(app: Flask) -> None:
    app.extensions["scope_rules"] = []


def add_rule(app: Flask, rule: ScopeRule) -> None:
    app.extensions["scope_rules"].append(rule)


def _rules() -> list[ScopeRule]:
    rules: list[ScopeRule] = current_app.extensions["scope_rules"]
    return rules


def visible(model: type[Any]) -> list[ColumnElement[bool]]:
    """Every condition the registered rules put on reading or changing ``model`` rows."""
    return [condition for rule in _rules() for condition in rule.where(model)]


def stamp(model: type[Any]) -> dict[str, Any]:
    """The column values the registered rules give a new ``model`` row."""
    values: dict[str, Any] = {}
    for rule in _rules():
        values.update(rule.stamp(model))
    return values
