"""The playground server: settings validation, sessions, training, the event stream, the CLI.

Driven through Starlette's TestClient (no network) and, for the event stream, a real server
on a free loopback port read with httpx. Chance level for the cross-entropy of two balanced
classes is ln 2 = 0.693: a run that learned must end well below it.
"""

import base64
import json
import math
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the playground needs starlette")
pytest.importorskip("uvicorn", reason="the playground needs uvicorn")
httpx = pytest.importorskip("httpx", reason="the server tests need httpx")

with warnings.catch_warnings():  # newer Starlette prefers httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from deltagrad.playground import Settings, SettingsError, create_app, parse_settings
from deltagrad.playground.server import running_server
from deltagrad.playground.session import GRID
from deltagrad.playground.sessions import Sessions, TooManySessions
from deltagrad.playground.settings import MAX_LAYERS, MAX_NEURONS, schema

STATIC = Path(__file__).resolve().parents[1] / "src" / "deltagrad" / "playground" / "static"
SMALL = {"n_samples": 60, "hidden": [4]}


@pytest.fixture
def client():
    with TestClient(create_app(allowed_hosts=["testserver"]), raise_server_exceptions=True) as c:
        yield c


def new_session(client, **settings) -> str:
    reply = client.post("/api/sessions", json={**SMALL, **settings})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field, value, words", [
    ("hidden", [8] * (MAX_LAYERS + 1), "at most 8 layer widths"),
    ("hidden", [MAX_NEURONS + 1], "hidden[0] must be an integer in [1, 64], got 65"),
    ("hidden", [0], "hidden[0] must be an integer in [1, 64]"),
    ("hidden", "8,8", "must be a list"),
    ("learning_rate", 100, "learning_rate must be a number in [1e-05, 10], got 100"),
    ("learning_rate", float("nan"), "learning_rate must be a number"),
    ("batch_size", 0, "batch_size must be an integer in [1, 2000], got 0"),
    ("batch_size", 2.5, "batch_size must be an integer"),
    ("n_samples", 10**6, "n_samples must be an integer in [20, 2000]"),
    ("noise", True, "noise must be a number"),
    ("dropout", 0.95, "dropout must be a number in [0, 0.9]"),
    ("dataset", "/etc/passwd",
     "dataset must be one of moons, circles, spirals, xor, blobs, plane, gaussians"),
    ("dataset", "iris", "dataset must be one of"),
    ("optimizer", "lbfgs", "optimizer must be one of sgd, momentum, adam"),
    ("activation", None, "activation must be one of"),
    ("features", [], "features must be a list of one or more of x1, x2, x1_sq"),
    ("features", ["x1", "x1"], "each at most once"),
    ("features", ["x3"], "features must be a list"),
    ("features", [["x1"]], "features must be a list"),
    ("features", "x1", "features must be a list"),
    ("regularization", "l3", "regularization must be one of none, l1, l2"),
    ("regularization_rate", 11, "regularization_rate must be a number in [0, 10], got 11"),
    ("l2", 0.1, "unknown setting 'l2'"),
    ("path", "model.safetensors", "unknown setting 'path'"),
])
def test_settings_are_checked_against_their_bounds(field, value, words):
    with pytest.raises(SettingsError) as info:
        parse_settings({field: value})
    assert words in str(info.value)


def test_settings_defaults_and_schema_agree():
    s = parse_settings({})
    assert s == Settings()
    table = schema()
    for name, value in s.to_json().items():
        assert table[name]["default"] == value
    assert table["hidden"]["max_layers"] == MAX_LAYERS == 8
    assert table["hidden"]["max_neurons"] == MAX_NEURONS == 64
    assert parse_settings({"hidden": []}).hidden == ()  # no hidden layer: a linear model
    # Features come back in the page's order, whatever order they were sent in.
    assert parse_settings({"features": ["x2_sq", "x1"]}).features == ("x1", "x2_sq")
    assert parse_settings({"dataset": "plane"}).problem == "regression"
    assert parse_settings({"dataset": "spirals"}).problem == "classification"


