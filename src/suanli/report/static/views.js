/* suanli report: the views drawn from a report data document — site table (the map is
 * map.js, the summary summary.js), hourly series per site, JCT CDF per policy, fairness per
 * tenant. Each function (re)draws one view from the document alone, so a live page can call
 * it again with a fresher document (Plotly.react updates a chart in place). */
"use strict";
(function (R) {
  /** Utilisation per site of policy ``p``: at ``hour``, or over the run when ``hour`` < 0. */
  function siteUtilisation(data, p, hour) {
    const pol = data.policies[p];
    return data.sites.map((s, i) => {
      if (hour >= 0) return pol.series.utilisation[i][hour];
      const m = pol.metrics.sites[s.id];
      return m ? m.utilisation : null;
    });
  }
  R.siteUtilisation = siteUtilisation;  // the map (map.js) colours its sites with it

  /** Live per-site table: reachability, each site now (or at ``hour``), totals of the window. */
  function drawSitesLive(table, data, hour) {
    const pol = data.policies[0];
    const util = siteUtilisation(data, 0, hour);
    const cur = data.scenario.currency || "";
    const cols = [
      ["site", "text"], ["state", "text"], ["devices"], [hour >= 0 ? "util." : "util. (window)"],
      ["power MW"], ["cap. MW"], [`price ${cur}/kWh`], ["kg CO₂/kWh"], ["MWh"], [`net ${cur}`], ["t CO₂"],
    ];
    const at = (row, i) => (hour >= 0 && row[i] ? row[i][hour] : null);
    const head = R.el("tr");
    for (const [label, cls] of cols) head.appendChild(R.el("th", label, cls ? { class: cls } : null));
    const body = document.createElement("tbody");
    data.sites.forEach((s, i) => {
      const m = pol.metrics.sites[s.id] || {};
      const st = data.live.site_status[s.id] || {};
      const state = st.reachable === true ? "up" : st.reachable === false ? "unreachable" : "not yet asked";
      const tr = R.el("tr", null, { "data-site": s.id, "data-state": state });
      const name = R.el("td", null, { class: "text", title: s.name });
      name.appendChild(R.el("span", null, { class: "swatch", style: `background:${R.colour(i)}` }));
      name.appendChild(document.createTextNode(s.id));
      tr.appendChild(name);
      tr.appendChild(R.el("td", state, {
        class: `text state-${state.replace(/ /g, "-")}`,
        title: st.error ? `${st.error} (since ${st.since})` : `since ${st.since || "?"}`,
      }));
      const cells = [
        R.format(s.devices, ",.0f"), R.format(util[i], ".1%"),
        R.format(hour >= 0 ? at(pol.series.power_mw, i) : m.power_mw_now, ",.3f"),
        R.format(s.capacity_mw, ",.1f"),
        R.format(hour >= 0 ? at(data.site_series.price, i) : m.price_now, ".3f"),
        R.format(hour >= 0 ? at(data.site_series.carbon_kg_per_kwh, i) : m.carbon_now, ".3f"),
        R.format(m.energy_mwh, ",.3f"),
        R.format(m.cost === undefined ? null : m.cost - m.subsidy, ",.2f"), R.format(m.carbon_t, ",.3f"),
      ];
      for (const c of cells) tr.appendChild(R.el("td", c));
      body.appendChild(tr);
    });
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
  }

  /** Per-site table for the selected policy (utilisation at ``hour``, or over the run). */
  R.drawSites = function (table, data, p, hour) {
    if (data.kind === "live") return drawSitesLive(table, data, hour);
    const pol = data.policies[p];
    const util = siteUtilisation(data, p, hour);
    const cur = data.scenario.currency || "";
    const cols = [
      ["site", "text"], ["devices"], ["cap. MW"], ["PUE"],
      [hour >= 0 ? "util. (hour)" : "utilisation"], ["peak MW"], ["MWh"],
      [`net ${cur}`], ["t CO₂"],
    ];
    const head = R.el("tr");
    for (const [label, cls] of cols) head.appendChild(R.el("th", label, cls ? { class: cls } : null));
    const body = document.createElement("tbody");
    data.sites.forEach((s, i) => {
      const m = pol.metrics.sites[s.id] || {};
      const tr = R.el("tr", null, { "data-site": s.id });
      const accs = Object.entries(s.accelerators).map(([a, n]) => `${a} ×${n.toLocaleString("en")}`);
      const name = R.el("td", null, { class: "text", title: `${s.name}: ${accs.join(", ")}` });
      name.appendChild(R.el("span", null, { class: "swatch", style: `background:${R.colour(i)}` }));
      name.appendChild(document.createTextNode(s.id));
      tr.appendChild(name);
      const cells = [
        R.format(s.devices, ",.0f"), R.format(s.capacity_mw, ",.1f"), R.format(s.pue, ".2f"),
        R.format(util[i], ".1%"), R.format(m.peak_power_mw, ",.1f"), R.format(m.energy_mwh, ",.0f"),
        R.format(m.cost === undefined ? null : m.cost - m.subsidy, ",.0f"), R.format(m.carbon_t, ",.0f"),
      ];
      for (const c of cells) tr.appendChild(R.el("td", c));
      body.appendChild(tr);
    });
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
  };

  /** Hourly utilisation, facility power (capacity dashed), price and carbon per site. */
  R.drawSeries = function (div, data, p) {
    const pol = data.policies[p];
    const x = data.time;
    const traces = [];
    const rows = [
      ["utilisation", (i) => pol.series.utilisation[i], "y"],
      ["power", (i) => pol.series.power_mw[i], "y2"],
      ["price", (i) => data.site_series.price[i], "y3"],
      ["carbon", (i) => data.site_series.carbon_kg_per_kwh[i], "y4"],
    ];
    data.sites.forEach((s, i) => {
      const c = R.colour(i);
      rows.forEach(([what, y, axis], k) => {
        traces.push({
          type: "scatter", mode: "lines", x, y: y(i), yaxis: axis, name: s.id,
          legendgroup: s.id, showlegend: k === 0, line: { color: c, width: 1.4,
          shape: what === "utilisation" || what === "power" ? "linear" : "hv" },
          hovertemplate: `${s.id}: %{y:.3~f}<extra>${what}</extra>`,
        });
      });
      traces.push({
        type: "scatter", mode: "lines", x: [x[0], x[x.length - 1]],
        y: [s.capacity_mw, s.capacity_mw], yaxis: "y2", name: `${s.id} capacity`,
        legendgroup: s.id, showlegend: false, line: { color: c, width: 1, dash: "dash" },
        hovertemplate: `${s.id} capacity: %{y} MW<extra></extra>`,
      });
    });
    const cur = data.scenario.currency || "";
    const layout = R.baseLayout({
      height: 900,
      grid: { rows: 4, columns: 1, pattern: "coupled", roworder: "top to bottom" },
      yaxis: { title: { text: "utilisation" }, ...R.SHARE_AXIS },
      yaxis2: { title: { text: "facility power (MW)" }, rangemode: "tozero" },
      yaxis3: { title: { text: `price (${cur}/kWh)` }, rangemode: "tozero" },
      yaxis4: { title: { text: "carbon (kg CO₂/kWh)" }, rangemode: "tozero" },
      xaxis: { type: "date" },
      legend: R.SIDE_LEGEND,
      hovermode: "x",
      margin: { l: 70, r: 20, t: 30, b: 40 },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Empirical CDF of job completion time, one line per policy (log time axis). */
  R.drawCdf = function (div, data) {
    const traces = data.policies.map((p, k) => ({
      type: "scatter", mode: "lines", x: p.jct_cdf.jct_h, y: p.jct_cdf.fraction,
      customdata: p.jct_cdf.jct_h.map(R.duration),
      name: `${p.name} (mean ${R.duration(R.get(p.metrics, "jct_h.mean"))})`,
      line: { shape: "hv", color: R.colour(k), width: 2 },
      hovertemplate: "%{customdata}: %{y:.1%}<extra>" + p.name + "</extra>",
    }));
    // times in hours on a log axis, labelled in the unit each tick's size calls for
    const all = data.policies.flatMap((p) => p.jct_cdf.jct_h).filter((h) => h > 0);
    const empty = all.length === 0;
    const [lo, hi] = empty ? [1 / 60, 10] : [Math.min(...all), Math.max(...all)];
    const xaxis = { type: "log", title: { text: "job completion time" }, ...R.timeTicks(lo, hi, true) };
    if (empty) xaxis.range = [Math.log10(lo), Math.log10(hi)];
    const layout = R.baseLayout({
      height: 420,
      xaxis,
      yaxis: { title: { text: "share of finished jobs" }, tickformat: ".0%", range: [0, 1.02] },
      legend: { x: 0.02, y: 0.98, bgcolor: "rgba(255,255,255,0.7)" },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG).then(() => R.followTimeTicks(div, "xaxis", true));
  };

  /** Mean finish-time fairness ρ and mean JCT per tenant, one bar per policy. */
  R.drawFairness = function (div, data) {
    const tenants = data.tenants.map((t) => t.id);
    const traces = [];
    data.policies.forEach((p, k) => {
      const per = p.metrics.tenants;
      const pick = (key) => tenants.map((t) => (per[t] ? per[t][key] : null));
      traces.push({
        type: "bar", x: tenants, y: pick("mean_rho"), name: p.name, legendgroup: p.name,
        marker: { color: R.colour(k) }, hovertemplate: "%{x}: ρ %{y:.2f}<extra>" + p.name + "</extra>",
      });
      const jct = pick("mean_jct_h");
      traces.push({
        type: "bar", x: tenants, y: jct, name: p.name, legendgroup: p.name,
        showlegend: false, xaxis: "x2", yaxis: "y2", marker: { color: R.colour(k) },
        customdata: jct.map(R.duration), hovertemplate: "%{x}: %{customdata}<extra>" + p.name + "</extra>",
      });
    });
    // mean JCT in hours, the ticks in the unit the longest calls for
    const longest = Math.max(0, ...traces.filter((t) => t.yaxis === "y2").flatMap((t) => t.y.filter((v) => v !== null)));
    const yaxis2 = { title: { text: "mean JCT" }, rangemode: "tozero", ...R.timeTicks(0, longest || 1, false) };
    if (!longest) yaxis2.range = [0, 1];
    const layout = R.baseLayout({
      height: 420, barmode: "group",
      grid: { rows: 1, columns: 2, pattern: "independent" },
      yaxis: { title: { text: `mean ρ (JCT / ${data.kind === "live" ? "run time" : "JCT alone"})` },
               rangemode: "tozero" },
      yaxis2,
      xaxis: { automargin: true, tickangle: -25 },
      xaxis2: { automargin: true, tickangle: -25 },
      shapes: [{ type: "line", xref: "x domain", yref: "y", x0: 0, x1: 1, y0: 1, y1: 1,
                 line: { dash: "dot", color: "#555", width: 1 } }],
      legend: R.SIDE_LEGEND,
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG).then(() => R.followTimeTicks(div, "yaxis2", false));
  };
})(window.SuanliReport);
