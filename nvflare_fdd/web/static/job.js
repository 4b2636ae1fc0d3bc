// Job information page: basic information, live progress (polls the job's JSON), results charts.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const page = FDD.json("page-data");
  const labels = FDD.json("labels");
  const POLL_MS = 2000;
  const tabs = [...document.querySelectorAll(".tabs [data-tab]")];
  const panels = [...document.querySelectorAll("[data-panel]")];
  const resultsTab = document.getElementById("tab-results");
  const charts = FddCharts.create(document.getElementById("charts"), document.getElementById("site-filter"), labels);
  let job = page.job;
  let metricsSeen = page.metrics.metrics.length > 0;

  // -- tabs ------------------------------------------------------------------------------------
  function showTab(name) {
    if (name === "results" && !metricsSeen) name = "progress";
    if (!tabs.some((tab) => tab.dataset.tab === name)) name = "info";
    tabs.forEach((tab) => tab.classList.toggle("active", tab.dataset.tab === name));
    tabs.forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === name)));
    panels.forEach((panel) => { panel.hidden = panel.dataset.panel !== name; });
  }
  tabs.forEach((tab) => tab.addEventListener("click", (event) => {
    event.preventDefault();
    if (tab.classList.contains("disabled")) return;
    history.replaceState(null, "", `#${tab.dataset.tab}`);
    showTab(tab.dataset.tab);
  }));

  // -- basic information -----------------------------------------------------------------------
  function renderInfo(summary, progress) {
    const state = document.getElementById("job-state");
    state.textContent = summary.state_label;
    state.className = `badge state-${summary.state}`;
    const stop = document.getElementById("stop-form");
    if (stop && !["queued", "running"].includes(summary.state)) stop.remove();
    for (const [id, value] of [["started-at", summary.started_at], ["finished-at", summary.finished_at]]) {
      const node = document.getElementById(id);
      node.textContent = value ? FDD.formatTime(new Date(value)) : "—";
    }
    const failure = summary.failure;
    const box = document.getElementById("failure");
    box.hidden = !failure;
    if (failure) {
      const where = [failure.code, failure.phase].filter(Boolean).join(" ");
      document.getElementById("failure-summary").textContent =
        `[${where}] ${labels.site} ${failure.site || "?"}, ${labels.round} ${failure.round ?? "—"}: ${failure.message || ""}`;
      document.getElementById("failure-trace").textContent = failure.trace || "";
    }
    const rows = progress.events.map((event) => FDD.el("tr", {},
      FDD.el("td", {text: FDD.formatTime(new Date(event.at))}),
      FDD.el("td", {text: `${event.from || "·"} → ${event.to}`}),
      FDD.el("td", {text: event.reason})));
    document.querySelector("#history tbody").replaceChildren(...rows);
  }

  // -- progress ---------------------------------------------------------------------------------
  const statusBadge = (status) => FDD.el("span", {class: `status ${status}`, text: labels[status] || status});

  function step(key, title, status, ...details) {
    return FDD.el("li", {class: `step ${status}`, "data-step": key},
      FDD.el("div", {class: "step-head"}, FDD.el("span", {class: "dot"}), FDD.el("strong", {text: title}), statusBadge(status)),
      ...details);
  }

  function renderProgress(progress) {
    const steps = [];
    steps.push(step("start", labels.step_start, progress.start.status,
      progress.start.at ? FDD.el("p", {class: "muted", text: FDD.formatTime(new Date(progress.start.at * 1000))}) : null));
    const sites = progress.environment.sites.map((site) => FDD.el("li", {class: site.done ? "done" : "", "data-site": site.site},
      FDD.el("span", {text: site.site}),
      FDD.el("span", {class: "muted", text: site.done
        ? `${labels.elapsed} ${FDD.formatSeconds(site.environment_seconds ?? site.setup_seconds)}` : "…"})));
    steps.push(step("environment", labels.step_environment, progress.environment.status, FDD.el("ul", {class: "sites"}, ...sites)));
    const rows = progress.rounds.map((round) => FDD.el("tr", {class: round.status, "data-round": round.round},
      FDD.el("td", {text: `${labels.round} ${round.round}`}),
      FDD.el("td", {}, statusBadge(round.status)),
      FDD.el("td", {class: "num", text: FDD.formatSeconds(round.elapsed)}),
      FDD.el("td", {class: "muted", text: Object.entries(round.sites)
        .map(([site, info]) => `${site} ${FDD.formatSeconds(info.seconds)}` + (info.num_samples ? ` (${info.num_samples} ${labels.samples})` : ""))
        .join(" · ")})));
    const done = progress.rounds.filter((round) => round.status === "done").length;
    const roundsStatus = progress.rounds.every((r) => r.status === "done") ? "done"
      : progress.rounds.find((r) => r.status !== "pending" && r.status !== "done")?.status
        || (done ? (progress.final ? progress.state : "active") : "pending");
    steps.push(step("rounds", `${labels.step_rounds} (${done}/${progress.rounds.length})`, roundsStatus,
      FDD.el("table", {class: "grid compact rounds"}, FDD.el("tbody", {}, ...rows))));
    steps.push(step("results", labels.step_results, progress.results.status,
      progress.results.at ? FDD.el("p", {class: "muted", text: FDD.formatTime(new Date(progress.results.at * 1000))}) : null));
    document.getElementById("steps").replaceChildren(...steps);
  }

  // -- results ----------------------------------------------------------------------------------
  function renderMetrics(view) {
    if (view.metrics.length && !metricsSeen) {
      metricsSeen = true;
      resultsTab.classList.remove("disabled");
      resultsTab.removeAttribute("title");
    }
    charts.update(view);
  }

  function renderDownloads(summary) {
    const ready = summary.state === "completed";
    document.getElementById("downloads-note").hidden = ready;
    ["download-pt", "download-safetensors"].forEach((id) => {
      const link = document.getElementById(id);
      link.classList.toggle("disabled", !ready);
      link.setAttribute("aria-disabled", String(!ready));
    });
  }
  document.querySelectorAll(".downloads a").forEach((link) => link.addEventListener("click", (event) => {
    if (link.classList.contains("disabled")) event.preventDefault();
  }));

  // -- live updates -----------------------------------------------------------------------------
  function render(summary, progress) {
    job = summary;
    renderInfo(summary, progress);
    renderProgress(progress);
    renderDownloads(summary);
  }

  async function poll() {
    try {
      const status = await FDD.getJson(page.urls.status);
      render(status.job, status.progress);
      if (Object.values(status.progress.rounds).some((r) => r.status !== "pending") || metricsSeen) {
        renderMetrics(await FDD.getJson(page.urls.metrics));
      }
    } catch (error) {
      console.warn("progress update failed", error);
    }
    if (!job.final) setTimeout(poll, POLL_MS);
    else document.body.dataset.jobFinal = "true";
  }

  render(page.job, page.progress);
  renderMetrics(page.metrics);
  showTab((location.hash || "#info").slice(1));
  if (!job.final) setTimeout(poll, POLL_MS);
  else document.body.dataset.jobFinal = "true";
});
