// Small SVG line charts for the results page: one chart per metric, Global (solid), Local (dashed) and,
// for a job with a local-only baseline, Local-only (dotted, square marks) series per site. Written for this UI
// (no third-party chart library).
"use strict";

const FddCharts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
  const HEIGHT = 300, LEFT = 64, RIGHT = 18, TOP = 14, BOTTOM = 44, MIN_WIDTH = 300;
  const KINDS = ["global", "local", "baseline"];
  // each kind's line (width, dash pattern, ends) and marks: filled (global) or hollow, round or square (baseline)
  const STYLES = {
    global: {width: 2, dash: "none", cap: "butt", hollow: false, square: false},
    local: {width: 2, dash: "6 4", cap: "butt", hollow: true, square: false},
    baseline: {width: 3, dash: "0.5 4.5", cap: "round", hollow: false, square: true},
  };

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
  // The y range: all values, or (robust) those after round 1 when later rounds exist, so a first round far
  // off does not squash the rest; points outside are clipped at the plot's edge.
  function yRange(visible, robust) {
    let values = visible.flatMap((s) => s.points.map((p) => p[1]));
    if (robust) {
      const later = visible.flatMap((s) => s.points.filter((p) => p[0] > 1).map((p) => p[1]));
      if (later.length >= 2) values = later;
    }
    let low = values.length ? Math.min(...values) : 0, high = values.length ? Math.max(...values) : 1;
    if (low === high) { low -= Math.abs(low) * 0.1 || 1; high += Math.abs(high) * 0.1 || 1; }
    const pad = (high - low) * 0.08;
    return [low - pad, high + pad];
  }

  const displayName = (metric, labels) => (labels.metrics || {})[metric] || metric;

  function valueTable(metric, series, rounds, labels) {
    const details = document.createElement("details");
    details.className = "values";
    details.open = true;
    details.append(Object.assign(document.createElement("summary"), {textContent: labels.table}));
    const table = document.createElement("table");
    table.className = "grid compact values-table";
    const head = document.createElement("tr");
    head.append(Object.assign(document.createElement("th"), {textContent: labels.round}));
    for (const s of series) head.append(Object.assign(document.createElement("th"), {className: "num", textContent: `${s.site} · ${labels[s.kind]}`}));
    table.createTHead().append(head);
    const body = table.createTBody();
    for (let round = 1; round <= rounds; round++) {
      const row = document.createElement("tr");
      row.dataset.round = round;
      row.append(Object.assign(document.createElement("td"), {textContent: String(round)}));
      for (const s of series) {
        const point = s.points.find((p) => p[0] === round);
        row.append(Object.assign(document.createElement("td"), {className: "num", textContent: point ? format(point[1]) : "—"}));
      }
      body.append(row);
    }
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    wrap.append(table);
    details.append(wrap);
    return details;
  }

  function lineChart(metric, perSite, sites, rounds, hiddenSites, hiddenSeries, labels, onToggle, robust, width) {
    const WIDTH = Math.max(MIN_WIDTH, Math.round(width));
    const figure = document.createElement("figure");
    figure.className = "chart";
    figure.dataset.metric = metric;
    figure.append(Object.assign(document.createElement("figcaption"), {textContent: displayName(metric, labels)}));

    const series = [];
    for (const site of sites) {
      for (const kind of KINDS) {
        const points = ((perSite[site] || {})[kind] || []).filter((p) => Number.isFinite(p[1]));
        if (points.length) series.push({site, kind, key: `${site}|${kind}`, points});
      }
    }
    const visible = series.filter((s) => !hiddenSites.has(s.site) && !hiddenSeries.has(s.key));
    const [low, high] = yRange(visible, robust);
    const lastRound = Math.max(rounds, 2);
    const x = (round) => LEFT + (round - 1) / (lastRound - 1) * (WIDTH - LEFT - RIGHT);
    const y = (value) => TOP + (high - value) / (high - low) * (HEIGHT - TOP - BOTTOM);

    const root = svg("svg", {viewBox: `0 0 ${WIDTH} ${HEIGHT}`, width: WIDTH, height: HEIGHT, role: "img",
                             "aria-label": displayName(metric, labels), class: "plot"});
    const clipId = `clip-${metric.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const clip = svg("clipPath", {id: clipId});
    clip.append(svg("rect", {x: LEFT - 6, y: TOP - 6, width: WIDTH - LEFT - RIGHT + 12, height: HEIGHT - TOP - BOTTOM + 12}));
    root.append(clip);
    const axis = svg("g", {class: "axis"});
    for (const value of ticks(low, high, 6)) {
      axis.append(svg("line", {x1: LEFT, x2: WIDTH - RIGHT, y1: y(value), y2: y(value), class: "gridline"}));
      axis.append(svg("text", {x: LEFT - 8, y: y(value) + 5, "text-anchor": "end"}, format(value)));
    }
    const roundStep = Math.max(1, Math.ceil(lastRound / Math.max(2, Math.floor((WIDTH - LEFT - RIGHT) / 40))));
    for (let round = 1; round <= lastRound; round += roundStep) {
      axis.append(svg("line", {x1: x(round), x2: x(round), y1: HEIGHT - BOTTOM, y2: HEIGHT - BOTTOM + 5, class: "tick"}));
      axis.append(svg("text", {x: x(round), y: HEIGHT - BOTTOM + 20, "text-anchor": "middle"}, String(round)));
    }
    axis.append(svg("line", {x1: LEFT, x2: WIDTH - RIGHT, y1: HEIGHT - BOTTOM, y2: HEIGHT - BOTTOM, class: "baseline"}));
    axis.append(svg("line", {x1: LEFT, x2: LEFT, y1: TOP, y2: HEIGHT - BOTTOM, class: "baseline"}));
    axis.append(svg("text", {x: (LEFT + WIDTH - RIGHT) / 2, y: HEIGHT - 4, "text-anchor": "middle", class: "label"}, labels.round));
    root.append(axis);
    const plotted = svg("g", {"clip-path": `url(#${clipId})`});
    root.append(plotted);

    for (const s of visible) {
      const color = colorOf(sites, s.site);
      const style = STYLES[s.kind];
      const group = svg("g", {class: `series ${s.kind}`, "data-site": s.site, "data-kind": s.kind});
      const path = s.points.map((p, i) => `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      group.append(svg("path", {d: path, fill: "none", stroke: color, "stroke-width": style.width,
                                "stroke-linecap": style.cap, "stroke-dasharray": style.dash}));
      for (const [round, value] of s.points) {
        const mark = {fill: style.hollow ? "#fff" : color, stroke: color, "stroke-width": 2};
        const dot = style.square ? svg("rect", {x: x(round) - 3.5, y: y(value) - 3.5, width: 7, height: 7, ...mark})
          : svg("circle", {cx: x(round), cy: y(value), r: 3.5, ...mark});
        dot.append(svg("title", {}, `${s.site} · ${labels[s.kind]} · ${labels.round} ${round}: ${format(value)}`));
        group.append(dot);
      }
      plotted.append(group);
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
    figure.append(valueTable(metric, series.filter((s) => !hiddenSites.has(s.site)), rounds, labels));
    return figure;
  }

  /** Draws every metric of `view` ({metrics, sites, rounds, series}) into `container`. */
  function create(container, filter, labels) {
    const hiddenSites = new Set();
    const hiddenSeries = {};  // metric -> Set of "site|kind"
    let view = {metrics: [], sites: [], rounds: 0, series: {}};
    let robust = true;
    let drawnWidth = 0;
    const chartWidth = () => {
      const style = getComputedStyle(container);
      const columns = style.gridTemplateColumns.split(" ").filter(Boolean).length || 1;
      const inner = container.clientWidth - (columns - 1) * 16;
      return Math.max(MIN_WIDTH, inner / columns - 26);  // the figure's padding and border
    };
    window.addEventListener("resize", () => { if (Math.abs(chartWidth() - drawnWidth) > 8 && container.offsetParent) draw(); });

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
      if (!container.offsetParent) { drawnWidth = 0; return; }  // hidden (another tab): drawn when shown
      drawnWidth = chartWidth();
      container.replaceChildren(...view.metrics.map((metric) => {
        hiddenSeries[metric] = hiddenSeries[metric] || new Set();
        return lineChart(metric, view.series[metric], view.sites, view.rounds, hiddenSites, hiddenSeries[metric], labels, (key) => {
          const hidden = hiddenSeries[metric];
          if (hidden.has(key)) hidden.delete(key); else hidden.add(key);
          draw();
        }, robust, drawnWidth);
      }));
    }

    // a tab shown later: draw at its real width
    new ResizeObserver(() => { if (container.offsetParent && Math.abs(chartWidth() - drawnWidth) > 8) draw(); }).observe(container);

    return {
      update(next, robustRange = true) {
        const sitesChanged = JSON.stringify(next.sites) !== JSON.stringify(view.sites);
        const same = JSON.stringify(next) === JSON.stringify(view) && robustRange === robust && drawnWidth;
        view = next;
        robust = robustRange;
        if (sitesChanged) drawFilter();
        if (!same) draw();
      },
    };
  }

  return {create, ticks, format};
})();
