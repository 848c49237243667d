// deltagrad playground: the page. Hand-written, no libraries (it must work offline).
//
// The server does all the learning. This page creates a session of its own (one per tab),
// sends settings and button presses to it, and draws what the event stream reports: the
// points (event "data") and, several times a second, the epoch, the losses, the loss curves
// and the heat map of class probabilities over the plane (event "state").

"use strict";

const $ = (id) => document.getElementById(id);

// Class colours: orange and blue as in the TensorFlow playground, then a few more.
const PALETTE = [[245, 147, 34], [8, 119, 189], [44, 160, 44], [148, 103, 189],
                 [214, 39, 40], [140, 86, 75], [227, 119, 194], [127, 127, 127]];
const MAX_DOTS = 16;  // neuron dots drawn per layer; the rest are counted

const state = {
  id: null,          // this tab's session id
  fields: null,      // every setting's bounds, from the server
  settings: null,    // the settings the session runs with
  data: null,        // points and bounds (event "data")
  snapshot: null,    // the latest training state (event "state")
  events: null,      // the EventSource
  busy: false,
};

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
    renderControls();
    renderLegend();
    drawMap();
  });
  source.addEventListener("state", (event) => {
    state.snapshot = JSON.parse(event.data);
    renderState();
  });
  source.addEventListener("closed", () => restart("This session was closed; started a new one."));
  source.onerror = async () => {
    // The stream reconnects by itself; but if the session is gone (closed after being idle),
    // start a new one.
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

// --- controls ----------------------------------------------------------------------------------

function buildControls() {
  const f = state.fields;
  for (const name of ["activation", "optimizer"]) {
    const select = $(name);
    for (const option of f[name].options) {
      const element = document.createElement("option");
      element.value = option;
      element.textContent = option.replace("_", " ");
      select.appendChild(element);
    }
  }
  const datasets = $("datasets");
  for (const name of f.dataset.options) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = name;
    button.dataset.dataset = name;
    button.setAttribute("role", "radio");
    button.addEventListener("click", () => changeSettings({ dataset: name }));
    datasets.appendChild(button);
  }
  for (const name of ["train_fraction", "noise", "n_samples", "seed", "batch_size"]) {
    const input = $(name);
    input.min = f[name].min;
    input.max = f[name].max;
    input.addEventListener("input", () => renderSliderValues());
    input.addEventListener("change", () => {
      const value = f[name].type === "integer" ? parseInt(input.value, 10) : parseFloat(input.value);
      changeSettings({ [name]: Number.isFinite(value) ? value : input.value });
    });
  }
  for (const name of ["learning_rate", "l2", "dropout", "activation", "optimizer"]) {
    $(name).addEventListener("change", (event) => {
      const raw = event.target.value;
      changeSettings({ [name]: ["activation", "optimizer"].includes(name) ? raw : parseFloat(raw) });
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
  $("step").addEventListener("click", () => send("POST", "step"));
  $("reset").addEventListener("click", () => send("POST", "reset", {}));
  $("show_test").addEventListener("change", drawMap);
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
  for (const name of ["learning_rate", "l2", "dropout", "activation", "optimizer"]) {
    setSelect($(name), s[name]);
  }
  for (const name of ["train_fraction", "noise", "n_samples", "seed", "batch_size"]) {
    $(name).value = s[name];
  }
  renderSliderValues();
  for (const button of $("datasets").children) {
    const selected = button.dataset.dataset === s.dataset;
    button.classList.toggle("selected", selected);
    button.setAttribute("aria-checked", String(selected));
  }
  renderLayers();
}

function renderSliderValues() {
  $("train_fraction_value").textContent = `${Math.round($("train_fraction").value * 100)}%`;
  $("noise_value").textContent = Number($("noise").value).toFixed(2);
  $("n_samples_value").textContent = $("n_samples").value;
}

function renderLayers() {
  const hidden = state.settings.hidden;
  const f = state.fields.hidden;
  $("layer_count").textContent = hidden.length;
  $("add_layer").disabled = hidden.length >= f.max_layers;
  $("remove_layer").disabled = hidden.length === 0;
  const box = $("layers");
  box.replaceChildren();
  hidden.forEach((width, i) => {
    const layer = document.createElement("div");
    layer.className = "layer";
    const controls = document.createElement("div");
    controls.className = "controls";
    const minus = roundButton("−", `Fewer neurons in layer ${i + 1}`, width <= 1, () => {
      const next = hidden.slice();
      next[i] = width - 1;
      changeSettings({ hidden: next });
    });
    const plus = roundButton("+", `More neurons in layer ${i + 1}`, width >= f.max_neurons, () => {
      const next = hidden.slice();
      next[i] = width + 1;
      changeSettings({ hidden: next });
    });
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = width;
    controls.append(minus, count, plus);
    const dots = document.createElement("div");
    dots.className = "neurons";
    for (let k = 0; k < Math.min(width, MAX_DOTS); k++) {
      const dot = document.createElement("span");
      dot.className = "neuron";
      dots.appendChild(dot);
    }
    layer.append(controls, dots);
    if (width > MAX_DOTS) {
      const more = document.createElement("span");
      more.className = "more";
      more.textContent = `+${width - MAX_DOTS} more`;
      layer.appendChild(more);
    }
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = `layer ${i + 1}`;
    layer.appendChild(name);
    box.appendChild(layer);
  });
}

function roundButton(text, title, disabled, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "round";
  button.textContent = text;
  button.title = title;
  button.disabled = disabled;
  button.addEventListener("click", onClick);
  return button;
}

function renderLegend() {
  const legend = $("legend");
  legend.replaceChildren();
  if (!state.data) return;
  for (let k = 0; k < state.data.classes; k++) {
    const item = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = `rgb(${PALETTE[k % PALETTE.length].join(",")})`;
    item.append(dot, `class ${k}`);
    legend.appendChild(item);
  }
}

function showMessage(text) {
  $("message").textContent = text || "";
}

// --- drawing -----------------------------------------------------------------------------------

function formatLoss(x) {
  return x === null || x === undefined ? "–" : x.toFixed(3);
}

function renderState() {
  const s = state.snapshot;
  $("epoch").textContent = s.epoch.toLocaleString("en-US").padStart(7, "0");
  $("test-loss").textContent = formatLoss(s.test_loss);
  $("train-loss").textContent = formatLoss(s.train_loss);
  $("test-accuracy").textContent = `${(100 * s.test_accuracy).toFixed(1)}%`;
  const start = $("start");
  start.textContent = s.running ? "❚❚ Pause" : "▶ Start";
  start.dataset.running = String(s.running);
  if (s.message) showMessage(s.message);
  drawChart();
  drawMap();
}

function drawChart() {
  const canvas = $("loss-chart");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const h = state.snapshot && state.snapshot.history;
  if (!h || h.epoch.length < 2) return;
  const values = h.train.concat(h.test).filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(...values, 1e-6) * 1.05;
  const first = h.epoch[0];
  const span = Math.max(h.epoch[h.epoch.length - 1] - first, 1);
  const pad = 4;
  const x = (e) => pad + ((e - first) / span) * (canvas.width - 2 * pad);
  const y = (v) => canvas.height - pad - (v / top) * (canvas.height - 2 * pad);
  for (const [series, colour] of [[h.train, "#9a9a9a"], [h.test, "#222"]]) {
    ctx.beginPath();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    let pen = false;
    series.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      if (pen) ctx.lineTo(x(h.epoch[i]), y(v));
      else ctx.moveTo(x(h.epoch[i]), y(v));
      pen = true;
    });
    ctx.stroke();
  }
}

// The heat map: each cell's colour mixes the class colours by their probabilities, paler
// where the network is unsure (the decision boundary).
function heatImage(grid) {
  const size = grid.size;
  const classes = grid.classes;
  const bytes = Uint8Array.from(atob(grid.probs), (c) => c.charCodeAt(0));
  const image = new ImageData(size, size);
  for (let cell = 0; cell < size * size; cell++) {
    let r = 0, g = 0, b = 0, top = 0;
    for (let k = 0; k < classes; k++) {
      const p = bytes[cell * classes + k] / 255;
      const colour = PALETTE[k % PALETTE.length];
      r += p * colour[0];
      g += p * colour[1];
      b += p * colour[2];
      top = Math.max(top, p);
    }
    const sure = Math.max(0, (top - 1 / classes) / (1 - 1 / classes));
    const strength = 0.2 + 0.6 * sure;  // how far from white towards the mixed colour
    image.data[4 * cell] = 255 + (r - 255) * strength;
    image.data[4 * cell + 1] = 255 + (g - 255) * strength;
    image.data[4 * cell + 2] = 255 + (b - 255) * strength;
    image.data[4 * cell + 3] = 255;
  }
  return image;
}

function drawMap() {
  const canvas = $("heatmap");
  const ctx = canvas.getContext("2d");
  const snapshot = state.snapshot;
  const data = state.data;
  if (!snapshot || !data || snapshot.data_version !== data.data_version) return;
  const grid = snapshot.grid;
  const small = document.createElement("canvas");
  small.width = small.height = grid.size;
  small.getContext("2d").putImageData(heatImage(grid), 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);

  const [x0, x1, y0, y1] = data.bounds;
  const px = (x) => ((x - x0) / (x1 - x0)) * canvas.width;
  const py = (y) => ((y1 - y) / (y1 - y0)) * canvas.height;
  const sets = [[data.train, "#fff"]];
  if ($("show_test").checked) sets.push([data.test, "#000"]);
  for (const [points, edge] of sets) {
    ctx.lineWidth = 1;
    ctx.strokeStyle = edge;
    points.x.forEach(([a, b], i) => {
      ctx.beginPath();
      ctx.arc(px(a), py(b), 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${PALETTE[points.y[i] % PALETTE.length].join(",")})`;
      ctx.fill();
      ctx.stroke();
    });
  }
}

// --- start ---------------------------------------------------------------------------------------

async function main() {
  try {
    const config = await api("GET", "/api/config");
    state.fields = config.fields;
    state.settings = config.defaults;
    buildControls();
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
