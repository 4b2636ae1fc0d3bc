// Shared helpers of the FDD web UI: CSRF-carrying requests, live state (polling ETag'd JSON), actions whose
// refusals show where the user acted, confirmation and form dialogs, local times.
"use strict";

const FDD = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const pollers = [];

  function json(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  // POST a FormData; resolves to {ok, status, body} (body: parsed JSON, or {error: text}).
  async function post(url, data) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST", body: data, credentials: "same-origin",
        headers: {"X-CSRF-Token": csrf(), "Accept": "application/json"},
      });
    } catch (error) {
      return {ok: false, status: 0, body: {error: String(error)}};
    }
    let body;
    try { body = await response.json(); } catch (error) { body = {error: response.statusText}; }
    return {ok: response.ok, status: response.status, body};
  }

  async function getJson(url) {
    const response = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  /**
   * Live state: polls `url` every `interval` ms with If-None-Match; `onData(body)` runs only when the
   * server's ETag changed. `stop()` ends it (the page's script stops when the state is final).
   * `FDD.refreshNow()` polls every live source at once (after the user acted).
   */
  function live(url, onData, interval = 1000) {
    let etag = null, timer = null, stopped = false, busy = false;
    const poller = {
      offset: 0,  // server clock minus this browser's, in seconds
      async poll() {
        if (stopped || busy) return;
        busy = true;
        clearTimeout(timer);
        try {
          const headers = {"Accept": "application/json"};
          if (etag) headers["If-None-Match"] = etag;
          const response = await fetch(url, {credentials: "same-origin", cache: "no-store", headers});
          const serverTime = parseFloat(response.headers.get("X-Server-Time"));
          if (Number.isFinite(serverTime)) poller.offset = serverTime - Date.now() / 1000;
          if (response.status === 200) {
            etag = response.headers.get("ETag");
            onData(await response.json());
          } else if (response.status === 401) {
            stopped = true;
            window.location.reload();  // signed out elsewhere: the sign-in page says so
          }
        } catch (error) {
          console.warn("live update failed", error);
        }
        busy = false;
        if (!stopped) timer = setTimeout(() => poller.poll(), document.hidden ? interval * 5 : interval);
      },
      stop() { stopped = true; clearTimeout(timer); },
      now() { return Date.now() / 1000 + poller.offset; },
    };
    pollers.push(poller);
    timer = setTimeout(() => poller.poll(), interval);
    return poller;
  }
  const refreshNow = () => pollers.forEach((poller) => poller.poll());

  // Ask in the page's confirmation dialog; resolves true when confirmed.
  function confirmDialog(text) {
    const dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-text").textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {once: true});
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  // `text` in `node`, or `node` hidden when there is none.
  function say(node, text) {
    node.textContent = text || "";
    node.hidden = !text;
  }

  /**
   * A modal form (templates/_macros.html form_dialog): `${prefix}-dialog` with its form, its error, its submit
   * button, and a cancel button that closes it. `showError(text)` shows the error (none: hides it);
   * `busy(text, work)` shows `text` on the disabled submit button until the promise `work` settles, and answers it.
   */
  function formDialog(prefix) {
    const dialog = document.getElementById(`${prefix}-dialog`);
    if (!dialog) return null;
    const form = document.getElementById(`${prefix}-form`);
    const error = document.getElementById(`${prefix}-error`);
    const submit = document.getElementById(`${prefix}-submit`);
    document.getElementById(`${prefix}-cancel`).addEventListener("click", () => dialog.close());
    async function busy(text, work) {
      const label = submit.textContent;
      submit.disabled = true;
      submit.textContent = text;
      try { return await work; } finally { submit.disabled = false; submit.textContent = label; }
    }
    return {dialog, form, error, submit, showError: (text) => say(error, text), busy};
  }

  // A note beside `anchor` (a form or a field): the platform's refusal, or what an action did.
  function note(anchor, text, kind = "error") {
    let node = anchor.nextElementSibling;
    if (!node || !node.classList.contains("inline-note")) {
      node = el("span", {class: "inline-note", role: kind === "error" ? "alert" : "status"});
      anchor.after(node);
    }
    node.className = `inline-note ${kind}`;
    node.textContent = text || "";
    node.hidden = !text;
    return node;
  }

  // A button's action (form[data-action]): confirmed if it asks, sent by script; the answer shows beside it.
  async function act(form) {
    if (form.dataset.blocked) return note(form, form.dataset.blocked);
    if (form.dataset.confirm && !(await confirmDialog(form.dataset.confirm))) return;
    const data = new FormData(form);
    if (!data.has("next")) data.append("next", location.pathname);
    const buttons = [...form.querySelectorAll("button")];
    buttons.forEach((button) => { button.disabled = true; });
    const result = await post(form.action, data);
    buttons.forEach((button) => { button.disabled = false; });
    if (!result.ok) return note(form, result.body.error || `HTTP ${result.status}`);
    const target = result.body.redirect;
    const elsewhere = target && new URL(target, location.href).pathname !== location.pathname;
    if (elsewhere || (target && !pollers.length)) { window.location = target; return; }  // a page without live state: show it anew
    note(form, result.body.message || "", "ok");
    form.dispatchEvent(new CustomEvent("fdd:acted", {bubbles: true, detail: result.body}));
    refreshNow();
  }

  const pad = (n) => String(n).padStart(2, "0");
  function formatTime(date) {
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }
  function formatSeconds(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
    return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  }
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((node) => {
      const date = new Date(node.getAttribute("datetime"));
      if (!isNaN(date)) node.textContent = formatTime(date);
    });
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    // delegated, so rows the live list redraws keep working
    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (form.matches("form[data-action]")) {
        event.preventDefault();
        act(form);
      } else if (form.matches("form[data-confirm]")) {
        event.preventDefault();
        confirmDialog(form.dataset.confirm).then((yes) => { if (yes) form.submit(); });
      }
    });
    document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
    document.querySelectorAll("a[data-back]").forEach((link) => {
      link.addEventListener("click", (event) => {
        if (history.length > 1) { event.preventDefault(); history.back(); }
      });
    });
  });

  return {post, getJson, json, live, refreshNow, confirmDialog, note, say, formDialog, formatTime, formatSeconds, localTimes, el};
})();
