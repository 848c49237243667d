"""The playground's web server: a Starlette app with a small JSON API and an event stream.

Each browser tab creates a session (``POST /api/sessions``) and gets its id; it then drives it
with ``start``, ``pause``, ``step``, ``reset`` and ``settings``, and listens to
``GET /api/sessions/{id}/events``, a stream of server-sent events: ``data`` (the points, when
they change) and ``state`` (epoch, losses, accuracies, the heat map, the loss curves).

Safety: it listens on 127.0.0.1 unless told otherwise, answers only to local host names
there (so a web page elsewhere cannot reach it through DNS tricks), takes JSON bodies only
(so other sites' forms cannot post to it), checks every setting against its bounds, and
serves exactly three static files, by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from importlib import resources

from .session import Session, Sessions, TooManySessions
from .settings import Settings, SettingsError, parse_settings, schema

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_BODY = 16 * 1024
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
HEADERS = {  # the page loads nothing from anywhere else
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(*, allowed_hosts=LOCAL_HOSTS, max_sessions: int = 32,
               idle_pause_s: float = 30.0, session_ttl_s: float = 600.0,
               publish_every: float = 0.1, reap_every: float = 2.0):
    """The playground as an ASGI app (Starlette). ``allowed_hosts`` are the host names it
    answers to (``["*"]`` for any); sessions unwatched for ``idle_pause_s`` seconds pause and
    those idle for ``session_ttl_s`` are closed.

    >>> app = create_app()
    >>> sorted(route.path for route in app.routes)[:2]
    ['/', '/api/config']
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    sessions = Sessions(max_sessions=max_sessions, idle_pause_s=idle_pause_s,
                        ttl_s=session_ttl_s, publish_every=publish_every)

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=HEADERS)

    def ok(payload: dict, status: int = 200) -> JSONResponse:
        return JSONResponse(payload, status_code=status, headers=HEADERS)

    async def read_json(request):
        """The request's JSON object (an empty one for an empty body), or an error response."""
        body = await request.body()
        if len(body) > MAX_BODY:
            return error(413, f"request body too large ({len(body)} bytes; at most {MAX_BODY})")
        if not body.strip():
            return {}
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            return error(415, "send settings as JSON (Content-Type: application/json)")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return error(400, f"the body is not valid JSON: {exc}")
        if not isinstance(payload, dict):
            return error(422, f"expected a JSON object, got {type(payload).__name__}")
        return payload

    def session_of(request) -> Session | JSONResponse:
        try:
            return sessions.get(request.path_params["sid"])
        except KeyError:
            return error(404, "no such session (it may have been closed after being idle); "
                              "reload the page to start a new one")

    async def page(request):
        return static_file("index.html")

    async def asset(request):
        name = request.path_params["name"]
        if name not in STATIC or name == "index.html":
            return error(404, f"no static file {name!r}")
        return static_file(name)

    async def config(request):
        return ok({"fields": schema(), "defaults": Settings().to_json()})

    async def create(request):
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        try:
            settings = parse_settings(payload)
            session = await run_in_threadpool(sessions.create, settings)
        except SettingsError as exc:
            return error(422, str(exc))
        except TooManySessions as exc:
            return error(503, str(exc))
        return ok({"id": session.id, "settings": settings.to_json()}, status=201)

    def control(action: str):
        async def endpoint(request):
            session = session_of(request)
            if isinstance(session, Response):
                return session
            await run_in_threadpool(getattr(session, action))
            return ok(session.snapshot)
        return endpoint

    async def reset(request):
        session = session_of(request)
        if isinstance(session, Response):
            return session
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        try:
            settings = parse_settings(payload, session.settings)
        except SettingsError as exc:
            return error(422, str(exc))
        await run_in_threadpool(session.reset, settings)
        return ok({"settings": settings.to_json(), "rebuilt": True, **session.snapshot})

    async def update(request):
        session = session_of(request)
        if isinstance(session, Response):
            return session
        payload = await read_json(request)
        if isinstance(payload, Response):
            return payload
        try:
            settings = parse_settings(payload, session.settings)
        except SettingsError as exc:
            return error(422, str(exc))
        rebuilt = await run_in_threadpool(session.update, settings)
        return ok({"settings": settings.to_json(), "rebuilt": rebuilt, **session.snapshot})

    async def state(request):
        session = session_of(request)
        return session if isinstance(session, Response) else ok(session.snapshot)

    async def data(request):
        session = session_of(request)
        return session if isinstance(session, Response) else ok(session.data)

    async def close(request):
        closed = await run_in_threadpool(sessions.close, request.path_params["sid"])
        return ok({"closed": closed})

    async def events(request):
        session = session_of(request)
        if isinstance(session, Response):
            return session
        return StreamingResponse(_stream(session, request), media_type="text/event-stream",
                                 headers={**HEADERS, "X-Accel-Buffering": "no"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        async def reaper():
            while True:
                await asyncio.sleep(reap_every)
                await run_in_threadpool(sessions.reap)

        task = asyncio.get_running_loop().create_task(reaper())
        try:
            yield
        finally:
            task.cancel()
            await run_in_threadpool(sessions.close_all)

    sid = "/api/sessions/{sid:str}"
    routes = [
        Route("/", page), Route("/static/{name:str}", asset), Route("/api/config", config),
        Route("/api/sessions", create, methods=["POST"]),
        Route(sid, state, methods=["GET"]), Route(sid, close, methods=["DELETE"]),
        Route(sid + "/data", data), Route(sid + "/events", events),
        Route(sid + "/close", close, methods=["POST"]),  # navigator.sendBeacon on unload
        Route(sid + "/reset", reset, methods=["POST"]),
        Route(sid + "/settings", update, methods=["POST"]),
    ] + [Route(f"{sid}/{action}", control(action), methods=["POST"])
         for action in ("start", "pause", "step")]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.sessions = sessions
    return app


def static_file(name: str):
    from starlette.responses import Response

    text = resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")
    return Response(text, media_type=STATIC[name], headers=HEADERS)


async def _stream(session: Session, request, poll: float = 0.05, keepalive: float = 15.0):
    """Server-sent events for one tab: the points when they change, each new snapshot."""
    session.listeners += 1
    sent_data = sent_state = -1
    quiet = 0.0
    try:
        yield "retry: 2000\n\n"
        while not session.closed:
            if session.data_version != sent_data:
                data = session.data
                sent_data = data["data_version"]
                yield f"event: data\ndata: {json.dumps(data)}\n\n"
            snapshot = session.snapshot
            if snapshot.get("version", -1) != sent_state:
                sent_state = snapshot["version"]
                yield f"event: state\ndata: {json.dumps(snapshot)}\n\n"
                quiet = 0.0
            elif quiet >= keepalive:
                yield ": keep-alive\n\n"
                quiet = 0.0
            if await request.is_disconnected():
                break
            await asyncio.sleep(poll)
            quiet += poll
            session.touch()
        yield "event: closed\ndata: {}\n\n"
    finally:
        session.listeners -= 1


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


def serve(host: str = "127.0.0.1", port: int = 0, *, open_browser: bool = True,
          on_ready=None, **app_options) -> None:
    """Run the playground until interrupted. ``on_ready(url)`` is called once it listens."""
    import uvicorn

    sock = bind(host, port)
    url = url_of(sock)
    app = create_app(allowed_hosts=hosts_for(host), **app_options)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))

    def ready():
        if on_ready is not None:
            on_ready(url)
        if open_browser:
            import webbrowser
            webbrowser.open(url)

    threading.Thread(target=_when_started, args=(server, ready), daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _when_started(server, callback, timeout: float = 30.0) -> None:
    import time

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
    import uvicorn

    sock = bind(host, port)
    app = create_app(allowed_hosts=hosts_for(host), **app_options)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="deltagrad-playground")
    thread.start()
    try:
        import time

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
