"""What the browser test checks on the results tab of a job run with a local-only baseline: the baseline's own
line style in every chart, legend and value table, and the per-site payoff table against the platform's records."""

from __future__ import annotations

from nvflare_fdd.platform.records import MetricValue

WORDS = {  # the page's words for the baseline and the kept personalized model, by language
    True: {"baseline": "단독 학습", "kept": "개인화 모델은 전송되지 않았습니다", "lower": "낮을수록 좋음", "higher": "높을수록 좋음"},
    False: {"baseline": "Local-only", "kept": "it was never sent", "lower": "lower is better", "higher": "higher is better"},
}
HIGHER = {"rmse": False, "mae": False, "r2": True}
"""Which way the example bundle's metrics are better."""

LINE_STYLES = """
return [...document.querySelectorAll("figure.chart g.series")].map((group) => {
  const path = group.querySelector("path");
  return [group.dataset.kind, path.getAttribute("stroke-dasharray"), group.querySelector("circle, rect").tagName];
});
"""

PAYOFF = """
const section = document.getElementById("payoff");
if (!section || section.hidden || !section.getClientRects().length) return null;
const kept = document.getElementById("payoff-kept");
return {
  metric: document.getElementById("payoff-metric").value,
  direction: document.getElementById("payoff-direction").textContent,
  kept: kept.hidden ? "" : kept.textContent,
  rows: [...document.querySelectorAll("#payoff-table tbody tr")].map((row) => ({
    site: row.dataset.site,
    values: Object.fromEntries([...row.querySelectorAll("td[data-kind]")].map((td) => [td.dataset.kind, td.textContent])),
    gains: [...row.querySelectorAll("td.gain")].map((td) => [parseFloat(td.dataset.gain), td.classList.contains("better"),
                                                             td.classList.contains("worse"), td.textContent]),
  })),
};
"""


CHART_LEGENDS = """
return [...document.querySelectorAll('figure.chart')].map(chart => ({
  swatches: [...chart.querySelectorAll('.legend-item.baseline .swatch')].map(s => getComputedStyle(s).borderTopStyle),
  headers: [...chart.querySelectorAll('.values-table thead th')].map(th => th.innerText.trim()),
}));
"""


def check_baseline_lines(driver, korean: bool) -> None:
    """The baseline is drawn in every chart in a style of its own (dotted, square marks), and named in each chart's
    legend (a dotted swatch) and value table."""
    styles: dict[str, set[tuple[str, str]]] = {}
    for kind, dash, mark in driver.execute_script(LINE_STYLES):
        styles.setdefault(kind, set()).add((dash, mark.lower()))
    assert set(styles) == {"global", "local", "baseline"}, styles
    assert all(len(found) == 1 for found in styles.values()), f"one style per kind: {styles}"
    (baseline,), others = styles["baseline"], styles["global"] | styles["local"]
    assert baseline[1] == "rect" and baseline[0] not in {dash for dash, _ in others}, styles
    word = WORDS[korean]["baseline"]
    charts = driver.execute_script(CHART_LEGENDS)  # read in one go: a chart redrawn meanwhile cannot go stale
    assert charts, "no chart is drawn"
    for chart in charts:
        assert chart["swatches"] and all(style == "dotted" for style in chart["swatches"]), chart
        assert any(text.endswith(f"· {word}") for text in chart["headers"]), chart["headers"]


def check_payoff(driver, metrics: list[MetricValue], sites: list[str], korean: bool, metric: str | None = None) -> None:
    """The payoff table shows each site's last round's values of the chosen (else the key) metric from the
    platform's records, and gains over local-only signed so that + is better, coloured so."""
    if metric:
        driver.execute_script("const s = document.getElementById('payoff-metric'); s.value = arguments[0];"
                              "s.dispatchEvent(new Event('change'));", metric)  # fmt: skip
    shown = driver.execute_script(PAYOFF)
    assert shown, "the payoff table is not shown"
    words = WORDS[korean]
    assert shown["metric"] == (metric or min(HIGHER)), shown  # unless chosen: the key metric, the first by name
    metric = shown["metric"]
    higher = HIGHER[metric]
    assert words["higher" if higher else "lower"] in shown["direction"], shown["direction"]
    assert words["kept"] in shown["kept"], shown["kept"]
    assert [row["site"] for row in shown["rows"]] == sites
    last = max(m.round for m in metrics)
    recorded = {(m.site, m.kind): m.value for m in metrics if m.round == last and m.metric == metric}
    for row in shown["rows"]:
        site = row["site"]
        assert set(row["values"]) == {"global", "local", "baseline"} and "—" not in row["values"].values(), row
        local_only = recorded[(site, "baseline")]
        for (shown_gain, better, worse, text), kind in zip(row["gains"], ("global", "local")):
            change = (recorded[(site, kind)] - local_only) / abs(local_only)
            expected = change if higher else -change
            assert abs(shown_gain - expected) < 1e-9, (site, kind, shown_gain, expected)
            assert (better, worse) == (round(expected * 1000) > 0, round(expected * 1000) < 0), (site, kind, text)
            assert text.startswith("+" if better else "−" if worse else "0"), text
