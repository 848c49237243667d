"""The playground: a page in the spirit of the TensorFlow Neural Network Playground, with the
network trained live by deltagrad on a local server (``deltagrad playground``).

Needs ``starlette`` and ``uvicorn`` (``pip install deltagrad[playground]``), imported only
when the server is created or run.

>>> from deltagrad.playground import Settings, parse_settings
>>> parse_settings({"dataset": "spirals", "hidden": [16, 16]}).hidden
(16, 16)
"""

from .server import create_app, running_server, serve
from .settings import FIELDS, Settings, SettingsError, parse_settings, schema

__all__ = ["FIELDS", "Settings", "SettingsError", "create_app", "parse_settings",
           "running_server", "schema", "serve"]
