// deltagrad playground: the network diagram. Each input feature and each neuron is a small
// heat map of its own output over the plane; links show the weights (orange negative, blue
// positive, thicker when larger) or, in the gradients view, the last step's ∂loss/∂w, with
// each neuron ringed by its mean |δ|. "Step" plays that step: forward, δ's back, update.
// All numbers come from the server (network.py); this file only draws them.

import { diverging, floatsOf, paintMap, rgb } from "./draw.js";

const WEIGHT = { positive: diverging(1), negative: diverging(-1) };
const GRADIENT = { positive: [214, 51, 108], negative: [43, 138, 62] };
const PAUSE = { forward: 140, backward: 220, update: 450 };  // animation, ms per column

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function format(x) {
  return x === 0 ? "0" : Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4 ? x.toFixed(4) : x.toExponential(3);
}

export class Diagram {
  // root: the element to draw in, holding an <svg> for the links (made by the HTML parser, so
  // that its namespace need not be spelled out here); on: {toggleFeature(name), setHidden(widths)}.
  constructor(root, on) {
    this.root = root;
    this.svg = root.querySelector("svg.links");
    this.on = on;
    this.key = null;
    this.view = "weights";
    this.animation = 0;  // bumped to cancel a running animation
    root.dataset.phase = "idle";
    window.addEventListener("resize", () => this.layoutLinks());
  }

  // --- structure: rebuilt when the features, the layers or the outputs change --------------

  build(settings, fields, labels, network) {
    const key = JSON.stringify([settings.features, network.widths, network.shown]);
    if (key === this.key) return;
    this.key = key;
    this.animation++;  // a step being played was of the old network: stop it
    this.root.dataset.phase = "idle";
    this.root.replaceChildren(this.svg);
    this.svg.replaceChildren();
    this.columns = [this.featureColumn(settings, labels)];
    const hidden = network.widths.slice(1, -1);
    network.widths.slice(1).forEach((width, i) => {
      const last = i === hidden.length;
      const column = element("div", `column-nodes ${last ? "outputs" : "hidden"}`);
      column.appendChild(last ? element("div", "column-head", "output")
                              : this.layerHead(hidden, i, fields.hidden));
      const nodes = [];
      for (let k = 0; k < network.shown[i + 1]; k++) {
        const node = element("div", "node neuron");
        node.dataset.layer = i + 1;
        node.dataset.neuron = k;
        node.appendChild(this.canvas());
        column.appendChild(node);
        nodes.push(node);
      }
      if (width > network.shown[i + 1]) {
        column.appendChild(element("span", "more", `+${width - network.shown[i + 1]} more`));
      }
      this.root.appendChild(column);
      this.columns.push({ element: column, nodes });
    });
    this.links = network.shown.slice(1).map((_, layer) => this.makeLinks(layer));
    this.layoutLinks();
  }

  canvas() {
    const canvas = element("canvas", "node-map");
    canvas.width = canvas.height = 24;
    return canvas;
  }

  featureColumn(settings, labels) {
    const column = element("div", "column-nodes features");
    column.appendChild(element("div", "column-head", "features"));
    const nodes = [];  // the active ones, in the network's input order
    this.featureNodes = Object.entries(labels).map(([name, label]) => {
      const on = settings.features.includes(name);
      const node = element("button", `node feature ${on ? "on" : "off"}`);
      node.type = "button";
      node.dataset.feature = name;
      node.title = `${label}: click to switch ${on ? "off" : "on"}`;
      node.append(this.canvas(), element("span", "label", label));
      node.addEventListener("click", () => this.on.toggleFeature(name));
      column.appendChild(node);
      if (on) nodes.push(node);
      return node;
    });
    this.root.appendChild(column);
    return { element: column, nodes };
  }

  layerHead(hidden, i, bounds) {
    const head = element("div", "column-head");
    const change = (delta) => {
      const next = hidden.slice();
      next[i] = hidden[i] + delta;
      this.on.setHidden(next);
    };
    const minus = element("button", "round", "−");
    minus.type = "button";
    minus.title = `Fewer neurons in layer ${i + 1}`;
    minus.disabled = hidden[i] <= 1;
    minus.addEventListener("click", () => change(-1));
    const plus = element("button", "round", "+");
    plus.type = "button";
    plus.title = `More neurons in layer ${i + 1}`;
    plus.disabled = hidden[i] >= bounds.max_neurons;
    plus.addEventListener("click", () => change(1));
    head.append(minus, element("span", "count", String(hidden[i])), plus);
    return head;
  }

  makeLinks(layer) {
    const from = this.columns[layer].nodes;
    const to = this.columns[layer + 1].nodes;
    const links = [];
    const svg = (tag, className) => {
      const e = document.createElementNS(this.svg.namespaceURI, tag);
      if (className) e.classList.add(className);
      return e;
    };
    to.forEach((target, j) => from.forEach((source, i) => {
      // The drawn path, and a wide transparent one over it that is easy to hover: the
      // group's <title> is the tooltip of both.
      const [group, title, path, hit] = [svg("g"), svg("title"), svg("path", "link"),
                                         svg("path", "hit")];
      path.dataset.layer = layer;
      group.append(title, path, hit);
      this.svg.appendChild(group);
      links.push({ path, hit, title, source, target, i, j });
    }));
    return links;
  }

