// The admin console: one page per path under /admin/ (the broker serves
// this file only to administrators), each drawn from the admin API.
// Charts are plain SVG. Every change goes through common.js's api(), which
// sends the session's CSRF token; the broker audits each one.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const pages = ["overview", "pools", "desktops", "images", "sessions", "logins", "audit"];
const poolCache = { pools: [], images: [] };
let editing = null; // name of the pool in the form, null for a new one

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function actions(...buttons) {
  const span = document.createElement("span");
  span.className = "row-actions";
  for (const b of buttons) if (b) span.appendChild(b);
  return span;
}

// Run an admin action and say what happened in the status line.
async function act(what, fn) {
  try {
    const r = await fn();
    status(what);
    return r;
  } catch (e) {
    if (e.status === 401) return signedOut();
    status(e.message, true);
    return undefined;
  }
}

function signedOut() {
  status("Your session has ended. Sign in on the portal again.", true);
  setTimeout(() => { location.href = "/"; }, 1500);
}

// ---- overview ----

// A meter: used of total as a bar with its numbers as text and label.
function meter(used, total, unit, label) {
  const w = 120, h = 14;
  // A host that never reported its capacity has 0: nothing fits.
  const frac = total > 0 ? Math.min(used / total, 1) : (used > 0 ? 1 : 0);
  const over = used > total;
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img",
    "aria-label": `${label}: ${used} of ${total || "unknown"} ${unit}`, class: "meter" });
  s.appendChild(svg("rect", { x: 0, y: 0, width: w, height: h, rx: 3, class: "meter-bg" }));
  s.appendChild(svg("rect", { x: 0, y: 0, width: Math.round(w * frac), height: h, rx: 3,
    class: over ? "meter-over" : (frac > 0.85 ? "meter-high" : "meter-fill") }));
  const wrap = document.createElement("span");
  wrap.className = "meter-wrap";
  wrap.appendChild(s);
  wrap.appendChild(document.createTextNode(total ? ` ${used} / ${total} ${unit}` : ` ${used} ${unit} / unknown`));
  return wrap;
}

// A pool's desktops by state as one stacked bar.
function stack(p) {
  const parts = [["ready", p.ready], ["assigned", p.assigned], ["in_use", p.in_use],
    ["provisioning", p.provisioning], ["suspended", p.suspended], ["errors", p.errors]];
  const w = 160, h = 14, total = Math.max(p.max_size, p.size, 1);
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", class: "meter",
    "aria-label": parts.map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ") + ` of at most ${p.max_size}` });
  s.appendChild(svg("rect", { x: 0, y: 0, width: w, height: h, rx: 3, class: "meter-bg" }));
  let x = 0;
  for (const [k, v] of parts) {
    const pw = Math.round(w * v / total);
    if (pw > 0) s.appendChild(svg("rect", { x, y: 0, width: pw, height: h, class: "st-" + k }));
    x += pw;
  }
  return s;
}

function perMinuteChart(rows) {
  const w = 420, h = 150, pad = 26, n = rows.length || 1;
  const max = Math.max(1, ...rows.map((r) => Math.max(r.logins, r.launches)));
  const bw = (w - pad - 4) / n;
  const s = svg("svg", { viewBox: `0 0 ${w} ${h + 20}`, role: "img", class: "chart",
    "aria-label": "Per minute, oldest first: " + rows.map((r) => `${r.logins} sign-ins, ${r.launches} launches`).join("; ") });
  s.appendChild(svg("line", { x1: pad, y1: h, x2: w, y2: h, class: "axis" }));
  s.appendChild(svg("text", { x: pad - 4, y: 12, "text-anchor": "end", class: "tick" }, String(max)));
  s.appendChild(svg("text", { x: pad - 4, y: h, "text-anchor": "end", class: "tick" }, "0"));
  rows.forEach((r, i) => {
    const x = pad + 2 + i * bw;
    const lh = (h - 10) * r.logins / max, ch = (h - 10) * r.launches / max;
    s.appendChild(svg("rect", { x, y: h - lh, width: bw / 2 - 1, height: lh, class: "bar-logins" }));
    s.appendChild(svg("rect", { x: x + bw / 2, y: h - ch, width: bw / 2 - 1, height: ch, class: "bar-launches" }));
    if (i % 5 === 0 || i === rows.length - 1) {
      const t = new Date(r.minute);
      s.appendChild(svg("text", { x: x + bw / 2, y: h + 14, "text-anchor": "middle", class: "tick" },
        t.toTimeString().slice(0, 5)));
    }
  });
  const legend = document.createElement("p");
  legend.className = "legend";
  legend.innerHTML = '<span class="key key-logins"></span> sign-ins <span class="key key-launches"></span> launches';
  const box = $("perminute-chart");
  box.replaceChildren(s, legend);
}

