"""The Python interpreter of Retort: a componentize-py component (built by
scripts/build-interpreters) that runs ``*.py`` revision scripts handed to it
as data, through the ``script-runner`` world.

A script sets ``id``, ``parents`` and ``message`` at module level (optionally
``branch_labels``, ``depends_on`` and ``transactional``), defines
``upgrade()`` and ``downgrade()``, and reaches the database through
``from retort import db, log``.
"""

import traceback

import wit_world
from componentize_py_types import Err
from wit_world.imports import scripts, types

import retort  # noqa: F401  imported here so that scripts find it loaded
import retort_alembic  # noqa: F401,E402  what `retort import alembic` scripts use

# The component has no file system at run time: a module a script imports
# must already be loaded when the interpreter is snapshotted at build time.
# These are the standard library modules revision scripts are offered.
import base64  # noqa: F401,E402
import collections  # noqa: F401,E402
import dataclasses  # noqa: F401,E402
import datetime  # noqa: F401,E402
import decimal  # noqa: F401,E402
import enum  # noqa: F401,E402
import functools  # noqa: F401,E402
import hashlib  # noqa: F401,E402
import itertools  # noqa: F401,E402
import json  # noqa: F401,E402
import math  # noqa: F401,E402
import re  # noqa: F401,E402
import string  # noqa: F401,E402
import textwrap  # noqa: F401,E402
import typing  # noqa: F401,E402
import uuid  # noqa: F401,E402


def _line(script, exc):
    """The last line of ``script`` the exception's traceback passed through."""
    if isinstance(exc, SyntaxError) and exc.filename == script.path:
        return exc.lineno
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == script.path:
            line = lineno
    return line


def _failure(script, exc):
    if isinstance(exc, SyntaxError):
        message = f"{type(exc).__name__}: {exc.msg}"
    else:
        message = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return Err(scripts.ScriptError(message, _line(script, exc)))


def _complaint(message):
    return Err(scripts.ScriptError(message, None))


# Namespaces of the scripts this instance has loaded. An instance serves one
# call (the host checks `info` and runs `upgrade` in the same one), so the
# module body runs once per call.
_loaded = {}


def _load(script):
    """Runs the script's module body (once per instance); returns its namespace."""
    key = (script.path, script.source)
    if key in _loaded:
        return _loaded[key]
    namespace = {"__name__": "retort_revision", "__file__": script.path}
    try:
        exec(compile(script.source, script.path, "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001  every failure is the script's
        raise _failure(script, exc)
    _loaded[key] = namespace
    return namespace


def _strings(namespace, name):
    value = namespace.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise _complaint(f"`{name}` must be a string, a list of strings or None")


class WitWorld(wit_world.WitWorld):
    """The exports of the ``script-runner`` world."""

    def info(self, script):
        namespace = _load(script)
        rid = namespace.get("id")
        if not isinstance(rid, str):
            raise _complaint('the script must set its id at module level: id = "<revision id>"')
        message = namespace.get("message", "")
        if not isinstance(message, str):
            raise _complaint("`message` must be a string")
        return types.RevisionInfo(
            rid,
            _strings(namespace, "parents"),
            message,
            _strings(namespace, "branch_labels"),
            _strings(namespace, "depends_on"),
            namespace.get("transactional", True) is not False,
        )

    def upgrade(self, script):
        self._run(script, "upgrade")

    def downgrade(self, script):
        self._run(script, "downgrade")

    def _run(self, script, name):
        namespace = _load(script)
        function = namespace.get(name)
        if not callable(function):
            raise _complaint(f"the script defines no `{name}()` function")
        try:
            function()
        except BaseException as exc:  # noqa: BLE001
            raise _failure(script, exc)
