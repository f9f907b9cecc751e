/* suanli report: the views drawn from a report data document — summary table, map of the
 * sites, hourly series per site, JCT CDF per policy, fairness per tenant. Each function
 * (re)draws one view from the document alone, so a live page can call it again with a
 * fresher document (Plotly.react updates a chart in place). */
"use strict";
(function (R) {
  /** Summary table: one row per summary_rows entry, one column per policy. */
  R.drawSummary = function (table, data) {
    const head = R.el("tr");
    head.appendChild(R.el("th", "metric"));
    for (const p of data.policies) head.appendChild(R.el("th", p.name, { "data-policy": p.name }));
    const body = document.createElement("tbody");
    for (const row of data.summary_rows) {
      const tr = R.el("tr", null, { "data-path": row.path });
      const sub = /^\s/.test(row.label);
      tr.appendChild(R.el("th", row.label.trim(), sub ? { scope: "row", class: "sub" } : { scope: "row" }));
      for (const p of data.policies) {
        const v = R.get(p.metrics, row.path);
        tr.appendChild(R.el("td", R.format(v, row.format), {
          "data-policy": p.name, "data-value": v === null ? "" : String(v),
        }));
      }
      body.appendChild(tr);
    }
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
    const caption = data.scenario.currency ? `costs in ${data.scenario.currency}` : "";
    table.appendChild(R.el("caption", caption));
  };

  function siteUtilisation(data, p, hour) {
    const pol = data.policies[p];
    return data.sites.map((s, i) => {
      if (hour >= 0) return pol.series.utilisation[i][hour];
      const m = pol.metrics.sites[s.id];
      return m ? m.utilisation : null;
    });
  }

  /** Sites on a lon/lat plane: size = devices, colour = utilisation, lines = data moved. */
  R.drawMap = function (div, data, p, hour) {
    const sites = data.sites;
    const pol = data.policies[p];
    const index = Object.fromEntries(sites.map((s, i) => [s.id, i]));
    const maxDev = Math.max(1, ...sites.map((s) => s.devices));
    const maxTb = Math.max(1e-9, ...pol.transfers.map((t) => t.tb));
    const traces = [];
    const mid = { x: [], y: [], text: [] };
    for (const t of pol.transfers) {
      const a = sites[index[t.from]], b = sites[index[t.to]];
      traces.push({
        type: "scatter", mode: "lines", x: [a.lon, b.lon], y: [a.lat, b.lat],
        line: { color: "rgba(90,90,110,0.55)", width: 1 + 9 * t.tb / maxTb },
        hoverinfo: "skip", showlegend: false,
      });
      mid.x.push((a.lon + b.lon) / 2);
      mid.y.push((a.lat + b.lat) / 2);
      mid.text.push(`${t.from} → ${t.to}: ${R.format(t.tb, ",.1f")} TB`);
    }
    traces.push({
      type: "scatter", mode: "markers", x: mid.x, y: mid.y, text: mid.text,
      marker: { size: 5, color: "rgba(90,90,110,0.8)", symbol: "diamond" },
      hovertemplate: "%{text}<extra>data moved</extra>", showlegend: false,
    });
    const util = siteUtilisation(data, p, hour);
    const m = pol.metrics.sites;
    const cur = data.scenario.currency || "";
    traces.push({
      type: "scatter", mode: "markers+text", name: "sites",
      x: sites.map((s) => s.lon), y: sites.map((s) => s.lat),
      text: sites.map((s) => s.id), textposition: "top center",
      customdata: sites.map((s, i) => [
        s.name, s.devices, s.capacity_mw, R.format(util[i], ".1%"),
        R.format(m[s.id] ? m[s.id].energy_mwh : null, ",.0f"),
        R.format(m[s.id] ? m[s.id].cost - m[s.id].subsidy : null, ",.0f"),
        R.format(m[s.id] ? m[s.id].carbon_t : null, ",.0f"),
        Object.entries(s.accelerators).map(([a, n]) => `${a} ×${n.toLocaleString("en")}`).join("<br>"),
      ]),
      hovertemplate: "<b>%{customdata[0]}</b><br>%{customdata[1]:,} devices · " +
        "%{customdata[2]} MW<br>utilisation %{customdata[3]}<br>energy %{customdata[4]} MWh" +
        ` · net cost %{customdata[5]} ${cur}<br>carbon %{customdata[6]} t<br>%{customdata[7]}<extra></extra>`,
      marker: {
        size: sites.map((s) => 14 + 40 * Math.sqrt(s.devices / maxDev)),
        color: util.map((u) => (u === null ? 0 : u)), cmin: 0, cmax: 1,
        colorscale: "Viridis", line: { color: "#222", width: 1 },
        colorbar: { title: { text: "utilisation" }, tickformat: ".0%", thickness: 14 },
      },
      showlegend: false,
    });
    const layout = R.baseLayout({
      height: 560,
      margin: { l: 55, r: 10, t: 20, b: 45 },
      ...R.lonLatAxes(sites),
      hovermode: "closest",
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

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
      yaxis: { title: { text: "utilisation" }, tickformat: ".0%", rangemode: "tozero" },
      yaxis2: { title: { text: "facility power (MW)" }, rangemode: "tozero" },
      yaxis3: { title: { text: `price (${cur}/kWh)` }, rangemode: "tozero" },
      yaxis4: { title: { text: "carbon (kg CO₂/kWh)" }, rangemode: "tozero" },
      xaxis: { type: "date" },
      legend: { orientation: "h", y: 1.04, x: 0 },
      hovermode: "x",
      margin: { l: 70, r: 20, t: 50, b: 40 },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Empirical CDF of job completion time, one line per policy (log time axis). */
  R.drawCdf = function (div, data) {
    const traces = data.policies.map((p, k) => ({
      type: "scatter", mode: "lines", x: p.jct_cdf.jct_h, y: p.jct_cdf.fraction,
      name: `${p.name} (mean ${R.format(R.get(p.metrics, "jct_h.mean"), ".2f")} h)`,
      line: { shape: "hv", color: R.colour(k), width: 2 },
      hovertemplate: "%{x:.3~f} h: %{y:.1%}<extra>" + p.name + "</extra>",
    }));
    const layout = R.baseLayout({
      height: 420,
      xaxis: { type: "log", title: { text: "job completion time (h)" } },
      yaxis: { title: { text: "share of finished jobs" }, tickformat: ".0%", range: [0, 1.02] },
      legend: { x: 0.02, y: 0.98, bgcolor: "rgba(255,255,255,0.7)" },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
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
      traces.push({
        type: "bar", x: tenants, y: pick("mean_jct_h"), name: p.name, legendgroup: p.name,
        showlegend: false, xaxis: "x2", yaxis: "y2", marker: { color: R.colour(k) },
        hovertemplate: "%{x}: %{y:.2f} h<extra>" + p.name + "</extra>",
      });
    });
    const layout = R.baseLayout({
      height: 420, barmode: "group",
      grid: { rows: 1, columns: 2, pattern: "independent" },
      yaxis: { title: { text: `mean ρ (JCT / ${data.kind === "live" ? "run time" : "JCT alone"})` },
               rangemode: "tozero" },
      yaxis2: { title: { text: "mean JCT (h)" }, rangemode: "tozero" },
      xaxis: { automargin: true, tickangle: -25 },
      xaxis2: { automargin: true, tickangle: -25 },
      shapes: [{ type: "line", xref: "x domain", yref: "y", x0: 0, x1: 1, y0: 1, y1: 1,
                 line: { dash: "dot", color: "#555", width: 1 } }],
      legend: { orientation: "h", y: 1.12, x: 0 },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };
})(window.SuanliReport);
