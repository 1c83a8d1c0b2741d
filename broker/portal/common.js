// Shared by the portal (app.js) and the admin console (admin.js): element
// lookup, the status line, calls to /api/v1 with the session cookie and
// the CSRF token, and the branding from the broker's [portal] config.
"use strict";

const session = { csrf: null, user: null };
const $ = (id) => document.getElementById(id);

function show(id, visible) { $(id).hidden = !visible; }

// Server messages start in lower case (they also appear in logs).
function sentence(text) { return text ? text.charAt(0).toUpperCase() + text.slice(1) : ""; }

function status(text, isError) {
  const el = $("status");
  el.textContent = sentence(text);
  el.classList.toggle("error", !!isError);
}

// One API call, answered by a 2xx response. Errors are thrown as Error
// with .status, .code and, for a validation error about one body field,
// .field.
async function apiFetch(method, path, body, accept) {
  const headers = { "Accept": accept || "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let resp;
  try {
    resp = await fetch("/api/v1" + path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error("The server cannot be reached. Check your connection and try again.");
  }
  if (resp.ok) return resp;
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  const err = new Error((data && data.message) || ("The server answered " + resp.status + "."));
  err.status = resp.status;
  err.code = data && data.error;
  err.field = data && data.field;
  throw err;
}

// One API call answered with JSON (null for 204 or a body that is not JSON).
async function api(method, path, body) {
  const resp = await apiFetch(method, path, body);
  if (resp.status === 204) return null;
  try { return await resp.json(); } catch (e) { return null; }
}

// Name, logo and help link from the broker's config; the page keeps its
// built-in title when the broker cannot be asked.
async function loadBranding(suffix) {
  let b;
  try { b = await api("GET", "/portal"); } catch (e) { return; }
  $("brand-name").textContent = b.name;
  document.title = suffix ? b.name + " — " + suffix : b.name;
  if (b.logo) {
    $("brand-logo").src = b.logo;
    show("brand-logo", true);
  }
  if (b.help_url) {
    $("help-link").href = b.help_url;
    show("help-link", true);
  }
}

// A table row of text cells (never HTML: names come from users).
function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "" : String(c);
    tr.appendChild(td);
  }
  return tr;
}

function when(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleString();
}

function button(label, onClick, ariaLabel, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
  if (cls) b.className = cls;
  b.addEventListener("click", () => onClick(b));
  return b;
}

// A destructive action asks once more on the same button (no modal
// dialog: keyboard and screen readers stay where they were).
function confirmButton(label, confirmLabel, ariaLabel, onConfirm) {
  let armed = null;
  const b = button(label, async () => {
    if (!armed) {
      b.textContent = confirmLabel;
      b.classList.add("danger");
      armed = setTimeout(() => { armed = null; b.textContent = label; b.classList.remove("danger"); }, 6000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    b.disabled = true;
    try { await onConfirm(); } finally { b.disabled = false; b.textContent = label; b.classList.remove("danger"); }
  }, ariaLabel, "small");
  return b;
}
