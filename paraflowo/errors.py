"""Exceptions the library raises for conditions outside the caller's arguments.

The library never imports the command line; the command line maps these to its
exit statuses (:class:`MissingDependency`: one line on stderr, status 2).
"""

from __future__ import annotations

__all__ = ["MissingDependency"]


class MissingDependency(ImportError):
    """An optional dependency a feature needs is not installed.

    ``str(exc)`` is one line saying what needs what and how to install it, e.g.
    ``plotting needs matplotlib, which is not installed: pip install
    'paraflowo[plot]'``.

    Parameters
    ----------
    feature : str
        What needs the dependency ("plotting", "pcap input").
    module : str
        The missing module's import name (also ``exc.name``).
    extra : str
        The paraflowo extra that installs it (also ``exc.extra``); the hint is
        ``pip install 'paraflowo[<extra>]'``.

    Examples
    --------
    >>> from paraflowo.errors import MissingDependency
    >>> exc = MissingDependency("plotting", "matplotlib", "plot")
    >>> print(exc)
    plotting needs matplotlib, which is not installed: pip install 'paraflowo[plot]'
    >>> isinstance(exc, ImportError), exc.name, exc.install_hint
    (True, 'matplotlib', "pip install 'paraflowo[plot]'")
    """

    def __init__(self, feature: str, module: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        self.install_hint = f"pip install 'paraflowo[{extra}]'"
        super().__init__(f"{feature} needs {module}, which is not installed: {self.install_hint}",
                         name=module)

    def __reduce__(self):
        return (type(self), (self.feature, self.name, self.extra))
