// Portal logic: sign in, list entitled desktops, download one-time
// connection files, sign out. Talks to /api/v1 with the session cookie and
// sends the CSRF token on every state-changing request.
"use strict";

const state = { csrf: null, user: null };
const $ = (id) => document.getElementById(id);

function show(id, visible) { $(id).hidden = !visible; }
function status(text, isError) {
  const el = $("status");
  // Server messages start in lower case (they also appear in logs).
  text = text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
  el.textContent = text;
  el.classList.toggle("error", !!isError);
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["X-CSRF-Token"] = state.csrf;
  let resp;
  try {
    resp = await fetch("/api/v1" + path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new Error("The server cannot be reached. Check your connection and try again.");
  }
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) {
    const err = new Error((data && data.message) || ("The server answered " + resp.status + "."));
    err.status = resp.status;
    err.code = data && data.error;
    throw err;
  }
  return data;
}

function signedIn(me) {
  state.user = me.user;
  state.csrf = me.csrf_token;
  $("who-name").textContent = me.user.display_name || me.user.login;
  show("who", true);
  show("signin", false);
  show("desktops", true);
  loadDesktops();
}

function signedOut(message) {
  state.user = null;
  state.csrf = null;
  show("who", false);
  show("desktops", false);
  show("otp", false);
  $("otp-value").value = "";
  show("signin", true);
  $("password").value = "";
  status(message || "");
  $("username").focus();
}

const protocolNames = { rdp: "Remote Desktop (RDP)", spice: "SPICE" };
const stateNames = {
  ready: "Ready", assigned: "Ready — your desktop", connected: "In use by you",
  provisioning: "Being prepared", starting: "Starting", stopped: "Powered off",
  unavailable: "Unavailable",
};

async function loadDesktops() {
  status("Loading your desktops…");
  try {
    const data = await api("GET", "/desktops");
    renderDesktops(data.desktops || []);
    status("");
  } catch (e) {
    if (e.status === 401) return signedOut("Your session has ended. Please sign in again.");
    status(e.message, true);
  }
}

function renderDesktops(list) {
  const ul = $("desktop-list");
  ul.replaceChildren();
  show("desktops-empty", list.length === 0);
  for (const d of list) {
    const item = $("desktop-item").content.firstElementChild.cloneNode(true);
    item.querySelector(".desktop-name").textContent = d.pool_name;
    item.querySelector(".desktop-description").textContent = d.description || "";
    item.querySelector(".desktop-state").textContent = stateNames[d.state] || d.state || "";
    const actions = item.querySelector(".desktop-actions");
    for (const proto of d.protocols || []) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Connect with " + (protocolNames[proto] || proto);
      b.dataset.pool = d.pool_id;
      b.dataset.protocol = proto;
      b.setAttribute("aria-label", b.textContent + " to " + d.pool_name);
      b.addEventListener("click", () => launch(b, d, proto));
      actions.appendChild(b);
    }
    ul.appendChild(item);
  }
}

function download(file) {
  const blob = new Blob([file.content], { type: file.content_type });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = file.name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// RDP's network-level authentication needs the one-time password typed
// into the client: a .rdp file cannot carry it for mstsc. Show it once,
// with a copy button, next to the downloaded file.
function showPassword(r) {
  const box = $("otp");
  if (!r.password) { box.hidden = true; return; }
  $("otp-value").value = r.password;
  $("otp-user").textContent = r.username;
  $("otp-file").textContent = r.file.name;
  $("otp-cmd").textContent = "xfreerdp " + r.file.name + " /u:" + r.username + " /p:" + r.password;
  box.hidden = false;
  $("otp-value").focus();
  $("otp-value").select();
}

async function copyPassword() {
  const field = $("otp-value");
  try {
    await navigator.clipboard.writeText(field.value);
    $("otp-copied").textContent = "Copied.";
  } catch (e) {
    field.select();
    $("otp-copied").textContent = "Press Ctrl+C to copy.";
  }
}

async function launch(button, desktop, protocol) {
  button.disabled = true;
  $("otp").hidden = true;
  status("Preparing " + desktop.pool_name + "…");
  try {
    const r = await api("POST", "/launch", { pool: desktop.pool_id, protocol });
    download(r.file);
    showPassword(r);
    status("Connection file for " + desktop.pool_name + " downloaded. Open it within " +
      r.expires_in + " seconds.");
  } catch (e) {
    if (e.status === 401) return signedOut("Your session has ended. Please sign in again.");
    status(e.message, true);
  } finally {
    button.disabled = false;
  }
}

async function signIn(ev) {
  ev.preventDefault();
  const user = $("username").value.trim();
  const password = $("password").value;
  const errorBox = $("signin-error");
  errorBox.hidden = true;
  if (!user || !password) {
    errorBox.textContent = "Enter your user name and password.";
    errorBox.hidden = false;
    return;
  }
  $("signin-button").disabled = true;
  try {
    const me = await api("POST", "/login", { username: user, password });
    signedIn(me);
  } catch (e) {
    errorBox.textContent = e.message.charAt(0).toUpperCase() + e.message.slice(1);
    errorBox.hidden = false;
    $("password").value = "";
    $("password").focus();
  } finally {
    $("signin-button").disabled = false;
  }
}

async function signOut() {
  try { await api("POST", "/logout"); } catch (e) { /* signed out anyway */ }
  signedOut("You have signed out.");
}

async function start() {
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("otp-copy").addEventListener("click", copyPassword);
  try {
    signedIn(await api("GET", "/me"));
  } catch (e) {
    signedOut(e.status === 401 ? "" : e.message);
    if (e.status !== 401) status(e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", start);
