// Shared helpers of the FDD web UI: CSRF-carrying requests, confirmation dialogs, local times.
"use strict";

const FDD = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

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
    document.querySelectorAll("form[data-confirm]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (await confirmDialog(form.dataset.confirm)) form.submit();
      });
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

  return {post, getJson, json, confirmDialog, formatTime, formatSeconds, localTimes, el};
})();
