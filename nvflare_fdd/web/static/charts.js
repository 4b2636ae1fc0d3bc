// Small SVG line charts for the results page: one chart per metric, Global (solid) and Local
// (dashed) series per site. Written for this UI (no third-party chart library).
"use strict";

const FddCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  const WIDTH = 560, HEIGHT = 300, LEFT = 60, RIGHT = 16, TOP = 16, BOTTOM = 40;

  function svg(tag, attributes, text) {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // "Nice" tick values covering [low, high], about `count` of them.
  function ticks(low, high, count) {
    const span = high - low;
    const raw = span / Math.max(count, 1);
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count) || 10 * magnitude;
    const values = [];
    for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) values.push(+value.toPrecision(12));
    return values;
  }

  function format(value) {
    const size = Math.abs(value);
    if (size !== 0 && (size >= 1e5 || size < 1e-3)) return value.toExponential(2);
    return String(+value.toPrecision(4));
  }

  const colorOf = (sites, site) => PALETTE[Math.max(sites.indexOf(site), 0) % PALETTE.length];

  /**
   * One chart. `hiddenSites` (shared by every chart) and `hiddenSeries` (this chart's own
   * legend toggles, keys "site|kind") decide what is drawn.
   */
  function lineChart(metric, perSite, sites, rounds, hiddenSites, hiddenSeries, labels, onToggle) {
    const figure = document.createElement("figure");
    figure.className = "chart";
    figure.dataset.metric = metric;
    figure.append(Object.assign(document.createElement("figcaption"), {textContent: metric}));

    const series = [];
    for (const site of sites) {
      for (const kind of ["global", "local"]) {
        const points = ((perSite[site] || {})[kind] || []).filter((p) => Number.isFinite(p[1]));
        if (points.length) series.push({site, kind, key: `${site}|${kind}`, points});
      }
    }
    const visible = series.filter((s) => !hiddenSites.has(s.site) && !hiddenSeries.has(s.key));
    const values = visible.flatMap((s) => s.points.map((p) => p[1]));
    let low = values.length ? Math.min(...values) : 0, high = values.length ? Math.max(...values) : 1;
    if (low === high) { low -= Math.abs(low) * 0.1 || 1; high += Math.abs(high) * 0.1 || 1; }
    const pad = (high - low) * 0.06;
    low -= pad; high += pad;
    const lastRound = Math.max(rounds, 2);
    const x = (round) => LEFT + (round - 1) / (lastRound - 1) * (WIDTH - LEFT - RIGHT);
    const y = (value) => TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM);

    const root = svg("svg", {viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": metric, class: "plot"});
    const axis = svg("g", {class: "axis"});
    for (const value of ticks(low, high, 5)) {
      axis.append(svg("line", {x1: LEFT, x2: WIDTH - RIGHT, y1: y(value), y2: y(value), class: "gridline"}));
      axis.append(svg("text", {x: LEFT - 6, y: y(value) + 4, "text-anchor": "end"}, format(value)));
    }
    const roundStep = Math.max(1, Math.ceil(lastRound / 10));
    for (let round = 1; round <= lastRound; round += roundStep) {
      axis.append(svg("line", {x1: x(round), x2: x(round), y1: HEIGHT - BOTTOM, y2: HEIGHT - BOTTOM + 4, class: "tick"}));
      axis.append(svg("text", {x: x(round), y: HEIGHT - BOTTOM + 16, "text-anchor": "middle"}, String(round)));
    }
    axis.append(svg("line", {x1: LEFT, x2: WIDTH - RIGHT, y1: HEIGHT - BOTTOM, y2: HEIGHT - BOTTOM, class: "baseline"}));
    axis.append(svg("text", {x: (LEFT + WIDTH - RIGHT) / 2, y: HEIGHT - 6, "text-anchor": "middle", class: "label"}, labels.round));
    root.append(axis);

    for (const s of visible) {
      const color = colorOf(sites, s.site);
      const group = svg("g", {class: `series ${s.kind}`, "data-site": s.site, "data-kind": s.kind});
      const path = s.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      group.append(svg("path", {d: path, fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": s.kind === "local" ? "6 4" : "none"}));
      for (const [round, value] of s.points) {
        const dot = svg("circle", {cx: x(round), cy: y(value), r: 3.5, fill: s.kind === "local" ? "#fff" : color, stroke: color, "stroke-width": 2});
        dot.append(svg("title", {}, `${s.site} · ${labels[s.kind]} · ${labels.round} ${round}: ${format(value)}`));
        group.append(dot);
      }
      root.append(group);
    }
    figure.append(root);

    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of series) {
      if (hiddenSites.has(s.site)) continue;
      const button = document.createElement("button");
      button.type = "button";
      button.className = `legend-item ${s.kind}${hiddenSeries.has(s.key) ? " off" : ""}`;
      button.dataset.series = s.key;
      button.setAttribute("aria-pressed", String(!hiddenSeries.has(s.key)));
      const swatch = document.createElement("span");
      swatch.className = `swatch ${s.kind}`;
      swatch.style.borderColor = colorOf(sites, s.site);
      if (s.kind === "global") swatch.style.background = colorOf(sites, s.site);
      button.append(swatch, `${s.site} · ${labels[s.kind]}`);
      button.addEventListener("click", () => onToggle(s.key));
      legend.append(button);
    }
    figure.append(legend);
    return figure;
  }

  /** Draws every metric of `view` ({metrics, sites, rounds, series}) into `container`. */
  function create(container, filter, labels) {
    const hiddenSites = new Set();
    const hiddenSeries = {};  // metric -> Set of "site|kind"
    let view = {metrics: [], sites: [], rounds: 0, series: {}};

    function drawFilter() {
      filter.querySelectorAll("label").forEach((node) => node.remove());
      for (const site of view.sites) {
        const box = Object.assign(document.createElement("input"), {type: "checkbox", checked: !hiddenSites.has(site), value: site});
        box.addEventListener("change", () => {
          if (box.checked) hiddenSites.delete(site); else hiddenSites.add(site);
          draw();
        });
        const label = document.createElement("label");
        label.className = "site-toggle";
        label.dataset.site = site;
        const swatch = document.createElement("span");
        swatch.className = "swatch global";
        swatch.style.background = swatch.style.borderColor = colorOf(view.sites, site);
        label.append(box, swatch, site);
        filter.append(label);
      }
    }

    function draw() {
      container.replaceChildren(...view.metrics.map((metric) => {
        hiddenSeries[metric] = hiddenSeries[metric] || new Set();
        return lineChart(metric, view.series[metric], view.sites, view.rounds, hiddenSites, hiddenSeries[metric], labels, (key) => {
          const hidden = hiddenSeries[metric];
          if (hidden.has(key)) hidden.delete(key); else hidden.add(key);
          draw();
        });
      }));
    }

    return {
      update(next) {
        const sitesChanged = JSON.stringify(next.sites) !== JSON.stringify(view.sites);
        view = next;
        if (sitesChanged) drawFilter();
        draw();
      },
    };
  }

  return {create, ticks};
})();
