// deltagrad playground: decoding what the server sends, colour scales, heat maps and the
// loss chart. Everything drawn here was computed by deltagrad on the server.

// Class colours: orange and blue as in the TensorFlow playground, then a few more.
export const PALETTE = [[245, 147, 34], [8, 119, 189], [44, 160, 44], [148, 103, 189],
                        [214, 39, 40], [140, 86, 75], [227, 119, 194], [127, 127, 127]];
const NEGATIVE = PALETTE[0];
const POSITIVE = PALETTE[1];

export function bytesOf(base64) {
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

// Little-endian float32 numbers, as the server's encode() writes them.
export function floatsOf(base64) {
  const bytes = bytesOf(base64);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

// A value in [-1, 1] as a colour: orange below 0, white at 0, blue above.
export function diverging(v) {
  const t = Math.max(-1, Math.min(1, v));
  const end = t < 0 ? NEGATIVE : POSITIVE;
  const a = Math.abs(t);
  return [255 + (end[0] - 255) * a, 255 + (end[1] - 255) * a, 255 + (end[2] - 255) * a];
}

export function rgb(colour) {
  return `rgb(${colour.map(Math.round).join(",")})`;
}

// Maps sent as one byte per cell (encode_maps): map k's cells as values in [-1, 1].
export function mapValues(maps, k) {
  const cells = maps.size * maps.size;
  if (!maps.bytes) maps.bytes = bytesOf(maps.values);
  return Array.from(maps.bytes.subarray(k * cells, (k + 1) * cells), (b) => b / 127.5 - 1);
}

function imageOf(size, colourOf) {
  const image = new ImageData(size, size);
  for (let cell = 0; cell < size * size; cell++) {
    const [r, g, b] = colourOf(cell);
    image.data.set([r, g, b, 255], 4 * cell);
  }
  return image;
}

// Draw an image of size x size cells onto a canvas, stretched smoothly.
export function paint(canvas, size, colourOf) {
  const small = document.createElement("canvas");
  small.width = small.height = size;
  small.getContext("2d").putImageData(imageOf(size, colourOf), 0, 0);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, canvas.width, canvas.height);
}

// One heat map of values in [-1, 1] (a feature's or a neuron's output over the plane).
export function paintMap(canvas, maps, k, discrete) {
  const values = mapValues(maps, k);
  paint(canvas, maps.size, (cell) => diverging(discrete ? Math.sign(values[cell])
                                                        : values[cell]));
}

// The output heat map. Classification: class colours mixed by probability, paler where the
// network is unsure (or the winning class at full strength, discretised). Regression: the
// value on the orange-white-blue scale (or its sign, discretised).
export function paintOutput(canvas, grid, discrete) {
  if (!grid.probs) {
    paintMap(canvas, grid, 0, discrete);
    return;
  }
  const { size, classes } = grid;
  const bytes = grid.bytes || (grid.bytes = bytesOf(grid.probs));
  paint(canvas, size, (cell) => {
    const p = Array.from(bytes.subarray(cell * classes, (cell + 1) * classes), (b) => b / 255);
    const top = Math.max(...p);
    const weights = discrete ? p.map((v) => (v === top ? 1 : 0)) : p;
    const mixed = [0, 1, 2].map((c) => weights.reduce(
      (sum, w, k) => sum + w * PALETTE[k % PALETTE.length][c], 0));
    const sure = discrete ? 1 : Math.max(0, (top - 1 / classes) / (1 - 1 / classes));
    const strength = 0.2 + 0.6 * sure;  // how far from white towards the mixed colour
    return mixed.map((v) => 255 + (v - 255) * strength);
  });
}

// A point's colour: its class, or its target value for regression.
export function pointColour(data, y) {
  return data.classes ? PALETTE[y % PALETTE.length] : diverging(y);
}

export function drawPoints(canvas, data, withTest, selected) {
  const ctx = canvas.getContext("2d");
  const [x0, x1, y0, y1] = data.bounds;
  const px = (x) => ((x - x0) / (x1 - x0)) * canvas.width;
  const py = (y) => ((y1 - y) / (y1 - y0)) * canvas.height;
  const sets = [[data.train, "#fff"]];
  if (withTest) sets.push([data.test, "#000"]);
  ctx.lineWidth = 1;
  for (const [points, edge] of sets) {
    ctx.strokeStyle = edge;
    points.x.forEach(([a, b], i) => {
      ctx.beginPath();
      ctx.arc(px(a), py(b), 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = rgb(pointColour(data, points.y[i]));
      ctx.fill();
      ctx.stroke();
    });
  }
  if (selected !== null && selected < data.train.x.length) {
    const [a, b] = data.train.x[selected];
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    ctx.arc(px(a), py(b), 8, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

// The training point nearest to a click (within a few pixels), or null.
export function pointAt(canvas, data, event) {
  const box = canvas.getBoundingClientRect();
  const [x0, x1, y0, y1] = data.bounds;
  const cx = event.clientX - box.left;
  const cy = event.clientY - box.top;
  let best = null;
  let bestDistance = 10;  // pixels
  data.train.x.forEach(([a, b], i) => {
    const dx = ((a - x0) / (x1 - x0)) * box.width - cx;
    const dy = ((y1 - b) / (y1 - y0)) * box.height - cy;
    const distance = Math.hypot(dx, dy);
    if (distance < bestDistance) {
      best = i;
      bestDistance = distance;
    }
  });
  return best;
}

// The loss curves: one point per epoch (the server thins very long runs evenly).
export function drawChart(canvas, history) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!history || history.epoch.length < 2) return;
  const values = history.train.concat(history.test).filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(...values, 1e-6) * 1.05;
  const first = history.epoch[0];
  const span = Math.max(history.epoch[history.epoch.length - 1] - first, 1);
  const pad = 4;
  const x = (e) => pad + ((e - first) / span) * (canvas.width - 2 * pad);
  const y = (v) => canvas.height - pad - (v / top) * (canvas.height - 2 * pad);
  for (const [series, colour] of [[history.train, "#9a9a9a"], [history.test, "#222"]]) {
    ctx.beginPath();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    let pen = false;
    series.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      if (pen) ctx.lineTo(x(history.epoch[i]), y(v));
      else ctx.moveTo(x(history.epoch[i]), y(v));
      pen = true;
    });
    ctx.stroke();
  }
}
