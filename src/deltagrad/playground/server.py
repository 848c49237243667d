"""Running the playground: a local socket, uvicorn serving the app of ``api.py`` on it, and
the page opened in a browser (``serve``), or all of it in a background thread for a ``with``
block (``running_server``).

It listens on 127.0.0.1 unless told otherwise, and then answers only to local host names.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import webbrowser
from collections.abc import Iterator

import uvicorn

from .api import LOCAL_HOSTS, create_app

__all__ = ["LOCAL_HOSTS", "bind", "create_app", "hosts_for", "running_server", "serve",
           "url_of"]


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free one the system picks)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(f"port must be an int in [0, 65535] (0 picks a free one), got {port!r}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def hosts_for(host: str):
    """The host names to answer to: local ones on a loopback address, any otherwise."""
    return LOCAL_HOSTS if host in LOCAL_HOSTS or host.startswith("127.") else ("*",)


def _server(host: str, port: int, app_options: dict) -> tuple[socket.socket, uvicorn.Server]:
    """A socket listening on ``host``:``port`` and a uvicorn server of the app for it."""
    sock = bind(host, port)
    app = create_app(allowed_hosts=hosts_for(host), **app_options)
    return sock, uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))


def serve(host: str = "127.0.0.1", port: int = 0, *, open_browser: bool = True,
          on_ready=None, **app_options) -> None:
    """Run the playground until interrupted. ``on_ready(url)`` is called once it listens."""
    sock, server = _server(host, port, app_options)
    url = url_of(sock)

    def ready():
        if on_ready is not None:
            on_ready(url)
        if open_browser:
            webbrowser.open(url)

    threading.Thread(target=_when_started, args=(server, ready), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _when_started(server, callback, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    if server.started:
        callback()


@contextlib.contextmanager
def running_server(host: str = "127.0.0.1", port: int = 0, **app_options) -> Iterator[str]:
    """Run the playground in a background thread for the ``with`` block; yields its URL
    (for tests, notebooks and scripts).

    >>> import httpx
    >>> with running_server() as url:
    ...     httpx.get(url + "api/config").status_code
    200
    """
    sock, server = _server(host, port, app_options)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="deltagrad-playground")
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the playground server did not start")
            time.sleep(0.02)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