function tile(label, value, cls) {
  const d = document.createElement("div");
  d.className = "tile" + (cls ? " " + cls : "");
  const v = document.createElement("span");
  v.className = "tile-value";
  v.textContent = value;
  const l = document.createElement("span");
  l.className = "tile-label";
  l.textContent = label;
  d.append(v, l);
  return d;
}

function renderOverview(o) {
  const t = o.totals;
  $("tiles").replaceChildren(
    tile("hosts up", `${t.hosts_up} / ${t.hosts}`, t.hosts_up < t.hosts ? "warn" : ""),
    tile("desktops", t.desktops), tile("ready", t.ready), tile("in use", t.in_use),
    tile("with errors", t.errors, t.errors ? "warn" : ""), tile("signed in", t.portal_sessions));
  $("hosts-rows").replaceChildren(...o.hosts.map((h) => {
    const st = document.createElement("span");
    st.className = "badge " + h.state;
    st.textContent = h.state;
    return row([h.name, st, meter(h.vcpus_committed, h.vcpus, "", `${h.name} vCPUs committed`),
      meter(h.memory_committed_mb, h.memory_mb, "MiB", `${h.name} memory committed`),
      `${h.memory_running_mb} MiB`, h.desktops, h.in_use]);
  }));
  $("pools-ov-rows").replaceChildren(...o.pools.map((p) =>
    row([p.name + (p.enabled ? "" : " (disabled)"), `${p.size} / ${p.max_size}`, p.ready, p.assigned,
      p.in_use, p.provisioning, p.errors, stack(p)])));
  perMinuteChart(o.per_minute || []);
  $("phases-rows").replaceChildren(...o.phases.map((p, i) => {
    const tr = row([p.phase, p.count, p.avg_ms, p.max_ms, p.slowest_user || ""]);
    if (i === 0) tr.className = "slowest";
    return tr;
  }));
  show("phases-empty", o.phases.length === 0);
  $("overview-updated").textContent = "Last update " + new Date(o.at).toLocaleTimeString() + ".";
}

async function refreshOverview() {
  if (!document.hidden) {
    try {
      renderOverview(await api("GET", "/admin/overview"));
      status("");
    } catch (e) {
      if (e.status === 401) return signedOut();
      status(e.message, true);
    }
  }
  setTimeout(refreshOverview, 5000);
}

// ---- pools ----

async function loadPools() {
  try {
    const [p, i] = await Promise.all([api("GET", "/admin/pools"), api("GET", "/admin/images")]);
    poolCache.pools = p.pools;
    poolCache.images = i.images;
  } catch (e) {
    if (e.status === 401) return signedOut();
    return status(e.message, true);
  }
  $("f-image").replaceChildren(...poolCache.images.map((im) => {
    const o = document.createElement("option");
    o.value = o.textContent = im.name;
    return o;
  }));
  $("pools-rows").replaceChildren(...poolCache.pools.map((p) => {
    const counts = Object.entries(p.desktops || {}).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(", ") || "none";
    const size = poolSize(p);
    // After a change of image version the loop recomposes the desktops:
    // how many run the pool's version, until all of them do.
    const image = `${p.image} v${p.image_version}` + (size === 0 ? ""
      : ` — ${p.recomposing ? "recomposing: " : ""}${p.on_current_image} of ${size} desktop${size === 1 ? "" : "s"} on it`);
    return row([p.display_name ? `${p.name} (${p.display_name})` : p.name, poolKind(p), image, `${p.min_size} / ${p.ready_size} / ${p.max_size}`, counts,
      p.enabled ? "yes" : "no",
      actions(button("Edit", () => openForm(p), `Edit pool ${p.name}`, "small"),
        button(p.enabled ? "Disable" : "Enable", () => setEnabled(p, !p.enabled),
          `${p.enabled ? "Disable" : "Enable"} pool ${p.name}`, "small"),
        confirmButton("Refresh", "Confirm refresh", `Refresh pool ${p.name}`, () => act(
          `Pool ${p.name}: desktops marked for refresh.`,
          () => api("POST", `/admin/pools/${encodeURIComponent(p.name)}/refresh`))),
        confirmButton("Delete", "Confirm delete", `Delete pool ${p.name}`, async () => {
          await act(`Pool ${p.name} deleted.`, () => api("DELETE", `/admin/pools/${encodeURIComponent(p.name)}`));
          loadPools();
        }))]);
  }));
  followPools();
}

