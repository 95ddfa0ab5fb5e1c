"""Declarative hyperparameter constraints and the one place they are checked.

Each estimator lists its tunable parameters in a class attribute ``_param_specs`` (name ->
``Param``), the way scikit-learn's estimators declare ``_parameter_constraints``; ``fit``
calls ``validate_params`` first. The same table gives the CLI and the app their forms and
slider ranges, so a bound is written once.
"""
from __future__ import annotations

from dataclasses import dataclass

from data import InvalidParameter


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, bounds, whether None means "chosen automatically",
    the allowed strings for a choice, and a line of help for forms."""

    kind: type
    low: float | None = None
    high: float | None = None
    auto: bool = False
    choices: tuple = ()
    help: str = ""

    def describe(self) -> str:
        if self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            text = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[self.kind]
            if self.low is not None and self.high is not None:
                text += f" from {self.low:g} to {self.high:g}"
            elif self.low is not None:
                text += f" >= {self.low:g}"
        return text + (" (or None: chosen automatically)" if self.auto else "")

    def check(self, name: str, value, owner: str):
        """``value`` converted to this parameter's type, or InvalidParameter naming it."""
        if value is None and self.auto:
            return None
        problem = InvalidParameter(f"{owner} parameter {name} must be {self.describe()}, got {value!r}")
        if self.choices:
            if value not in self.choices:
                raise problem
            return value
        if self.kind is bool:
            if not isinstance(value, bool):
                raise problem
            return value
        if isinstance(value, bool) or value is None:
            raise problem
        try:
            number = self.kind(value)
            if self.kind is int and number != float(value):
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise problem from None
        if number != number or (self.low is not None and number < self.low) or \
                (self.high is not None and number > self.high):
            raise problem
        return number


def validate_params(estimator) -> dict:
    """The estimator's declared hyperparameters, checked and converted (None stays None where
    it means "automatic"); raises InvalidParameter with the parameter's name."""
    owner = getattr(estimator, "display_name", type(estimator).__name__)
    return {name: spec.check(name, getattr(estimator, name), owner)
            for name, spec in type(estimator)._param_specs.items()}
