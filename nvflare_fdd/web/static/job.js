// Job information page: basic information, progress and results, all live (one ETag'd JSON, polled).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const page = FDD.json("page-data");
  const labels = FDD.json("labels");
  const tabs = [...document.querySelectorAll(".tabs [data-tab]")];
  const panels = [...document.querySelectorAll("[data-panel]")];
  const resultsTab = document.getElementById("tab-results");
  const robust = document.getElementById("robust-range");
  const charts = FddCharts.create(document.getElementById("charts"), document.getElementById("site-filter"), labels);
  let view = page;
  let metricsSeen = page.metrics.metrics.length > 0;
  let poller = null;

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
  const siteName = (site) => labels[site] && ["server", "platform"].includes(site) ? labels[site] : site;

  function failureText(failure) {
    const phase = labels.phases[String(failure.code ?? "")] || labels.phases[failure.phase] || failure.phase || "";
    const where = [failure.code, phase].filter((part) => part !== null && part !== undefined && part !== "").join(" ");
    const parts = [];
    if (failure.site) parts.push(["server", "platform"].includes(failure.site) ? siteName(failure.site) : `${labels.site} ${failure.site}`);
    if (failure.round !== null && failure.round !== undefined) parts.push(`${labels.round} ${failure.round}`);
    return `[${where}] ${parts.join(", ")}${parts.length ? ": " : ""}${failure.message || ""}`;
  }

  function renderInfo(summary, live) {
    const state = document.getElementById("job-state");
    state.textContent = summary.state_label;
    state.className = `badge state-${summary.state}`;
    const show = (id, visible) => { const node = document.getElementById(id); if (node) node.hidden = !visible; };
    show("stop-form", ["queued", "running"].includes(summary.state));
    show("resume-form", summary.can_resume);
    show("delete-form", summary.can_delete);
    document.getElementById("job-model").textContent = summary.model || labels.no_model;
    for (const [id, value] of [["started-at", summary.started_at], ["finished-at", summary.finished_at]]) {
      document.getElementById(id).textContent = value ? FDD.formatTime(new Date(value)) : "—";
    }
    const failure = summary.failure;
    document.getElementById("failure").hidden = !failure;
    if (failure) {
      document.getElementById("failure-summary").textContent = failureText(failure);
      document.getElementById("failure-trace").textContent = failure.trace || "";
    }
    const unsandboxed = document.getElementById("unsandboxed");
    unsandboxed.hidden = !live.unsandboxed.length;
    unsandboxed.querySelector("span").textContent = live.unsandboxed.join(", ");
    const rows = live.events.map((event) => FDD.el("tr", {},
      FDD.el("td", {class: "nowrap", text: FDD.formatTime(new Date(event.at))}),
      FDD.el("td", {text: `${event.from_label || "·"} → ${event.to_label}`}),
      FDD.el("td", {text: event.reason})));
    document.querySelector("#history tbody").replaceChildren(...rows);
  }

  // -- progress ---------------------------------------------------------------------------------
  const statusBadge = (status) => FDD.el("span", {class: `status ${status}`, text: labels[status] || status});
  const running = (start) => FDD.el("span", {class: "muted ticking", "data-since": start, text: ""});

  function step(key, title, status, ...details) {
    return FDD.el("li", {class: `step ${status}`, "data-step": key},
      FDD.el("div", {class: "step-head"}, FDD.el("span", {class: "dot"}), FDD.el("strong", {text: title}), statusBadge(status)),
      ...details);
  }

  function siteSetup(site, started) {
    const parts = [];
    if (site.environment_seconds !== null) parts.push(`${labels.env} ${FDD.formatSeconds(site.environment_seconds)}`);
    if (site.done) parts.push(`${labels.setup} ${FDD.formatSeconds(site.setup_seconds)}`);
    return FDD.el("li", {class: site.status, "data-site": site.site, "data-status": site.status},
      FDD.el("span", {text: site.site}), statusBadge(site.status),
      FDD.el("span", {class: "muted", text: parts.join(" · ")}),
      site.status === "active" && started ? running(started) : null);
  }

  function renderProgress(progress) {
    const steps = [];
    steps.push(step("start", labels.step_start, progress.start.status,
      progress.start.at ? FDD.el("p", {class: "muted", text: FDD.formatTime(new Date(progress.start.at * 1000))}) : null));
    const environment = progress.environment;
    steps.push(step("environment", labels.step_environment, environment.status,
      environment.elapsed !== null ? FDD.el("p", {class: "muted", text: `${labels.elapsed} ${FDD.formatSeconds(environment.elapsed)}`})
        : environment.status === "active" ? FDD.el("p", {}, running(environment.started)) : null,
      FDD.el("ul", {class: "sites"}, ...environment.sites.map((site) => siteSetup(site, environment.started)))));
    const rows = progress.rounds.map((round) => FDD.el("tr", {class: round.status, "data-round": round.round},
      FDD.el("td", {class: "nowrap", text: `${labels.round} ${round.round}`}),
      FDD.el("td", {}, statusBadge(round.status)),
      FDD.el("td", {class: "num nowrap"}, round.status === "active" ? running(round.started)
        : document.createTextNode(FDD.formatSeconds(round.elapsed))),
      FDD.el("td", {class: "muted", text: Object.entries(round.sites)
        .map(([site, info]) => `${site} ${FDD.formatSeconds(info.seconds)}` + (info.num_samples ? ` (${info.num_samples} ${labels.samples})` : ""))
        .join(" · ")})));
    const done = progress.rounds.filter((round) => round.status === "done").length;
    const roundsStatus = progress.rounds.every((r) => r.status === "done") ? "done"
      : progress.rounds.find((r) => r.status !== "pending" && r.status !== "done")?.status
        || (done ? (progress.final ? progress.state : "active") : "pending");
    steps.push(step("rounds", `${labels.step_rounds} (${done}/${progress.rounds.length})`, roundsStatus,
      FDD.el("div", {class: "table-wrap"}, FDD.el("table", {class: "grid compact rounds"}, FDD.el("tbody", {}, ...rows)))));
    steps.push(step("results", labels.step_results, progress.results.status,
      progress.results.at ? FDD.el("p", {class: "muted", text: FDD.formatTime(new Date(progress.results.at * 1000))}) : null));
    document.getElementById("steps").replaceChildren(...steps);
    tick();
  }

  // running steps count up against the server's clock, between polls too
  function tick() {
    const now = poller ? poller.now() : Date.now() / 1000 + (page.server_time - Date.now() / 1000);
    document.querySelectorAll(".ticking[data-since]").forEach((node) => {
      node.textContent = `${labels.elapsed} ${FDD.formatSeconds(Math.max(0, now - parseFloat(node.dataset.since)))}`;
    });
  }

  // -- results ----------------------------------------------------------------------------------
  function renderMetrics(metrics) {
    if (metrics.metrics.length && !metricsSeen) {
      metricsSeen = true;
      resultsTab.classList.remove("disabled");
      resultsTab.removeAttribute("title");
    }
    charts.update(metrics, robust.checked);
  }
  robust.addEventListener("change", () => charts.update(view.metrics, robust.checked));

  // what federating gives each site: last round's federated, personalized and local-only values, and the gains
  const payoffMetric = document.getElementById("payoff-metric");
  let payoffChoice = null;  // the metric the user picked; the key metric until then
  const metricName = (metric) => (labels.metrics || {})[metric] || metric;

  function gainCell(gain, label) {
    if (gain === null || gain === undefined) return FDD.el("td", {class: "num", "data-label": label, text: "—"});
    const percent = Math.round(gain * 1000) / 10;
    const sign = percent > 0 ? "+" : percent < 0 ? "−" : "";
    return FDD.el("td", {class: `num gain ${percent > 0 ? "better" : percent < 0 ? "worse" : "even"}`, "data-label": label,
                         "data-gain": gain, text: `${sign}${Math.abs(percent).toFixed(1)}%`});
  }

  function renderPayoff(payoff) {
    const section = document.getElementById("payoff");
    section.hidden = !payoff;
    if (!payoff) return;
    const names = payoff.tables.map((table) => table.metric);
    if (!names.includes(payoffChoice)) payoffChoice = payoff.key;
    if ([...payoffMetric.options].map((option) => option.value).join("\n") !== names.join("\n")) {  // kept open across polls
      payoffMetric.replaceChildren(...names.map((name) => FDD.el("option", {value: name, text: metricName(name)})));
    }
    payoffMetric.value = payoffChoice;
    document.getElementById("payoff-choice").hidden = names.length < 2;
    const table = payoff.tables.find((t) => t.metric === payoffChoice);
    const kept = document.getElementById("payoff-kept");
    kept.hidden = !payoff.personalized.length;
    kept.querySelector("span").textContent = `(${payoff.personalized.join(", ")})`;
    const rounds = [...new Set(table.rows.map((row) => row.round))];
    const oneRound = rounds.length === 1;  // the usual case: a Round column only when the sites' last rounds differ
    document.getElementById("payoff-direction").textContent = [metricName(table.metric),
      table.higher ? labels.payoff.higher : labels.payoff.lower, oneRound ? `${labels.round} ${rounds[0]}` : null]
      .filter(Boolean).join(" · ");
    document.getElementById("payoff-gain-help").hidden = !payoff.baseline;
    const columns = [labels.site, oneRound ? null : labels.round, labels.payoff.federated, labels.payoff.personalized]
      .concat(payoff.baseline ? [labels.payoff.baseline, labels.payoff.federated_gain, labels.payoff.personalized_gain] : []);
    const head = FDD.el("tr", {}, ...columns.map((text, i) => text && FDD.el("th", {class: i > 1 ? "num" : null, text})));
    const value = (number, label, kind) => FDD.el("td", {class: "num", "data-label": label, "data-kind": kind,
                                                        text: number === null || number === undefined ? "—" : FddCharts.format(number)});
    const rows = table.rows.map((row) => FDD.el("tr", {"data-site": row.site},
      FDD.el("td", {"data-label": labels.site, text: row.site}),
      oneRound ? null : FDD.el("td", {"data-label": labels.round, text: String(row.round)}),
      value(row.global, labels.payoff.federated, "global"),
      value(row.local, labels.payoff.personalized, "local"),
      payoff.baseline ? value(row.baseline, labels.payoff.baseline, "baseline") : null,
      payoff.baseline ? gainCell(row.federated_gain, labels.payoff.federated_gain) : null,
      payoff.baseline ? gainCell(row.personalized_gain, labels.payoff.personalized_gain) : null));
    const grid = document.getElementById("payoff-table");
    grid.tHead.replaceChildren(head);
    grid.tBodies[0].replaceChildren(...rows);
  }
  payoffMetric.addEventListener("change", () => { payoffChoice = payoffMetric.value; renderPayoff(view.payoff); });

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
  function render(next) {
    view = next;
    renderInfo(next.job, next);
    renderProgress(next.progress);
    renderMetrics(next.metrics);
    renderPayoff(next.payoff);
    renderDownloads(next.job);
    document.body.dataset.jobState = next.job.state;
    document.body.dataset.jobFinal = String(next.job.final);
  }

  render(page);
  showTab((location.hash || "#info").slice(1));
  window.addEventListener("hashchange", () => showTab((location.hash || "#info").slice(1)));  // links, back and forward
  poller = FDD.live(page.urls.live, render, 1000);  // finished jobs too: a resume or a delete elsewhere shows here
  setInterval(tick, 1000);
});
