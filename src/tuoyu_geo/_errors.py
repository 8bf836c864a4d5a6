"""Error classes.  Every error a user can cause is a :class:`TuoyuError` and says how to fix it.

The classes also subclass a built-in (``ValueError``, ``FileNotFoundError`` …) so callers that
catch built-ins keep working.  The CLI maps them to exit codes (see :mod:`tuoyu_geo.cli`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem found in one input file.

    Parameters
    ----------
    file : str
        File (or layer) name the problem was found in.
    message : str
        What is wrong.
    ids : tuple of str
        Offending row ids (empty when the problem concerns the whole file).
    fix : str
        How to fix it.
    """

    file: str
    message: str
    ids: tuple[str, ...] = field(default_factory=tuple)
    fix: str = ""

    def format(self, *, max_ids: int = 10) -> str:
        ids = ""
        if self.ids:
            shown = ", ".join(str(i) for i in self.ids[:max_ids])
            more = f" … (+{len(self.ids) - max_ids} more)" if len(self.ids) > max_ids else ""
            ids = f" [ids: {shown}{more}]"
        fix = f"\n    fix: {self.fix}" if self.fix else ""
        return f"{self.file}: {self.message}{ids}{fix}"


class TuoyuError(Exception):
    """Base class of all errors raised by tuoyu_geo on purpose."""

    exit_code = 1


class DataError(TuoyuError, ValueError):
    """Input data break the data contract.  Holds every problem found (``.problems``)."""

    exit_code = 2

    def __init__(self, problems: Sequence[Problem] | str, *, file: str = "", fix: str = ""):
        if isinstance(problems, str):
            problems = [Problem(file=file or "input", message=problems, fix=fix)]
        self.problems: tuple[Problem, ...] = tuple(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in the input data:" if n > 1 else ""
        body = "\n".join(("  - " if n > 1 else "") + p.format() for p in self.problems)
        super().__init__((head + "\n" + body) if head else body)

    @classmethod
    def collect(cls, problems: Iterable[Problem]) -> None:
        """Raise one DataError with all ``problems`` if there are any."""
        problems = list(problems)
        if problems:
            raise cls(problems)


class PolicyError(DataError):
    """A policy profile is unknown or a policy file is malformed."""


class NetworkError(DataError):
    """The walking network is missing, empty or unusable for the study area."""


class InfeasiblePlanError(TuoyuError, ValueError):
    """A planning rule cannot be met.  ``.reasons`` lists (街道, rule, why) for every failure."""

    exit_code = 3

    def __init__(self, reasons: Sequence[tuple[str, str, str]], *, fix: str = ""):
        self.reasons = tuple(reasons)
        lines = [f"  - {s}: rule {rule!r} cannot be met: {why}" for s, rule, why in self.reasons]
        msg = "The site plan is infeasible:\n" + "\n".join(lines)
        if fix:
            msg += f"\n  fix: {fix}"
        super().__init__(msg)


class SolverError(TuoyuError, RuntimeError):
    """The MILP solver failed or is not installed."""

    exit_code = 4


class OutputError(TuoyuError, OSError):
    """An output file or folder cannot be written.

    Parameters
    ----------
    message : str
        What cannot be written and why (name the path).
    path : str, optional
        The file or folder concerned (kept as ``.path``).
    fix : str, optional
        How to fix it (appended as a ``fix:`` line).
    """

    exit_code = 5

    def __init__(self, message: str = "", *, path: str = "", fix: str = ""):
        self.path, self.fix = str(path), fix
        super().__init__(message + (f"\n  fix: {fix}" if fix else ""))

    def __str__(self) -> str:  # OSError would show its args as a tuple when given several
        return str(self.args[0]) if self.args else ""

    def __reduce__(self):  # picklable with the keywords (e.g. across processes)
        return (_output_error, (self.args[0] if self.args else "", self.path))


class FontError(OutputError):
    """No font can draw Chinese in a figure or report (the message is one line with the fix)."""


def _output_error(message: str, path: str) -> OutputError:
    return OutputError(message, path=path)


__all__ = [
    "DataError",
    "FontError",
    "InfeasiblePlanError",
    "NetworkError",
    "OutputError",
    "PolicyError",
    "Problem",
    "SolverError",
    "TuoyuError",
]