// Kind, provisioning and power policy: "floating, instant clones,
// suspends after 15 min without a client".
function poolKind(p) {
  const s = p.suspend_after_disconnect_s;
  const after = !s ? "" : s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} min` : `${s} s`;
  return `${p.kind}, ${p.provisioning} clones` + (after ? `, suspends after ${after} without a client` : "");
}

function poolSize(p) {
  return Object.values(p.desktops || {}).reduce((a, b) => a + b, 0);
}

// Whether the reconcile loop still has work in a pool: desktops to make
// for its ready size, or to bring to its image version.
function poolBusy(p) {
  const size = poolSize(p);
  return p.enabled && (p.recomposing > 0 || p.on_current_image < size ||
    (size < p.max_size && ((p.desktops || {}).ready || 0) < p.ready_size));
}

// While a pool fills or recomposes the list follows it, every 3 s; not
// while the form is open or a row's button waits for its confirmation.
let poolsTimer = null;
function followPools() {
  clearTimeout(poolsTimer);
  if (!poolCache.pools.some(poolBusy)) return;
  poolsTimer = setTimeout(() => {
    if (document.hidden || !$("pool-form").hidden || document.querySelector("#pools-rows .danger")) followPools();
    else loadPools();
  }, 3000);
}

// The pool as the API takes it back (PUT needs every required field).
function poolBody(p) {
  return { name: p.name, display_name: p.display_name, description: p.description, kind: p.kind,
    image: p.image, image_version: p.image_version, min_size: p.min_size, max_size: p.max_size,
    ready_size: p.ready_size, protocols: p.protocols, vcpus: p.vcpus, memory_mb: p.memory_mb,
    enabled: p.enabled, entitlements: p.entitlements, bridge: p.bridge, vlan: p.vlan,
    provisioning: p.provisioning, suspend_after_disconnect_s: p.suspend_after_disconnect_s };
}

async function setEnabled(p, enabled) {
  await act(`Pool ${p.name} ${enabled ? "enabled" : "disabled"}.`,
    () => api("PUT", `/admin/pools/${encodeURIComponent(p.name)}`, { ...poolBody(p), enabled }));
  loadPools();
}

const intFields = ["image_version", "min_size", "ready_size", "max_size", "vcpus", "memory_mb", "vlan",
  "suspend_after_disconnect_s"];
const textFields = ["name", "display_name", "description", "kind", "image", "bridge", "provisioning"];

function clearErrors() {
  for (const el of document.querySelectorAll("#pool-form .field-error")) { el.hidden = true; el.textContent = ""; }
  for (const el of document.querySelectorAll("#pool-form [aria-invalid]")) el.removeAttribute("aria-invalid");
  show("pool-form-error", false);
}

function openForm(p) {
  editing = p ? p.name : null;
  clearErrors();
  $("pool-form-title").textContent = p ? `Edit pool ${p.name}` : "New pool";
  $("f-name").readOnly = !!p;
  const v = p || { kind: "floating", provisioning: "linked", min_size: 0, ready_size: 1, max_size: 5, vcpus: 2,
    memory_mb: 2048, protocols: ["rdp", "spice"], enabled: true, entitlements: [] };
  for (const f of textFields) $("f-" + f).value = v[f] === null || v[f] === undefined ? "" : v[f];
  for (const f of intFields) $("f-" + f).value = v[f] === null || v[f] === undefined ? "" : v[f];
  if (!v.suspend_after_disconnect_s) $("f-suspend_after_disconnect_s").value = ""; // 0: never
  if (!p && poolCache.images.length) $("f-image").value = poolCache.images[0].name;
  $("f-proto-rdp").checked = v.protocols.includes("rdp");
  $("f-proto-spice").checked = v.protocols.includes("spice");
  $("f-proto-web").checked = v.protocols.includes("web");
  $("f-enabled").checked = v.enabled;
  $("f-entitlements").value = (v.entitlements || []).map((e) => `${e.kind}:${e.subject}`).join("\n");
  $("f-recompose").value = "rolling";
  show("recompose-field", !!p); // a new pool has nothing to recompose
  show("pool-form", true);
  $(p ? "f-display_name" : "f-name").focus();
}

// The form as the API's body. Numbers that do not parse are sent as
// typed, so the API's own validation explains what is wrong.
function formBody() {
  const body = {};
  for (const f of textFields) {
    const v = $("f-" + f).value.trim();
    if (v !== "" || f === "display_name" || f === "description") body[f] = v;
  }
  for (const f of intFields) {
    const v = $("f-" + f).value.trim();
    if (v !== "") body[f] = /^-?\d+$/.test(v) ? Number(v) : v;
  }
  // Empty is "never" (0), also when an edit clears it.
  if (body.suspend_after_disconnect_s === undefined) body.suspend_after_disconnect_s = 0;
  body.protocols = ["rdp", "spice", "web"].filter((p) => $("f-proto-" + p).checked);
  body.enabled = $("f-enabled").checked;
  body.entitlements = $("f-entitlements").value.split("\n").map((l) => l.trim()).filter((l) => l)
    .map((l) => {
      const i = l.indexOf(":");
      return i < 0 ? { kind: l, subject: "" } : { kind: l.slice(0, i).trim(), subject: l.slice(i + 1).trim() };
    });
  return body;
}

function fieldError(field, message) {
  const box = $("e-" + field);
  const input = $("f-" + field);
  if (!box) {
    $("pool-form-error").textContent = sentence(message);
    show("pool-form-error", true);
    return;
  }
  box.textContent = sentence(message);
  box.hidden = false;
  input.setAttribute("aria-invalid", "true");
  (input.tagName === "FIELDSET" ? input.querySelector("input") : input).focus();
}

async function savePool(ev) {
  ev.preventDefault();
  clearErrors();
  $("pool-save").disabled = true;
  try {
    const body = formBody();
    const before = poolCache.pools.find((p) => p.name === editing);
    if (editing) await api("PUT", `/admin/pools/${encodeURIComponent(editing)}`, body);
    else await api("POST", "/admin/pools", body);
    // Recompose now: every desktop is refreshed, which rebuilds it on the
    // pool's new version even while a user holds it.
    const newVersion = before && (body.image !== before.image ||
      (body.image_version !== undefined && body.image_version !== before.image_version));
    if (newVersion && $("f-recompose").value === "now") {
      await api("POST", `/admin/pools/${encodeURIComponent(editing)}/refresh`);
      status(`Pool ${editing} saved; all its desktops are being recomposed now.`);
    } else {
      status(`Pool ${body.name || editing} saved.`);
    }
    show("pool-form", false);
    loadPools();
  } catch (e) {
    if (e.status === 401) return signedOut();
    fieldError(e.field, e.message);
  } finally {
    $("pool-save").disabled = false;
  }
}

// ---- desktops ----

async function loadDesktops(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams();
  if ($("d-q").value.trim()) q.set("q", $("d-q").value.trim());
  if ($("d-state").value) q.set("state", $("d-state").value);
  if ($("d-history").checked) q.set("history", "yes");
  let data;
  try { data = await api("GET", "/admin/desktops?" + q); } catch (e) {
    if (e.status === 401) return signedOut();
    return status(e.message, true);
  }
  show("desktops-empty", data.desktops.length === 0);
  $("desktops-rows").replaceChildren(...data.desktops.map((d) => {
    const st = document.createElement("span");
    st.className = "badge " + d.state;
    st.textContent = d.state.replace("_", " ");
    if (d.state === "suspended") st.title = "Saved to disk on its host, its memory freed; it resumes where it stood";
    if (d.last_error || d.quarantine_reason) st.title = d.quarantine_reason || d.last_error;
    const live = d.state !== "deleted";
    const user = d.connected_user || d.assigned_to || "";
    const from = d.connected_from ? `${d.connected_from} (${d.connected_protocol})` : "";
    return row([d.name, d.pool, d.host || "—", st, d.image, user, from,
      when(d.connected_since || d.state_changed_at), d.pending_action || "",
      live ? actions(
        confirmButton("Log off", "Confirm log off", `Log off desktop ${d.name} (refresh it)`, async () => {
          await act(`Desktop ${d.name} marked for refresh: the user is logged off and it is made again.`,
            () => api("POST", `/admin/desktops/${d.id}/refresh`));
          loadDesktops();
        }),
        confirmButton("Reset", "Confirm reset", `Reset desktop ${d.name}`, async () => {
          await act(`Desktop ${d.name} reset.`, () => api("POST", `/admin/desktops/${d.id}/reset`));
          loadDesktops();
        }),
        ["ready", "assigned", "in_use"].includes(d.state) && d.host ? confirmButton("Suspend",
          "Confirm suspend", `Suspend desktop ${d.name}`, async () => {
            await act(`Desktop ${d.name} suspended: saved to disk, its memory freed; it resumes where it was.`,
              () => api("POST", `/admin/desktops/${d.id}/suspend`));
            loadDesktops();
          }) : null,
        ["stopped", "suspended"].includes(d.state) && d.host ? button(d.state === "suspended" ? "Resume" : "Start",
          async () => {
            await act(d.state === "suspended" ? `Desktop ${d.name} resumed where it was.` : `Desktop ${d.name} started.`,
              () => api("POST", `/admin/desktops/${d.id}/resume`));
            loadDesktops();
          }, `Start or resume desktop ${d.name}`, "small") : null,
        d.connected_user ? confirmButton("Disconnect", "Confirm disconnect",
          `Disconnect ${d.connected_user} from desktop ${d.name}`, async () => {
            await act(`${d.connected_user} disconnected from ${d.name}; the desktop keeps running.`,
              () => api("POST", `/admin/desktops/${d.id}/disconnect`));
            loadDesktops();
          }) : null,
        d.host ? button("Screen", () => showScreen(d),
          `Show the screen of desktop ${d.name}`, "small") : null) : ""]);
  }));
}

// The live thumbnail of one desktop's screen: taken through its host from
// the VM's control socket every 10 seconds while the panel is open (each
// look is audited by the broker), drawn on a canvas from the PNG.
const screen = { desktop: null, timer: null };

async function refreshScreen() {
  const d = screen.desktop;
  if (!d) return;
  try {
    const resp = await apiFetch("POST", `/admin/desktops/${d.id}/screenshot`, undefined, "image/png");
    const bmp = await createImageBitmap(await resp.blob());
    if (screen.desktop !== d) return;
    const c = $("screen-canvas");
    c.width = bmp.width;
    c.height = bmp.height;
    c.getContext("2d").drawImage(bmp, 0, 0);
    c.setAttribute("aria-label", `Screen of desktop ${d.name}`);
    $("screen-when").textContent = "Taken " + new Date().toLocaleTimeString() + ".";
    show("screen-canvas", true);
  } catch (e) {
    if (e.status === 401) return signedOut();
    $("screen-when").textContent = sentence(e.message);
  }
}

function showScreen(d) {
  hideScreen();
  screen.desktop = d;
  $("screen-title").textContent = `Screen of ${d.name} (${d.pool}, on ${d.host})`;
  $("screen-when").textContent = "Taking a screenshot…";
  show("screen-canvas", false);
  show("screen-panel", true);
  refreshScreen();
  screen.timer = setInterval(refreshScreen, 10000);
  $("screen-close").focus();
}

function hideScreen() {
  clearInterval(screen.timer);
  screen.timer = null;
  screen.desktop = null;
  show("screen-panel", false);
}

// ---- images ----

function bytes(n) {
  if (!n) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++) n /= 1024;
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

async function loadImages() {
  let im, po;
  try {
    [im, po] = await Promise.all([api("GET", "/admin/images"), api("GET", "/admin/pools")]);
  } catch (e) {
    if (e.status === 401) return signedOut();
    return status(e.message, true);
  }
  const rows = [];
  for (const i of im.images) {
    for (const v of [...i.versions].reverse()) {
      const users = po.pools.filter((p) => p.image === i.name && p.image_version === v.version).map((p) => p.name);
      const st = document.createElement("span");
      st.className = "badge " + (v.state === "published" ? "ready" : v.state === "retired" ? "deleted" : "");
      st.textContent = v.state;
      rows.push(row([i.name, v.version, st, v.format, v.display, bytes(v.size_bytes), v.path,
        when(v.created_at), users.join(", ") || "none"]));
    }
  }
  $("images-rows").replaceChildren(...rows);
}

// A bundle's manifest.json (tools/image-build: the body of vdi-hostd's
// image import) as the admin API's new version; the API validates it.
function manifestVersion(m) {
  if (!m || typeof m !== "object" || Array.isArray(m)) throw new Error("it is not a JSON object");
  const body = { version: m.version, path: m.disk, format: m.format, kernel: m.kernel,
    initrd: m.initrd, cmdline: m.cmdline, display: m.display };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  return body;
}

function importError(text) {
  $("import-error").textContent = text || "";
  show("import-error", !!text);
}

async function importBundle(ev) {
  ev.preventDefault();
  const name = $("i-name").value.trim(), file = $("i-manifest").files[0];
  importError("");
  if (!file) return importError("Pick the bundle's manifest.json.");
  let body;
  try {
    body = manifestVersion(JSON.parse(await file.text()));
  } catch (e) {
    return importError(`${file.name} is not a bundle manifest: ${e.message}`);
  }
  $("import-button").disabled = true;
  try {
    const known = (await api("GET", "/admin/images")).images.some((i) => i.name === name);
    if (!known) await api("POST", "/admin/images", { name });
    await api("POST", `/admin/images/${encodeURIComponent(name)}/versions`, body);
    status(`Image ${name} version ${body.version} imported.`);
    $("import-form").reset();
    loadImages();
  } catch (e) {
    if (e.status === 401) return signedOut();
    importError(`${file.name}: ${e.message}`);
  } finally {
    $("import-button").disabled = false;
  }
}

// ---- sessions ----

async function loadSessions() {
  let data;
  try { data = await api("GET", "/admin/sessions"); } catch (e) {
    if (e.status === 401) return signedOut();
    return status(e.message, true);
  }
  $("sessions-rows").replaceChildren(...data.sessions.map((s) => {
    const mine = session.user && s.user_name === session.user.login;
    const desks = (s.desktop_sessions || []).map((d) => `${d.desktop} (${d.protocol})`).join(", ");
    return row([s.user_name + (s.is_admin ? " (admin)" : ""), s.display_name, s.remote_addr || "",
      when(s.created_at), when(s.last_seen_at), desks,
      mine ? "this session" : actions(confirmButton("Sign out", "Confirm sign out",
        `Sign out ${s.user_name} (session ${s.id})`, async () => {
          await act(`${s.user_name} signed out.`, () => api("DELETE", `/admin/sessions/${s.id}`));
          loadSessions();
        }))]);
  }));
}

// ---- logins ----

const phaseColors = ["#1f5fbf", "#2f7d4a", "#c9a227", "#8a3ffc", "#d2691e", "#00838f", "#a4161a", "#5b6575"];

// One request's phases as a stacked bar, scaled to the slowest shown.
function phaseBar(l, max, colorOf) {
  const w = 360, h = 14;
  const entries = Object.entries(l.phases || {});
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: "img", class: "meter",
    "aria-label": entries.map(([p, ms]) => `${p} ${ms} ms`).join(", ") || "no phases" });
  let x = 0;
  for (const [p, ms] of entries) {
    const pw = Math.max(1, w * ms / max);
    const r = svg("rect", { x, y: 0, width: pw, height: h, fill: colorOf(p) });
    r.appendChild(svg("title", {}, `${p}: ${ms} ms`));
    s.appendChild(r);
    x += pw;
  }
  return s;
}

async function loadLogins(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ limit: "200", window_s: $("l-window").value });
  if ($("l-user").value.trim()) q.set("user", $("l-user").value.trim());
  const slow = Number($("l-slow").value) || 1000;
  let data;
  try { data = await api("GET", "/admin/logins?" + q); } catch (e) {
    if (e.status === 401) return signedOut();
    return status(e.message, true);
  }
  const colors = {};
  const colorOf = (p) => colors[p] || (colors[p] = phaseColors[Object.keys(colors).length % phaseColors.length]);
  const max = Math.max(1, ...data.logins.map((l) => Object.values(l.phases || {}).reduce((a, b) => a + b, 0)));
  show("logins-empty", data.logins.length === 0);
  $("logins-rows").replaceChildren(...data.logins.map((l) => {
    const tr = row([when(l.at), l.user_name, l.kind, l.total_ms, phaseBar(l, max, colorOf)]);
    if (l.total_ms >= slow) tr.className = "slow";
    return tr;
  }));
  $("logins-legend").replaceChildren(...Object.entries(colors).map(([p, c]) => {
    const span = document.createElement("span");
    span.className = "legend-item";
    const key = svg("svg", { width: 12, height: 12, "aria-hidden": "true" });
    key.appendChild(svg("rect", { width: 12, height: 12, rx: 2, fill: c }));
    span.append(key, " " + p);
    return span;
  }));
}

// ---- audit ----

async function loadAudit(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ limit: "200" });
  for (const f of ["actor", "action", "outcome", "pool"]) {
    const v = $("a-" + f).value.trim();
    if (v) q.set(f, v);
  }
  if ($("a-since").value) q.set("since", new Date($("a-since").value).toISOString());
  let data;
  try { data = await api("GET", "/admin/audit?" + q); } catch (e) {
    if (e.status === 401) return signedOut();
    return status(e.message, true);
  }
  show("audit-empty", data.events.length === 0);
  $("audit-rows").replaceChildren(...data.events.map((e) => {
    const tr = row([when(e.at), e.actor, e.action, e.outcome, e.pool_name, e.desktop_name,
      e.host_name, e.remote_addr, e.detail]);
    if (e.outcome !== "ok") tr.className = "bad";
    return tr;
  }));
}

// ---- start ----

async function start() {
  const name = location.pathname.split("/")[2] || "overview";
  const page = pages.includes(name) ? name : "overview";
  for (const a of document.querySelectorAll(".tabs a"))
    if (a.dataset.page === page) a.setAttribute("aria-current", "page");
  loadBranding("Admin console");
  $("signout").addEventListener("click", async () => {
    try { await api("POST", "/logout"); } catch (e) { /* signed out anyway */ }
    location.href = "/";
  });
  try {
    const me = await api("GET", "/me");
    session.user = me.user;
    session.csrf = me.csrf_token;
    $("who-name").textContent = me.user.display_name || me.user.login;
  } catch (e) {
    return e.status === 401 ? signedOut() : status(e.message, true);
  }
  show("page-" + page, true);
  if (page === "overview") refreshOverview();
  if (page === "pools") {
    $("pool-new").addEventListener("click", () => openForm(null));
    $("pool-cancel").addEventListener("click", () => { show("pool-form", false); $("pool-new").focus(); });
    $("pool-form").addEventListener("submit", savePool);
    loadPools();
  }
  if (page === "desktops") {
    $("desktop-search").addEventListener("submit", loadDesktops);
    $("screen-close").addEventListener("click", hideScreen);
    loadDesktops();
  }
  if (page === "sessions") loadSessions();
  if (page === "images") {
    $("import-form").addEventListener("submit", importBundle);
    loadImages();
  }
  if (page === "logins") {
    $("logins-filter").addEventListener("submit", loadLogins);
    loadLogins();
  }
  if (page === "audit") {
    $("audit-filter").addEventListener("submit", loadAudit);
    loadAudit();
  }
}

document.addEventListener("DOMContentLoaded", start);
