// Portal logic: sign in, list entitled desktops, download one-time
// connection files and follow the desktop's state after Connect, sign out.
// common.js talks to /api/v1 (session cookie, CSRF token on every change).
"use strict";

function signedIn(me) {
  session.user = me.user;
  session.csrf = me.csrf_token;
  $("who-name").textContent = me.user.display_name || me.user.login;
  show("who", true);
  show("admin-link", !!me.user.admin);
  show("signin", false);
  show("desktops", true);
  show("sessions", true);
  // A sign-in's answer carries the desktops; GET /me's does not.
  if (me.desktops) renderDesktops(me.desktops);
  else loadDesktops();
  loadSessions();
}

function signedOut(message) {
  session.user = null;
  session.csrf = null;
  stopWatching();
  show("who", false);
  show("desktops", false);
  show("sessions", false);
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
  suspended: "Suspended — resumes where you left it",
  unavailable: "Unavailable",
};

async function loadDesktops(quiet) {
  if (!quiet) status("Loading your desktops…");
  try {
    const data = await api("GET", "/desktops");
    renderDesktops(data.desktops || []);
    if (!quiet) status("");
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
    item.dataset.pool = d.pool_id;
    item.querySelector(".desktop-name").textContent = d.pool_name;
    item.querySelector(".desktop-description").textContent = d.description || "";
    const waiting = watch.pool === d.pool_id && d.state !== "connected";
    item.querySelector(".desktop-state").textContent = waiting
      ? "Waiting for your client to connect…" : (stateNames[d.state] || d.state || "");
    item.dataset.state = waiting ? "waiting" : d.state;
    const actions = item.querySelector(".desktop-actions");
    if (d.desktop) item.querySelector(".desktop-description").textContent =
      d.description ? d.description + " · your desktop " + d.desktop : "Your desktop " + d.desktop;
    const own = item.querySelector(".desktop-own");
    for (const act of d.actions || []) {
      const label = act === "restart" ? "Restart" : "Log off";
      own.appendChild(confirmButton(label, "Confirm " + label.toLowerCase(),
        label + " your desktop in " + d.pool_name, () => ownAction(d, act, label)));
    }
    for (const proto of d.protocols || []) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = proto === "web" ? "Open in browser" : "Connect with " + (protocolNames[proto] || proto);
      b.dataset.pool = d.pool_id;
      b.dataset.protocol = proto;
      b.setAttribute("aria-label", b.textContent + " to " + d.pool_name);
      b.addEventListener("click", () => launch(b, d, proto));
      actions.appendChild(b);
    }
    ul.appendChild(item);
  }
}

// Restart or log off one's own desktop (where the pool allows it).
async function ownAction(desktop, action, label) {
  try {
    await api("POST", "/desktops/" + desktop.pool_id + "/" + action);
    status(action === "restart"
      ? "Your desktop in " + desktop.pool_name + " is restarting. Connect again in a minute."
      : "You are logged off " + desktop.pool_name + ". Connect again for a fresh desktop.");
    loadDesktops(true);
  } catch (e) {
    if (e.status === 401) return signedOut("Your session has ended. Please sign in again.");
    status(e.message, true);
  }
}

// The user's portal sign-ins (other browsers can be signed out) and
// desktop connections.
async function loadSessions() {
  let data;
  try { data = await api("GET", "/me/sessions"); } catch (e) {
    if (e.status === 401) return signedOut("Your session has ended. Please sign in again.");
    return status(e.message, true);
  }
  const li = (text, extra) => {
    const item = document.createElement("li");
    item.textContent = text;
    if (extra) item.append(" ", extra);
    return item;
  };
  $("portal-sessions").replaceChildren(...data.portal.map((p) => li(
    (p.current ? "This browser" : "Another browser") + ", from " + (p.remote_addr || "an unknown address") +
      ", signed in " + when(p.created_at) + ", last active " + when(p.last_seen_at),
    p.current ? null : confirmButton("Sign out", "Confirm sign out", "Sign out the browser signed in " +
      when(p.created_at), async () => {
      try {
        await api("DELETE", "/me/sessions/" + p.id);
        status("That browser is signed out.");
      } catch (e) { status(e.message, true); }
      loadSessions();
    }))));
  $("desktop-sessions").replaceChildren(...data.desktops.map((d) => li(
    d.pool + " (" + d.desktop + ") over " + d.protocol.toUpperCase() + " from " +
      (d.client_addr || "an unknown address") + " since " + when(d.connected_at))));
  show("no-desktop-sessions", data.desktops.length === 0);
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
    if (protocol === "web") return openInBrowser(r);
    download(r.file);
    showPassword(r);
    status("Connection file for " + desktop.pool_name + " downloaded. Open it within " +
      r.expires_in + " seconds.");
    startWatching(desktop.pool_id, r.expires_in);
  } catch (e) {
    if (e.status === 401) return signedOut("Your session has ended. Please sign in again.");
    status(e.message, true);
  } finally {
    button.disabled = false;
  }
}

// The desktop page (desktop.js) takes the launch from sessionStorage and
// removes it: the one-time ticket never goes into a URL or the history.
function openInBrowser(r) {
  sessionStorage.setItem("vdi-web-launch", JSON.stringify({ path: r.web.path, ticket: r.web.ticket,
    pool: r.desktop.pool }));
  location.assign("/portal/desktop.html");
}

// After Connect the card follows the desktop's real state (the host
// reports when the client connects): polled every 3 s until it is in use
// or the connection file has expired.
const watch = { pool: null, timer: null, until: 0 };

function stopWatching() {
  clearTimeout(watch.timer);
  watch.pool = null;
}

function startWatching(pool, seconds) {
  stopWatching();
  watch.pool = pool;
  watch.until = Date.now() + (seconds || 120) * 1000;
  loadDesktops(true);
  poll();
}

function poll() {
  watch.timer = setTimeout(async () => {
    if (watch.pool === null) return;
    await loadDesktops(true);
    const card = document.querySelector("#desktop-list [data-state]:not([data-state='waiting'])" +
      "[data-pool='" + watch.pool + "']");
    if (card || Date.now() > watch.until) { stopWatching(); loadDesktops(true); loadSessions(); return; }
    poll();
  }, 3000);
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
  loadBranding("");
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
