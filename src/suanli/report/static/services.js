/* suanli report: the services section — online inference services of the run, when it has
 * any: a table of every policy's services (SLO attainment, requests, device-hours, cold
 * starts, energy, cost and carbon per million tokens), and for the selected policy demand
 * against ready capacity with the SLO attainment, and ready replicas by site over the run;
 * cost and carbon per million tokens by accelerator type, one bar per policy. Metrics come
 * from each policy's ``metrics.services``, the series from its ``services`` (docs/report.md). */
"use strict";
(function (R) {
  /** Whether the document has services (a live document, or a run without, has none). */
  R.hasServices = function (data) {
    return data.policies.some((p) => p.services && p.services.length);
  };

  /** ``v`` to 3 significant digits, thousands grouped, no exponent ("0.00831", "1,234");
   * null → "–". Per-million-token figures span many sizes, so they read best this way. */
  R.sig3 = function (v) {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    if (v === 0) return "0";
    const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v))));
    return Number(v.toPrecision(3)).toLocaleString("en", { maximumFractionDigits: digits, useGrouping: true });
  };

  /** The glossary term ``id`` as a header cell with its definition as a tooltip. */
  function head(label, data, id, cls) {
    const term = (data.glossary || []).find((t) => t.id === id);
    const th = R.el("th", null, cls ? { class: cls } : null);
    th.appendChild(term
      ? R.el("span", label, { class: "term", title: `${term.term}: ${term.definition}`, "data-term": id })
      : document.createTextNode(label));
    return th;
  }

  /** One row per policy and service; the selected policy's rows marked. */
  R.drawServiceTable = function (table, data, p) {
    const cur = data.scenario.currency || "";
    const cols = [
      ["policy", null, "text"], ["service", null, "text"], ["serving", "serving-policy", "text"],
      ["SLO met", "slo-attainment"], ["requests", "service-requests"], ["dropped", "service-requests"],
      ["device-h", "replica-device-hours"], ["cold starts", "cold-starts"],
      ["kWh/Mtok", "per-mtok"], [`${cur}/Mtok`, "per-mtok"], ["kg CO₂/Mtok", "per-mtok"],
    ];
    const tr = R.el("tr");
    for (const [label, id, cls] of cols) tr.appendChild(head(label, data, id, cls));
    const thead = document.createElement("thead");
    thead.appendChild(tr);
    const body = document.createElement("tbody");
    data.policies.forEach((pol, k) => {
      const per = (pol.metrics && pol.metrics.services) || {};
      for (const [id, m] of Object.entries(per)) {
        const row = R.el("tr", null, { "data-policy": pol.name, "data-service": id });
        if (k === p) row.classList.add("selected");
        const cells = [
          [pol.name, "text"], [id, "text"], [m.serving_policy, "text"],
          [R.format(m.attainment, ".2%")], [R.format(m.requests, ",.0f")],
          [R.format(m.dropped_share, ".2%")], [R.format(m.device_hours, m.device_hours < 100 ? ",.1f" : ",.0f")],
          [R.format(m.cold_starts, ",.0f")], [R.sig3(m.per_mtok.energy_kwh)],
          [R.sig3(m.per_mtok.cost)], [R.sig3(m.per_mtok.carbon_kg)],
        ];
        for (const [text, cls] of cells) row.appendChild(R.el("td", text, cls ? { class: cls } : null));
        body.appendChild(row);
      }
    });
    table.replaceChildren(thead, body);
  };

  /** Demand and ready capacity (requests/s) per service, and the SLO attainment below. */
  R.drawServiceDemand = function (div, data, p) {
    const traces = [];
    (data.policies[p].services || []).forEach((s, k) => {
      const c = R.colour(k);
      traces.push(
        { type: "scatter", mode: "lines", x: s.time, y: s.demand, name: `${s.id} demand`,
          legendgroup: s.id, line: { color: c, width: 1.6, shape: "hv" },
          hovertemplate: `${s.id} demand: %{y:.3~f} req/s<extra></extra>` },
        { type: "scatter", mode: "lines", x: s.time, y: s.capacity, name: `${s.id} capacity`,
          legendgroup: s.id, line: { color: c, width: 1.2, dash: "dash", shape: "hv" },
          hovertemplate: `${s.id} capacity: %{y:.3~f} req/s<extra></extra>` },
        { type: "scatter", mode: "lines", x: s.time, y: s.attainment, name: `${s.id} SLO met`,
          legendgroup: s.id, showlegend: false, yaxis: "y2", line: { color: c, width: 1.2, shape: "hv" },
          hovertemplate: `${s.id}: %{y:.2%} within the SLO<extra></extra>` },
      );
    });
    const att = traces.filter((t) => t.yaxis === "y2").flatMap((t) => t.y).filter((v) => v !== null);
    const low = Math.min(0.99, ...att);
    const layout = R.baseLayout({
      height: 460,
      // one time axis at the bottom, under the attainment; demand and capacity above
      yaxis: { title: { text: "requests/s" }, rangemode: "tozero", domain: [0.36, 1], anchor: "x" },
      yaxis2: { title: { text: "SLO met" }, tickformat: "~%", domain: [0, 0.26], anchor: "x",
                range: [Math.max(0, low - (1 - low) * 0.1), 1 + (1 - low) * 0.05] },
      xaxis: { type: "date", anchor: "y2" },
      legend: R.SIDE_LEGEND,
      hovermode: "x",
      margin: { l: 70, r: 20, t: 30, b: 40 },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Ready replicas of every service by site, stacked, in the sites' colours. */
  R.drawServiceReplicas = function (div, data, p) {
    const svcs = data.policies[p].services || [];
    const traces = [];
    data.sites.forEach((site, i) => {
      let sum = null;
      for (const s of svcs) {
        const v = s.ready_by_site[site.id];
        if (!v) continue;
        sum = sum === null ? v.slice() : sum.map((x, t) => x + (v[t] || 0));
      }
      if (sum === null) return;
      traces.push({
        type: "scatter", mode: "lines", x: svcs[0].time, y: sum, name: site.id, stackgroup: "sites",
        showlegend: true,
        line: { color: R.colour(i), width: 0.8, shape: "hv" }, fillcolor: R.colour(i),
        hovertemplate: `${site.id}: %{y} ready<extra></extra>`,
      });
    });
    const layout = R.baseLayout({
      height: 340,
      yaxis: { title: { text: "ready replicas" }, rangemode: "tozero" },
      showlegend: true,
      xaxis: { type: "date" },
      legend: R.SIDE_LEGEND,
      hovermode: "x",
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Cost and carbon per million tokens by accelerator type (every service of the
   * policy together), one bar per policy. */
  R.drawServiceCost = function (div, data) {
    const types = data.accelerators.filter((a) =>
      data.policies.some((pol) => Object.values((pol.metrics && pol.metrics.services) || {})
        .some((m) => m.accelerators && m.accelerators[a])));
    const traces = [];
    data.policies.forEach((pol, k) => {
      const per = Object.values((pol.metrics && pol.metrics.services) || {});
      if (!per.length) return;
      const mtok = (key) => types.map((a) => {
        const got = per.map((m) => m.accelerators[a]).filter((g) => g);
        const tok = got.reduce((x, g) => x + g.tokens, 0);
        return tok > 0 ? (got.reduce((x, g) => x + g[key], 0) / tok) * 1e6 : null;
      });
      const name = `${pol.name} (${per[0].serving_policy})`;
      const cost = mtok("cost"), carbon = mtok("carbon_kg");
      traces.push(
        { type: "bar", x: types, y: cost, name, legendgroup: pol.name, marker: { color: R.colour(k) },
          customdata: cost.map(R.sig3), hovertemplate: "%{x}: %{customdata}<extra>" + pol.name + "</extra>" },
        { type: "bar", x: types, y: carbon, name, legendgroup: pol.name, showlegend: false,
          xaxis: "x2", yaxis: "y2", marker: { color: R.colour(k) },
          customdata: carbon.map(R.sig3), hovertemplate: "%{x}: %{customdata} kg<extra>" + pol.name + "</extra>" },
      );
    });
    const cur = data.scenario.currency || "";
    const layout = R.baseLayout({
      height: 380, barmode: "group",
      grid: { rows: 1, columns: 2, pattern: "independent" },
      yaxis: { title: { text: `net energy cost (${cur}/Mtok)` }, rangemode: "tozero" },
      yaxis2: { title: { text: "carbon (kg CO₂/Mtok)" }, rangemode: "tozero" },
      xaxis: { automargin: true }, xaxis2: { automargin: true },
      legend: R.SIDE_LEGEND,
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** The whole section: hidden (with its link) when the document has no services. */
  R.drawServices = function (doc, data, p) {
    const has = R.hasServices(data);
    doc.getElementById("services-section").hidden = !has;
    doc.getElementById("nav-services").hidden = !has;
    if (!has) return Promise.resolve();
    R.drawServiceTable(doc.getElementById("service-table"), data, p);
    return Promise.all([
      R.drawServiceDemand(doc.getElementById("service-demand"), data, p),
      R.drawServiceReplicas(doc.getElementById("service-replicas"), data, p),
      R.drawServiceCost(doc.getElementById("service-cost"), data),
    ]);
  };
})(window.SuanliReport);
