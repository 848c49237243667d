"""The playground: a page in the spirit of the TensorFlow Neural Network Playground, with the
network trained live by deltagrad on a local server (``deltagrad playground``).

The settings and sessions need NumPy only; the web app (``api.py``) and the server that runs
it (``server.py``) need ``starlette`` and ``uvicorn`` (``pip install deltagrad[playground]``),
imported on first use of ``create_app``, ``serve`` or ``running_server``.

>>> from deltagrad.playground import Settings, parse_settings
>>> parse_settings({"dataset": "spirals", "hidden": [16, 16]}).hidden
(16, 16)
"""

from typing import TYPE_CHECKING

from .settings import FIELDS, Settings, SettingsError, parse_settings, schema

if TYPE_CHECKING:
    from .server import create_app, running_server, serve

__all__ = ["FIELDS", "Settings", "SettingsError", "create_app", "parse_settings",
           "running_server", "schema", "serve"]

_SERVER = ("create_app", "running_server", "serve")


def __getattr__(name: str):
    if name in _SERVER:
        # starlette and uvicorn are optional: the server loads on first use of these names
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
