"""The playground's web app: its page, a small JSON API and an event stream, on Starlette.

Each browser tab creates a session (``POST /api/sessions``) and gets its id; it then drives it
with ``start``, ``pause``, ``step``, ``reset`` and ``settings``, asks for the δ trace of one
training point (``explain``), and listens to ``GET /api/sessions/{id}/events``, a stream of
server-sent events: ``data`` (the points and the input features' heat maps, when they
change) and ``state`` (epoch, losses, accuracies, the output heat map, the loss curves, the
network diagram and the last step's δ's and gradients).

Every endpoint is one module-level function declared with ``@endpoint(path, methods)``:
adding one is writing one function. A request that can not be served raises (``ApiError``
with its status, or a settings or capacity error); ``_refuse`` turns each into its JSON
answer, the one error path.

Safety: it answers only to the host names it is given (local ones by default, so a web page
elsewhere cannot reach it through DNS tricks), takes JSON bodies only (so other sites' forms
cannot post to it), checks every setting against its bounds, and serves its own static files
(``STATIC``), by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .features import labels
from .session import Session
from .sessions import Sessions, TooManySessions
from .settings import PROBLEMS, Settings, SettingsError, parse_settings, schema

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_BODY = 16 * 1024
JAVASCRIPT = "text/javascript; charset=utf-8"
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": JAVASCRIPT, "draw.js": JAVASCRIPT,
          "diagram.js": JAVASCRIPT, "style.css": "text/css; charset=utf-8"}
HEADERS = {  # the page loads nothing from anywhere else
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SESSION = "/api/sessions/{sid:str}"


def create_app(*, allowed_hosts=LOCAL_HOSTS, max_sessions: int = 32,
               idle_pause_s: float = 30.0, session_ttl_s: float = 600.0,
               publish_every: float = 0.1, reap_every: float = 2.0) -> Starlette:
    """The playground as an ASGI app (Starlette). ``allowed_hosts`` are the host names it
    answers to (``["*"]`` for any); sessions unwatched for ``idle_pause_s`` seconds pause and
    those idle for ``session_ttl_s`` are closed (checked every ``reap_every`` seconds).

    >>> app = create_app()
    >>> sorted(route.path for route in app.routes)[:2]
    ['/', '/api/config']
    """
    app = Starlette(
        routes=ROUTES, lifespan=_lifespan,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
        exception_handlers=dict.fromkeys([ApiError, *STATUS], _refuse))
    app.state.sessions = Sessions(max_sessions=max_sessions, idle_pause_s=idle_pause_s,
                                  ttl_s=session_ttl_s, publish_every=publish_every)
    app.state.reap_every = reap_every
    return app


# --- the one error path ------------------------------------------------------------------------


class ApiError(Exception):
    """A request the API refuses: the HTTP ``status`` and a one-line message for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


#: The library's errors a request may meet, and the HTTP status each answers with.
STATUS = {SettingsError: 422, TooManySessions: 503}


async def _refuse(request: Request, exc: Exception) -> JSONResponse:
    """Every refusal, as ``{"error": message}`` with its status."""
    status = exc.status if isinstance(exc, ApiError) else next(
        code for kind, code in STATUS.items() if isinstance(exc, kind))
    return JSONResponse({"error": str(exc)}, status_code=status, headers=HEADERS)


def _ok(payload: dict, status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers=HEADERS)


# --- what the endpoints read from a request ----------------------------------------------------