  layoutLinks() {
    if (!this.links) return;
    const box = this.root.getBoundingClientRect();
    this.svg.setAttribute("width", box.width);
    this.svg.setAttribute("height", box.height);
    for (const link of this.links.flat()) {
      const a = link.source.getBoundingClientRect();
      const b = link.target.getBoundingClientRect();
      const x0 = a.right - box.left;
      const y0 = a.top + a.height / 2 - box.top;
      const x1 = b.left - box.left;
      const y1 = b.top + b.height / 2 - box.top;
      const mid = (x0 + x1) / 2;
      const d = `M${x0},${y0} C${mid},${y0} ${mid},${y1} ${x1},${y1}`;
      link.path.setAttribute("d", d);
      link.hit.setAttribute("d", d);
    }
  }

  // --- what is drawn: heat maps, then links and rings for the view ----------------------------

  update(snapshot, data, view, discrete) {
    this.snapshot = snapshot;
    this.view = view;
    this.root.dataset.view = view;
    if (data && data.features) {
      this.featureNodes.forEach((node, k) => {
        paintMap(node.querySelector("canvas"), data.features, k, discrete);
      });
    }
    let k = 0;
    for (const column of this.columns.slice(1)) {
      for (const node of column.nodes) paintMap(node.querySelector("canvas"), snapshot.network.maps, k++, discrete);
    }
    if (this.root.dataset.phase === "idle") this.style(view);
  }

  numbers() {
    const s = this.snapshot;
    const step = s.last_step;
    return {
      weights: floatsOf(s.network.weights), biases: floatsOf(s.network.biases),
      grads: step && floatsOf(step.grads), updates: step && floatsOf(step.updates),
      deltas: step && floatsOf(step.deltas), biasGrads: step && floatsOf(step.bias_grads),
      names: s.network.names, step,
    };
  }

  // Links sized by |value| relative to the largest shown (the tooltip has the number); in the
  // gradients view, only the layers from upTo on (the backward animation fills them in).
  style(view, upTo = 0) {
    const n = this.numbers();
    const gradients = view === "gradients";
    const values = gradients ? n.grads : n.weights;  // no grads before the first step
    const scale = values ? Math.max(...values.map(Math.abs), 1e-12) : 1;
    const colours = gradients ? GRADIENT : WEIGHT;
    let index = 0;
    this.links.forEach((links, layer) => links.forEach((link) => {
      const [w, g, dw] = [n.weights, n.grads, n.updates].map((a) => a && a[index]);
      const value = values && (!gradients || layer >= upTo) ? values[index] : null;
      this.paintLink(link.path, value, value === null ? 0 : Math.abs(value) / scale, colours);
      const name = `${n.names[layer]}[${link.j}, ${link.i}]`;
      link.title.textContent = gradients && n.step
        ? `∂loss/∂w = ${format(g)}   (${name}; w = ${format(w)}, Δw = ${format(dw)} in the step)`
        : `w = ${format(w)}   (${name})`;
      index++;
    }));
    const deltaScale = n.deltas ? Math.max(...n.deltas, 1e-12) : 1;
    let unit = 0;
    this.columns.slice(1).forEach((column, layer) => column.nodes.forEach((node) => {
      const on = gradients && n.step && layer >= upTo;
      const delta = n.deltas && n.deltas[unit];
      node.style.boxShadow = on ? `0 0 0 3px rgba(${GRADIENT.positive.join(",")},`
        + `${(0.15 + 0.85 * delta / deltaScale).toFixed(3)})` : "";
      node.dataset.delta = on ? String(delta) : "";
      node.title = gradients && n.step
        ? `mean |δ| = ${format(delta)} over the ${n.step.points} points of the last step `
          + `(epoch ${n.step.epoch}); ∂loss/∂b = ${format(n.biasGrads[unit])}`
        : `bias b = ${format(n.biases[unit])}`;
      unit++;
    }));
  }

  paintLink(path, value, size, colours) {
    path.dataset.value = value === null ? "" : String(value);
    if (value === null) {
      path.setAttribute("stroke", "#d0d0d0");
      path.setAttribute("stroke-width", "0.6");
      path.setAttribute("stroke-opacity", "0.6");
      return;
    }
    path.setAttribute("stroke", rgb(value >= 0 ? colours.positive : colours.negative));
    path.setAttribute("stroke-width", (0.5 + 3.5 * size).toFixed(2));
    path.setAttribute("stroke-opacity", (0.25 + 0.75 * size).toFixed(3));
  }

  // --- one step, played: forward values, δ's flowing back layer by layer, the update --------

  async animate() {
    const token = ++this.animation;
    const root = this.root;
    const alive = () => token === this.animation;
    root.dataset.phase = "forward";
    this.style("weights");
    for (const column of this.columns) {
      column.element.classList.add("lit");
      await sleep(PAUSE.forward);
      column.element.classList.remove("lit");
      if (!alive()) return;
    }
    root.dataset.phase = "backward";
    for (let layer = this.links.length - 1; layer >= 0; layer--) {
      this.style("gradients", layer);
      await sleep(PAUSE.backward);
      if (!alive()) return;
    }
    root.dataset.phase = "update";
    this.style("weights");
    root.classList.add("updating");
    await sleep(PAUSE.update);
    root.classList.remove("updating");
    if (!alive()) return;
    root.dataset.phase = "idle";
    this.style(this.view);  // the view chosen now (it may have changed meanwhile)
  }
}
