// deltagrad playground: the page. Hand-written, no libraries (it must work offline).
//
// The server does all the learning. This page creates a session of its own (one per tab),
// sends settings and button presses to it, and draws what the event stream reports: the
// points and the input features' heat maps (event "data") and, several times a second, the
// epoch, the losses, the loss curves, the output heat map and the network diagram with its
// neurons' heat maps, weights, δ's and gradients (event "state").

import { Diagram } from "./diagram.js";
import { PALETTE, diverging, drawChart, drawPoints, paintOutput, pointAt, rgb } from "./draw.js";

const $ = (id) => document.getElementById(id);
const SELECTS = ["learning_rate", "regularization", "regularization_rate", "dropout",
                 "activation", "optimizer"];
const NUMBERS = ["train_fraction", "noise", "n_samples", "seed", "batch_size"];

const state = {
  id: null,          // this tab's session id
  config: null,      // every setting's bounds, the features' labels, the problems' data sets
  settings: null,    // the settings the session runs with
  data: null,        // points and bounds (event "data")
  snapshot: null,    // the latest training state (event "state")
  events: null,      // the EventSource
  busy: false,
  selected: null,    // the training point whose δ trace is shown
  lastDataset: {},   // per problem, the data set last used (for the problem switch)
};

const diagram = new Diagram($("diagram"), {
  toggleFeature(name) {
    const features = state.settings.features;
    changeSettings({ features: features.includes(name) ? features.filter((f) => f !== name)
                                                       : features.concat([name]) });
  },
  setHidden(hidden) { changeSettings({ hidden }); },
});

// --- talking to the server ---------------------------------------------------------------------

async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(payload.error || response.statusText);
    error.status = response.status;
    throw error;
  }
  return payload;
}

function sessionPath(action) {
  return `/api/sessions/${state.id}${action ? "/" + action : ""}`;
}

async function newSession() {
  closeEvents();
  const created = await api("POST", "/api/sessions", state.settings);
  state.id = created.id;
  state.settings = created.settings;
  document.body.dataset.session = state.id;
  renderControls();
  openEvents();
}

function openEvents() {
  const source = new EventSource(sessionPath("events"));
  source.addEventListener("data", (event) => {
    state.data = JSON.parse(event.data);
    state.settings = state.data.settings;
    state.selected = null;
    showTrace(null);
    renderControls();
    renderLegend();
    draw();
  });
  source.addEventListener("state", (event) => {
    state.snapshot = JSON.parse(event.data);
    renderState();
  });
  source.addEventListener("closed", () => restart("This session was closed; started a new one."));
  source.onerror = async () => {
    // The stream reconnects by itself; but if the session is gone (closed after being idle,
    // or to make room for another tab), start a new one.
    try {
      await api("GET", sessionPath(""));
    } catch (error) {
      if (error.status === 404) restart("The session had expired; started a new one.");
    }
  };
  state.events = source;
}

function closeEvents() {
  if (state.events) state.events.close();
  state.events = null;
}

async function restart(message) {
  closeEvents();
  showMessage(message);
  try {
    await newSession();
  } catch (error) {
    showMessage(error.message);
  }
}

// One request at a time from the controls, with the server's error shown if it refuses.
async function send(method, action, body) {
  if (state.busy) return null;
  state.busy = true;
  try {
    const reply = await api(method, sessionPath(action), body);
    showMessage("");
    if (reply.settings) state.settings = reply.settings;
    if (reply.version !== undefined) {
      state.snapshot = reply;
      renderState();
    }
    return reply;
  } catch (error) {
    if (error.status === 404) {
      restart("The session had expired; started a new one.");
    } else {
      showMessage(error.message);
    }
    return null;
  } finally {
    state.busy = false;
    renderControls();
  }
}

function changeSettings(changes) {
  return send("POST", "settings", changes);
}

async function step() {
  const reply = await send("POST", "step");
  if (reply && reply.last_step) diagram.animate();
}

async function explainPoint(event) {
  if (!state.data || !state.id) return;
  const point = pointAt($("heatmap"), state.data, event);
  if (point === null) return;
  try {
    const reply = await api("POST", sessionPath("explain"), { point });
    state.selected = point;
    showTrace(reply);
    draw();
  } catch (error) {
    showMessage(error.message);
  }
}

// --- controls ----------------------------------------------------------------------------------

function addOptions(select, options) {
  for (const option of options) {
    const element = document.createElement("option");
    element.value = option;
    element.textContent = option.replace("_", " ");
    select.appendChild(element);
  }
}

function buildControls() {
  const f = state.config.fields;
  for (const name of ["activation", "optimizer", "regularization"]) addOptions($(name), f[name].options);
  addOptions($("problem"), Object.keys(state.config.problems));
  $("problem").addEventListener("change", () => {
    const problem = $("problem").value;
    const choices = state.config.problems[problem];
    changeSettings({ dataset: state.lastDataset[problem] || choices[0] });
  });
  for (const name of NUMBERS) {
    const input = $(name);
    input.min = f[name].min;
    input.max = f[name].max;
    input.addEventListener("input", () => renderSliderValues());
    input.addEventListener("change", () => {
      const value = f[name].type === "integer" ? parseInt(input.value, 10) : parseFloat(input.value);
      changeSettings({ [name]: Number.isFinite(value) ? value : input.value });
    });
  }
  for (const name of SELECTS) {
    $(name).addEventListener("change", (event) => {
      const raw = event.target.value;
      changeSettings({ [name]: f[name].type === "choice" ? raw : parseFloat(raw) });
    });
  }
  $("add_layer").addEventListener("click", () => {
    const hidden = state.settings.hidden.slice();
    hidden.push(hidden.length ? hidden[hidden.length - 1] : 4);
    changeSettings({ hidden });
  });
  $("remove_layer").addEventListener("click", () => {
    changeSettings({ hidden: state.settings.hidden.slice(0, -1) });
  });
  $("start").addEventListener("click", () => {
    const running = state.snapshot && state.snapshot.running;
    send("POST", running ? "pause" : "start");
  });
  $("step").addEventListener("click", step);
  $("reset").addEventListener("click", () => send("POST", "reset", {}));
  for (const id of ["show_test", "discretize", "view_weights", "view_gradients"]) {
    $(id).addEventListener("change", draw);
  }
  $("heatmap").addEventListener("click", explainPoint);
}