# --- the page and its files ----------------------------------------------------------------------


def test_page_is_served_with_its_own_files_only(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").status_code == 200
    for name in ("draw.js", "diagram.js"):  # the modules app.js imports
        reply = client.get(f"/static/{name}")
        assert reply.status_code == 200 and reply.headers["content-type"].startswith(
            "text/javascript") and "export " in reply.text
    for name in ("../settings.py", "..%2Fsettings.py", "index.htm", "missing.js"):
        assert client.get(f"/static/{name}").status_code == 404
    # Offline: nothing is loaded from another site.
    for path in STATIC.iterdir():
        assert not re.search(r"(src|href)=\"(https?:)?//", path.read_text()), path.name
        assert "http://" not in path.read_text() and "https://" not in path.read_text()


def test_unknown_host_names_are_refused():
    with TestClient(create_app(), base_url="http://evil.example") as c:
        assert c.get("/api/config").status_code == 400
    with TestClient(create_app(), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/config").status_code == 200


# --- the API -------------------------------------------------------------------------------------


def test_invalid_settings_are_refused_with_the_reason(client):
    reply = client.post("/api/sessions", json={"hidden": [1000]})
    assert reply.status_code == 422
    assert reply.json()["error"] == "hidden[0] must be an integer in [1, 64], got 1000"
    reply = client.post("/api/sessions", content=b"dataset=moons",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 415
    reply = client.post("/api/sessions", content=b"{not json",
                        headers={"Content-Type": "application/json"})
    assert reply.status_code == 400
    reply = client.post("/api/sessions", content=b"[1, 2]",
                        headers={"Content-Type": "application/json"})
    assert reply.status_code == 422
    reply = client.post("/api/sessions", content=b" " * 20_000,
                        headers={"Content-Type": "application/json"})
    assert reply.status_code == 413
    sid = new_session(client)
    reply = client.post(f"/api/sessions/{sid}/settings", json={"learning_rate": -1})
    assert reply.status_code == 422 and "learning_rate" in reply.json()["error"]
    assert client.post("/api/sessions/nope/start").status_code == 404


def test_every_refusal_is_one_json_error_with_the_security_headers(client):
    # One error path: whatever the endpoint, a refusal is {"error": ...} with its status.
    sid = new_session(client)
    refusals = [client.get("/api/sessions/nope"), client.get("/api/sessions/nope/data"),
                client.get("/api/sessions/nope/events"), client.post("/api/sessions/nope/step"),
                client.post("/api/sessions/nope/pause"), client.post("/api/sessions/nope/reset"),
                client.post("/api/sessions/nope/settings", json={}),
                client.post("/api/sessions/nope/explain", json={"point": 0}),
                client.get("/static/missing.js"),
                client.post(f"/api/sessions/{sid}/reset", json={"seed": -1}),
                client.post(f"/api/sessions/{sid}/settings", content=b"[]",
                            headers={"Content-Type": "application/json"})]
    assert [r.status_code for r in refusals] == [404] * 9 + [422, 422]
    for reply in refusals:
        assert set(reply.json()) == {"error"} and reply.json()["error"]
        assert reply.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in reply.headers["content-security-policy"]
    assert "reload the page" in refusals[0].json()["error"]
    assert refusals[-2].json()["error"] == "seed must be an integer in [0, 2.14748e+09], got -1"


def test_config_lists_the_features_and_each_problems_data_sets(client):
    config = client.get("/api/config").json()
    assert config["features"] == {"x1": "x₁", "x2": "x₂", "x1_sq": "x₁²", "x2_sq": "x₂²",
                                  "x1_x2": "x₁x₂", "sin_x1": "sin x₁", "sin_x2": "sin x₂"}
    assert config["problems"] == {"classification": ["moons", "circles", "spirals", "xor",
                                                     "blobs"],
                                  "regression": ["plane", "gaussians"]}
    assert config["fields"]["features"]["options"] == list(config["features"])
    assert config["defaults"]["features"] == ["x1", "x2"]
    assert config["defaults"]["regularization"] == "none"


def test_explain_sends_one_points_delta_trace(client):
    sid = new_session(client, n_samples=60)
    client.post(f"/api/sessions/{sid}/step")
    reply = client.post(f"/api/sessions/{sid}/explain", json={"point": 2})
    assert reply.status_code == 200, reply.text
    trace = reply.json()
    assert trace["point"] == 2 and trace["epoch"] == 1 and trace["loss"] > 0
    assert trace["text"].startswith("Backward pass from loss = ")
    assert "layers.0.weight" in trace["text"]
    for body, words in (({"point": 30}, "point must be an integer in [0, 29], got 30"),
                        ({"point": "2"}, "point must be an integer"), ({}, "got None")):
        reply = client.post(f"/api/sessions/{sid}/explain", json=body)
        assert reply.status_code == 422 and words in reply.json()["error"], body
    reply = client.post(f"/api/sessions/{sid}/explain", content=b"point=2",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 415


def test_a_session_trains_and_the_loss_falls(client):
    sid = new_session(client, dataset="moons", n_samples=200, hidden=[8, 8], noise=0.05,
                      learning_rate=0.03, optimizer="adam", batch_size=10)
    first = client.get(f"/api/sessions/{sid}").json()
    assert first["epoch"] == 0 and first["test_loss"] > 0.5  # untrained: near ln 2
    for _ in range(25):
        state = client.post(f"/api/sessions/{sid}/step").json()
    assert state["epoch"] == 25 and not state["running"]
    assert state["test_loss"] < 0.25 < math.log(2)  # well below chance
    assert state["train_loss"] < first["train_loss"] / 3
    assert state["test_accuracy"] > 0.9
    assert state["history"]["epoch"] == list(range(26))  # a point per epoch
    assert len(state["history"]["test"]) == 26
    # The heat map: GRID x GRID cells, one byte per class, summing to about 255 each.
    probs = np.frombuffer(base64.b64decode(state["grid"]["probs"]), np.uint8)
    cells = probs.reshape(GRID * GRID, 2).astype(int)
    assert np.all(np.abs(cells.sum(axis=1) - 255) <= 1)
    assert cells[:, 0].std() > 50  # both classes claim parts of the plane


def test_start_and_pause_run_in_the_background(client):
    sid = new_session(client)
    assert client.post(f"/api/sessions/{sid}/start").json()["running"] is True
    deadline = time.monotonic() + 10
    while client.get(f"/api/sessions/{sid}").json()["epoch"] < 5:
        assert time.monotonic() < deadline, "no epoch was trained in the background"
        time.sleep(0.05)
    paused = client.post(f"/api/sessions/{sid}/pause").json()
    assert paused["running"] is False
    time.sleep(0.2)
    assert client.get(f"/api/sessions/{sid}").json()["epoch"] == paused["epoch"]


def test_each_session_is_its_own(client):
    a = new_session(client, dataset="moons")
    b = new_session(client, dataset="xor", hidden=[3], seed=7)
    assert a != b
    for _ in range(3):
        client.post(f"/api/sessions/{a}/step")
    assert client.get(f"/api/sessions/{a}").json()["epoch"] == 3
    assert client.get(f"/api/sessions/{b}").json()["epoch"] == 0
    data_a = client.get(f"/api/sessions/{a}/data").json()
    data_b = client.get(f"/api/sessions/{b}/data").json()
    assert data_a["settings"]["dataset"] == "moons" and data_b["settings"]["hidden"] == [3]
    assert data_a["train"]["x"] != data_b["train"]["x"]
    client.post(f"/api/sessions/{b}/settings", json={"hidden": [5, 5]})
    assert client.get(f"/api/sessions/{a}/data").json()["settings"]["hidden"] == [4]


def test_live_settings_keep_the_run_others_rebuild(client):
    sid = new_session(client)
    client.post(f"/api/sessions/{sid}/step")
    reply = client.post(f"/api/sessions/{sid}/settings",
                        json={"learning_rate": 0.1, "regularization": "l2",
                              "regularization_rate": 0.001, "batch_size": 5}).json()
    assert reply["rebuilt"] is False and reply["epoch"] == 1
    assert reply["settings"]["learning_rate"] == 0.1
    reply = client.post(f"/api/sessions/{sid}/settings", json={"hidden": [2, 2]}).json()
    assert reply["rebuilt"] is True and reply["epoch"] == 0
    assert reply["settings"]["hidden"] == [2, 2] and reply["settings"]["learning_rate"] == 0.1
    reply = client.post(f"/api/sessions/{sid}/reset", json={}).json()
    assert reply["epoch"] == 0 and reply["data_version"] > 1


def test_every_data_set_optimiser_and_activation_trains_a_step(client):
    for dataset, opt, act in zip(["moons", "circles", "spirals", "xor", "blobs"],
                                 ["sgd", "momentum", "adam", "rmsprop", "adagrad"],
                                 ["tanh", "relu", "sigmoid", "leaky_relu", "gelu"]):
        sid = new_session(client, dataset=dataset, optimizer=opt, activation=act,
                          dropout=0.1, regularization="l2", regularization_rate=0.01)
        state = client.post(f"/api/sessions/{sid}/step").json()
        assert state["epoch"] == 1 and state["test_loss"] is not None, dataset
        classes = client.get(f"/api/sessions/{sid}/data").json()["classes"]
        assert classes == (3 if dataset == "blobs" else 2)


def test_sessions_close_and_are_capped():
    app = create_app(allowed_hosts=["testserver"], max_sessions=2)
    with TestClient(app) as c:
        a, b = new_session(c), new_session(c)
        for sid in (a, b):  # both open in a page: a third is refused, saying why
            app.state.sessions.get(sid).listeners = 1
        reply = c.post("/api/sessions", json=SMALL)
        assert reply.status_code == 503
        assert reply.json()["error"] == ("all 2 sessions of this playground are open in a page "
                                         "right now; close a tab or try again later")
        assert len(app.state.sessions) == 2
        assert c.delete(f"/api/sessions/{a}").json() == {"closed": True}
        assert c.get(f"/api/sessions/{a}").status_code == 404
        assert c.post("/api/sessions", json=SMALL).status_code == 201  # room again
        assert c.post(f"/api/sessions/{a}/close").json() == {"closed": False}
        assert len(app.state.sessions) == 2


def test_at_the_cap_the_least_recently_watched_unwatched_session_makes_room():
    now = [0.0]
    sessions = Sessions(max_sessions=3, clock=lambda: now[0])
    made = []
    for t in (1.0, 2.0, 3.0):
        now[0] = t
        made.append(sessions.create(parse_settings(SMALL)))
    old, middle, watched = made
    watched.listeners = 1  # an open event stream: never evicted
    now[0] = 4.0
    sessions.get(old.id)  # a request counts as watching: `middle` is now the stalest
    now[0] = 4.5
    newest = sessions.create(parse_settings(SMALL))
    assert middle.closed and middle.id not in sessions
    assert {old.id, watched.id, newest.id} == set(sessions._sessions) and len(sessions) == 3
    now[0] = 5.0
    newer = sessions.create(parse_settings(SMALL))  # then `old` (seen at 4.0, `newest` at 4.5)
    assert old.closed and not watched.closed and newer.id in sessions and len(sessions) == 3
    for session in (newest, newer):
        session.listeners = 1
    with pytest.raises(TooManySessions, match="all 3 sessions of this playground are open"):
        sessions.create(parse_settings(SMALL))
    assert len(sessions) == 3
    sessions.close_all()


def test_idle_sessions_pause_then_close():
    now = [0.0]
    sessions = Sessions(idle_pause_s=30, ttl_s=600, clock=lambda: now[0])
    watched = sessions.create(parse_settings(SMALL))
    idle = sessions.create(parse_settings(SMALL))
    idle.start()
    watched.listeners = 1  # an open event stream
    now[0] = 31.0
    sessions.reap()
    assert not idle.running and idle.id in sessions  # paused, not closed
    now[0] = 700.0
    assert sessions.reap() == [idle.id]
    assert idle.id not in sessions and idle.closed and watched.id in sessions
    sessions.close_all()
    assert len(sessions) == 0


# --- the event stream, from a real server -----------------------------------------------------


def read_events(lines, wanted: set, limit: float = 10.0) -> dict:
    """The next event of each wanted kind from the lines of a server-sent event stream."""
    found, kind, deadline = {}, None, time.monotonic() + limit
    for line in lines:
        if line.startswith("event: "):
            kind = line[len("event: "):]
        elif line.startswith("data: ") and kind in wanted and kind not in found:
            found[kind] = json.loads(line[len("data: "):])
            if set(found) == wanted:
                return found
        assert time.monotonic() < deadline, f"no {wanted - set(found)} event"
    return found


def test_event_stream_sends_points_and_training_state():
    with running_server() as url, httpx.Client(base_url=url, timeout=10) as http:
        sid = http.post("/api/sessions", json={**SMALL, "dataset": "circles"}).json()["id"]
        with http.stream("GET", f"/api/sessions/{sid}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            first = read_events(lines, {"data", "state"})
            assert first["data"]["settings"]["dataset"] == "circles"
            assert len(first["data"]["train"]["x"]) + len(first["data"]["test"]["x"]) == 60
            assert first["state"]["epoch"] == 0
            assert first["data"]["problem"] == "classification"
            assert len(first["data"]["features"]["scales"]) == 7  # every feature's heat map
            assert first["state"]["network"]["widths"] == [2, 4, 2]
            assert first["state"]["last_step"] is None
            http.post(f"/api/sessions/{sid}/step")
            # (a snapshot taken while pausing, still at epoch 0, may come first)
            while (epoch := read_events(lines, {"state"})["state"]["epoch"]) != 1:
                assert epoch == 0
        assert http.delete(f"/api/sessions/{sid}").json() == {"closed": True}


# --- the command ---------------------------------------------------------------------------------


def test_cli_passes_its_options_to_the_server(monkeypatch):
    from typer.testing import CliRunner

    from deltagrad.cli.playground import app
    from deltagrad.playground import server

    calls = []
    monkeypatch.setattr(server, "serve", lambda host, port, **kw: calls.append((host, port, kw)))
    runner = CliRunner()
    assert runner.invoke(app, []).exit_code == 0
    assert runner.invoke(app, ["--port", "8123", "--no-browser"]).exit_code == 0
    result = runner.invoke(app, ["--host", "0.0.0.0"])
    assert result.exit_code == 0 and "warning: listening on 0.0.0.0" in result.output
    assert [(h, p, kw["open_browser"]) for h, p, kw in calls] == [
        ("127.0.0.1", 0, True), ("127.0.0.1", 8123, False), ("0.0.0.0", 0, True)]


def test_cli_bad_port_is_one_line_error(capsys):
    from deltagrad.cli import main
    from deltagrad.playground.server import bind

    assert main(["playground", "--no-browser", "--port", "70000"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: port must be an int in [0, 65535] (0 picks a free one), got 70000"
    with pytest.raises(ValueError, match=r"port must be an int in \[0, 65535\]"):
        bind("127.0.0.1", 70000)
    taken = bind("127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="cannot listen on 127.0.0.1:"):
            bind("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()