async def _json_body(request: Request) -> dict:
    """The request's JSON object (an empty one for an empty body)."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, f"request body too large ({len(body)} bytes; at most {MAX_BODY})")
    if not body.strip():
        return {}
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "send settings as JSON (Content-Type: application/json)")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(422, f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def _session(request: Request) -> Session:
    """The session the URL names."""
    try:
        return _sessions(request).get(request.path_params["sid"])
    except KeyError:
        raise ApiError(404, "no such session (it may have been closed after being idle); "
                            "reload the page to start a new one") from None


# --- the endpoints -----------------------------------------------------------------------------

ROUTES: list[Route] = []


def endpoint(path: str, *methods: str):
    """Serve ``path`` (for ``methods``, GET by default) with the decorated function."""
    def declare(handler):
        ROUTES.append(Route(path, handler, methods=list(methods or ["GET"])))
        return handler
    return declare


@endpoint("/")
async def page(request: Request) -> Response:
    return _static_file("index.html")


@endpoint("/static/{name:str}")
async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in STATIC or name == "index.html":
        raise ApiError(404, f"no static file {name!r}")
    return _static_file(name)


@endpoint("/api/config")
async def config(request: Request) -> JSONResponse:
    """Every setting's bounds and default, the input features' labels and the data sets of
    each problem, for the page to build its controls from."""
    return _ok({"fields": schema(), "defaults": Settings().to_json(), "features": labels(),
                "problems": PROBLEMS})


@endpoint("/api/sessions", "POST")
async def create(request: Request) -> JSONResponse:
    settings = parse_settings(await _json_body(request))
    session = await run_in_threadpool(_sessions(request).create, settings)
    return _ok({"id": session.id, "settings": settings.to_json()}, status=201)


@endpoint(SESSION)
async def state(request: Request) -> JSONResponse:
    return _ok(_session(request).snapshot)


@endpoint(SESSION + "/data")
async def data(request: Request) -> JSONResponse:
    return _ok(_session(request).data)


@endpoint(SESSION, "DELETE")
@endpoint(SESSION + "/close", "POST")  # navigator.sendBeacon, as the tab closes
async def close(request: Request) -> JSONResponse:
    closed = await run_in_threadpool(_sessions(request).close, request.path_params["sid"])
    return _ok({"closed": closed})


@endpoint(SESSION + "/start", "POST")
async def start(request: Request) -> JSONResponse:
    return await _act(request, Session.start)


@endpoint(SESSION + "/pause", "POST")
async def pause(request: Request) -> JSONResponse:
    return await _act(request, Session.pause)


@endpoint(SESSION + "/step", "POST")
async def step(request: Request) -> JSONResponse:
    return await _act(request, Session.step)


@endpoint(SESSION + "/reset", "POST")
async def reset(request: Request) -> JSONResponse:
    """Start over with the settings sent: new data and new weights."""
    return await _apply_settings(request, _rebuild)


@endpoint(SESSION + "/settings", "POST")
async def update(request: Request) -> JSONResponse:
    """Change settings: the live ones take effect at once, any other rebuilds the session."""
    return await _apply_settings(request, Session.update)


@endpoint(SESSION + "/explain", "POST")
async def explain(request: Request) -> JSONResponse:
    """``dg.explain``'s δ trace of one training point (``{"point": index}``) through the
    network as it is now."""
    session = _session(request)
    body = await _json_body(request)
    return _ok(await run_in_threadpool(session.explain_point, body.get("point")))


@endpoint(SESSION + "/events")
async def events(request: Request) -> StreamingResponse:
    return StreamingResponse(_stream(_session(request), request),
                             media_type="text/event-stream",
                             headers={**HEADERS, "X-Accel-Buffering": "no"})


async def _act(request: Request, action: Callable[[Session], None]) -> JSONResponse:
    session = _session(request)
    await run_in_threadpool(action, session)
    return _ok(session.snapshot)


async def _apply_settings(request: Request, apply: Callable[[Session, Settings], bool]
                          ) -> JSONResponse:
    """The settings sent, over the session's, handed to ``apply``, which says whether the
    session was rebuilt."""
    session = _session(request)
    settings = parse_settings(await _json_body(request), session.settings)
    rebuilt = await run_in_threadpool(apply, session, settings)
    return _ok({"settings": settings.to_json(), "rebuilt": rebuilt, **session.snapshot})


def _rebuild(session: Session, settings: Settings) -> bool:
    session.reset(settings)
    return True


def _static_file(name: str) -> Response:
    text = resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")
    return Response(text, media_type=STATIC[name], headers=HEADERS)


async def _stream(session: Session, request: Request, poll: float = 0.05,
                  keepalive: float = 15.0):
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


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette):
    """While the app runs, pause and close idle sessions; close them all when it stops."""
    sessions = app.state.sessions

    async def reaper():
        while True:
            await asyncio.sleep(app.state.reap_every)
            await run_in_threadpool(sessions.reap)

    task = asyncio.get_running_loop().create_task(reaper())
    try:
        yield
    finally:
        task.cancel()
        await run_in_threadpool(sessions.close_all)
