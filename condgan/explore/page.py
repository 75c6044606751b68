"""The explorer's page: one HTML document, CSS and JavaScript inline (no network, no build step).

It asks /api/info once, then /api/sample whenever a control changes (a newer request cancels the older one)
and /api/interpolate on demand. A request still running after one second shows a progress bar with the time
elapsed; a refused request shows the server's message in the page.
"""

PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>condgan explore</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0; }
header { padding: 10px 18px; border-bottom: 1px solid #ddd; background: #fafafa; }
h1 { font-size: 20px; margin: 0; } h2 { font-size: 16px; margin: 16px 0 6px; }
.sub { color: #555; margin: 2px 0; }
main { display: grid; grid-template-columns: 270px minmax(0, 1fr) 330px; gap: 18px; padding: 12px 18px; }
aside label { display: block; margin: 10px 0 3px; font-weight: 600; }
aside input[type=text], aside input[type=number], aside select { width: 100%; box-sizing: border-box; padding: 3px 5px; }
.row { display: flex; gap: 6px; align-items: center; } .row > * { flex: 1; min-width: 0; }
.row input[type=range] { flex: 3; } .row input[type=checkbox] { flex: none; }
#chips { display: flex; flex-wrap: wrap; gap: 3px; margin-top: 4px; max-height: 130px; overflow-y: auto; }
#chips button { font-size: 12px; padding: 1px 6px; border: 1px solid #bbb; background: #fff; border-radius: 10px; cursor: pointer; }
#chips button.on { background: #2b6cb0; color: #fff; border-color: #2b6cb0; }
button.act { margin-top: 10px; padding: 4px 12px; }
#message { min-height: 1.4em; color: #b00020; font-weight: 600; margin: 6px 0; }
#progress { display: none; align-items: center; gap: 8px; color: #333; margin: 6px 0; }
#progress.on { display: flex; }
.gridbox { display: flex; gap: 8px; align-items: flex-start; }
.names { display: flex; flex-direction: column; justify-content: space-around; text-align: right; color: #444; font-size: 13px; }
img.px { image-rendering: pixelated; image-rendering: crisp-edges; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
th, td { border: 1px solid #ddd; padding: 2px 8px; text-align: left; } th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #777; font-style: italic; }
#run h2:first-child { margin-top: 0; } #run td { overflow-wrap: anywhere; } #run td:first-child { white-space: nowrap; }
</style></head>
<body>
<header><h1 id="title">condgan explore</h1><p class="sub" id="subtitle">loading…</p></header>
<main>
<aside>
  <label for="classes">Classes <span class="note">(names or ids, comma-separated)</span></label>
  <input type="text" id="classes" list="class-names" autocomplete="off">
  <datalist id="class-names"></datalist>
  <div id="chips"></div>
  <label for="truncation">Truncation</label>
  <div class="row"><input type="checkbox" id="truncate" checked title="truncate the latent">
    <input type="range" id="truncation" min="0.05" max="2" step="0.05" value="1">
    <input type="text" id="truncation-value" value="1" size="4"></div>
  <label for="seed">Seed</label>
  <div class="row"><input type="number" id="seed" value="0" min="0"><button id="random-seed" type="button">random</button></div>
  <label for="per-class">Images per class</label>
  <input type="number" id="per-class" value="6" min="1">
  <h2>Interpolate</h2>
  <select id="interp-mode"><option value="z">in z: two seeds, one class</option>
    <option value="class">across classes: two classes, one seed</option></select>
  <div id="interp-z"><label for="interp-class">Class</label><input type="text" id="interp-class" list="class-names">
    <div class="row"><div><label for="seed-a">Seed A</label><input type="number" id="seed-a" value="0" min="0"></div>
    <div><label for="seed-b">Seed B</label><input type="number" id="seed-b" value="1" min="0"></div></div></div>
  <div id="interp-c" hidden><div class="row"><div><label for="class-a">Class A</label><input type="text" id="class-a" list="class-names"></div>
    <div><label for="class-b">Class B</label><input type="text" id="class-b" list="class-names"></div></div>
    <label for="interp-seed">Seed</label><input type="number" id="interp-seed" value="0" min="0"></div>
  <label for="frames">Frames</label><input type="number" id="frames" value="8" min="2">
  <button class="act" id="interp-run" type="button">Interpolate</button>
</aside>
<section>
  <div id="progress" role="status"><progress></progress><span id="progress-text">generating…</span></div>
  <div id="message" role="alert"></div>
  <h2>Samples <span class="note" id="grid-note"></span></h2>
  <div class="gridbox"><div class="names" id="grid-names"></div><img class="px" id="grid" alt="generated samples, one row per class" data-seq="0"></div>
  <h2>Interpolation <span class="note" id="interp-note">(press Interpolate)</span></h2>
  <img class="px" id="interp" alt="interpolation frames" data-seq="0" hidden>
</section>
<section id="run">
  <h2>Metrics during training</h2><table id="metrics"></table>
  <h2>Evaluations</h2><div id="evaluations"></div>
  <h2>Configuration</h2><p class="sub" id="description"></p><table id="config"></table>
</section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let info = null, inflight = 0, started = 0, ticker = null, timer = null;
const controllers = {};

function fmt(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (Array.isArray(v)) return v.map(fmt).join(", ");
  return String(v);
}
function table(el, header, rows) {
  el.textContent = "";
  const tr = el.insertRow(); header.forEach((h) => { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); });
  rows.forEach((r) => { const row = el.insertRow(); r.forEach((c) => { const td = row.insertCell(); td.textContent = fmt(c); if (typeof c === "number") td.className = "num"; }); });
}
function showMessage(text) { $("message").textContent = text || ""; }

function busy(delta) {
  inflight += delta;
  if (delta > 0 && inflight === 1) {
    started = performance.now();
    ticker = setInterval(() => {
      const s = (performance.now() - started) / 1000;
      if (s >= 1) { $("progress").classList.add("on"); $("progress-text").textContent = `generating… ${s.toFixed(1)} s`; }
    }, 100);
  }
  if (inflight === 0) { clearInterval(ticker); $("progress").classList.remove("on"); }
  markBusy();
}
// "1" while a request runs or one is about to start: what a test (or a user) waits for to read the result
function markBusy() { document.body.dataset.busy = inflight > 0 || timer !== null ? "1" : "0"; }

async function api(kind, params) {
  if (controllers[kind]) controllers[kind].abort();  // the newest request wins
  const ctl = new AbortController(); controllers[kind] = ctl;
  busy(+1);
  try {
    const res = await fetch(`/api/${kind}?` + new URLSearchParams(params), { signal: ctl.signal });
    let data;
    try { data = await res.json(); } catch (e) { data = { error: `The server answered ${res.status} without a message.` }; }
    if (!res.ok) { showMessage(data.error || `Request failed (${res.status}).`); return null; }
    showMessage("");
    return data;
  } catch (e) {
    if (e.name !== "AbortError") showMessage("The explorer server cannot be reached; is condgan explore still running?");
    return null;
  } finally { busy(-1); if (controllers[kind] === ctl) delete controllers[kind]; }
}

function truncation() { return $("truncate").checked ? $("truncation-value").value.trim() : "none"; }
// whole-pixel upscaling (crisp), up to ~96 px per image and no wider than the column
function setImage(img, data, after) {
  img.onload = () => {
    const room = img.closest("section").clientWidth - 50;
    const s = Math.max(1, Math.min(Math.floor(96 / info.resolution), Math.floor(room / img.naturalWidth)));
    img.style.width = (img.naturalWidth * s) + "px";
    if (after) after(img.naturalHeight * s);
  };
  img.src = data.image; img.hidden = false;
  img.dataset.seq = String(Number(img.dataset.seq) + 1);
}

function refresh() { clearTimeout(timer); timer = setTimeout(() => { timer = null; sample(); }, 120); markBusy(); }
async function sample() {
  const data = await api("sample", { classes: $("classes").value, truncation: truncation(), seed: $("seed").value,
                                     per_class: $("per-class").value });
  if (!data) return;
  const names = $("grid-names"); names.textContent = "";
  data.rows.forEach((n) => { const s = document.createElement("span"); s.textContent = n; names.appendChild(s); });
  setImage($("grid"), data, (height) => { names.style.height = height + "px"; });
  $("grid-note").textContent = `(${data.seconds.toFixed(2)} s)`;
  markChips();
}
async function interpolate() {
  const mode = $("interp-mode").value;
  const p = { mode, truncation: truncation(), frames: $("frames").value };
  if (mode === "z") Object.assign(p, { class: $("interp-class").value, seed_a: $("seed-a").value, seed_b: $("seed-b").value });
  else Object.assign(p, { class_a: $("class-a").value, class_b: $("class-b").value, seed: $("interp-seed").value });
  const data = await api("interpolate", p);
  if (!data) return;
  setImage($("interp"), data);
  $("interp-note").textContent = `${data.label} (${data.seconds.toFixed(2)} s)`;
}

function chosen() { return $("classes").value.split(",").map((s) => s.trim()).filter((s) => s); }
function markChips() {
  const on = new Set(chosen());
  document.querySelectorAll("#chips button").forEach((b) => b.classList.toggle("on", on.has(b.textContent)));
}
function toggleClass(name) {
  const list = chosen(); const i = list.indexOf(name);
  if (i >= 0) list.splice(i, 1); else list.push(name);
  $("classes").value = list.join(", "); markChips(); refresh();
}

async function start() {
  const res = await fetch("/api/info"); info = await res.json();
  const names = info.class_names;
  $("title").textContent = `condgan explore: ${info.source}`;
  $("subtitle").textContent = `step ${info.step.toLocaleString()} · ${info.num_classes} classes · ${info.resolution} px · ` +
    `${info.channels} channel(s) · z ${info.z_dim} · on ${info.device}`;
  $("description").textContent = info.description;
  names.forEach((n) => { const o = document.createElement("option"); o.value = n; $("class-names").appendChild(o); });
  if (names.length <= 100) names.forEach((n) => {
    const b = document.createElement("button"); b.type = "button"; b.textContent = n; b.onclick = () => toggleClass(n); $("chips").appendChild(b);
  });
  const k = Math.min(names.length, 5);
  const first = Array.from({ length: k }, (_, i) => names[k > 1 ? Math.round(i * (names.length - 1) / (k - 1)) : 0]);
  $("classes").value = first.join(", ");
  $("interp-class").value = names[0]; $("class-a").value = names[0]; $("class-b").value = names[names.length - 1];
  $("truncation").max = String(Math.min(2, info.truncation_max));
  $("per-class").max = String(info.max_per_class); $("frames").max = String(info.max_frames);
  if (!info.conditional) $("interp-mode").querySelector("option[value=class]").disabled = true;
  table($("config"), ["key", "value"], info.config);
  if (info.metrics.length) table($("metrics"), ["metric", "latest", "at step", "best", "at step"], info.metrics);
  else $("metrics").outerHTML = '<p class="note" id="metrics">No metrics logged during training.</p>';
  const ev = $("evaluations");
  if (!info.evaluations.length) ev.innerHTML = '<p class="note">No metrics-*.json from condgan evaluate.</p>';
  info.evaluations.forEach((e) => {
    const h = document.createElement("p"); h.className = "sub"; h.textContent = e.file; ev.appendChild(h);
    const t = document.createElement("table"); ev.appendChild(t); table(t, ["key", "value"], Object.entries(e.values));
  });
  $("truncation").addEventListener("input", () => { $("truncation-value").value = $("truncation").value; $("truncate").checked = true; refresh(); });
  $("truncation-value").addEventListener("change", () => {
    const v = Number($("truncation-value").value);
    if (Number.isFinite(v)) $("truncation").value = String(v);
    $("truncate").checked = true; refresh();
  });
  ["truncate", "seed", "per-class"].forEach((id) => $(id).addEventListener("change", refresh));
  $("classes").addEventListener("change", () => { markChips(); refresh(); });
  $("random-seed").onclick = () => { $("seed").value = String(Math.floor(Math.random() * 1e6)); refresh(); };
  $("interp-mode").addEventListener("change", () => {
    const z = $("interp-mode").value === "z"; $("interp-z").hidden = !z; $("interp-c").hidden = z;
  });
  $("interp-run").onclick = interpolate;
  document.body.dataset.ready = "1";
  await sample();
}
start();
</script>
</body></html>
"""