function setSelect(select, value) {
  const text = String(value);
  let found = false;
  for (const option of select.options) {
    if (parseFloat(option.value) === value || option.value === text) {
      option.selected = true;
      found = true;
    }
  }
  if (!found) {  // a value set elsewhere (e.g. by the API): show it too
    const option = document.createElement("option");
    option.value = option.textContent = text;
    select.appendChild(option);
    option.selected = true;
  }
}

function renderControls() {
  const s = state.settings;
  if (!s) return;
  for (const name of SELECTS) setSelect($(name), s[name]);
  for (const name of NUMBERS) $(name).value = s[name];
  const problem = Object.keys(state.config.problems).find(
    (p) => state.config.problems[p].includes(s.dataset));
  state.lastDataset[problem] = s.dataset;
  $("problem").value = problem;
  document.body.dataset.problem = problem;
  renderSliderValues();
  renderDatasets(problem);
  const hidden = s.hidden;
  $("layer_count").textContent = hidden.length;
  $("add_layer").disabled = hidden.length >= state.config.fields.hidden.max_layers;
  $("remove_layer").disabled = hidden.length === 0;
}

function renderDatasets(problem) {
  const box = $("datasets");
  const names = state.config.problems[problem];
  if (box.dataset.problem !== problem) {
    box.dataset.problem = problem;
    box.replaceChildren();
    for (const name of names) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = name;
      button.dataset.dataset = name;
      button.setAttribute("role", "radio");
      button.addEventListener("click", () => changeSettings({ dataset: name }));
      box.appendChild(button);
    }
  }
  for (const button of box.children) {
    const selected = button.dataset.dataset === state.settings.dataset;
    button.classList.toggle("selected", selected);
    button.setAttribute("aria-checked", String(selected));
  }
}

function renderSliderValues() {
  $("train_fraction_value").textContent = `${Math.round($("train_fraction").value * 100)}%`;
  $("noise_value").textContent = Number($("noise").value).toFixed(2);
  $("n_samples_value").textContent = $("n_samples").value;
}

function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  if (!state.data) return;
  const items = state.data.classes
    ? Array.from({ length: state.data.classes }, (_, k) => [PALETTE[k % PALETTE.length], `class ${k}`])
    : [[diverging(-1), "−1"], [diverging(0), "0"], [diverging(1), "+1"]];
  for (const [colour, text] of items) {
    const item = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = rgb(colour);
    item.append(dot, text);
    legend.appendChild(item);
  }
}

function showMessage(text) {
  $("message").textContent = text || "";
}

function showTrace(reply) {
  $("trace").textContent = reply ? reply.text : "";
  $("trace-title").textContent = reply
    ? `Backward pass of training point ${reply.point} at (${reply.x.join(", ")}), target `
      + `${reply.target}, epoch ${reply.epoch}: its own loss, through the network as it is now`
    : "Click a training point on the output map to see deltagrad's δ trace of its loss.";
}

// --- drawing -----------------------------------------------------------------------------------

function view() {
  return $("view_gradients").checked ? "gradients" : "weights";
}

function formatLoss(x) {
  return x === null || x === undefined ? "–" : x.toFixed(3);
}

function renderState() {
  const s = state.snapshot;
  $("epoch").textContent = s.epoch.toLocaleString("en-US").padStart(7, "0");
  $("test-loss").textContent = formatLoss(s.test_loss);
  $("train-loss").textContent = formatLoss(s.train_loss);
  $("test-accuracy").textContent = s.test_accuracy === null ? "–"
    : `${(100 * s.test_accuracy).toFixed(1)}%`;
  const start = $("start");
  start.textContent = s.running ? "❚❚ Pause" : "▶ Start";
  start.dataset.running = String(s.running);
  if (s.message) showMessage(s.message);
  draw();
}

function draw() {
  const { snapshot, data } = state;
  drawChart($("loss-chart"), snapshot && snapshot.history);
  if (!snapshot || !data || snapshot.data_version !== data.data_version) return;
  const discrete = $("discretize").checked;
  const canvas = $("heatmap");
  paintOutput(canvas, snapshot.grid, discrete);
  drawPoints(canvas, data, $("show_test").checked, state.selected);
  diagram.build(state.settings, state.config.fields, state.config.features, snapshot.network);
  diagram.update(snapshot, data, view(), discrete);
}

// --- start ---------------------------------------------------------------------------------------

async function main() {
  try {
    state.config = await api("GET", "/api/config");
    state.settings = state.config.defaults;
    buildControls();
    showTrace(null);
    await newSession();
  } catch (error) {
    showMessage(`Could not start: ${error.message}`);
  }
}

// Closing the tab closes its session at once (the server would otherwise clean it up later).
window.addEventListener("pagehide", () => {
  if (state.id) navigator.sendBeacon(sessionPath("close"));
});

main();
