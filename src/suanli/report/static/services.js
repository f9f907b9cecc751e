/* suanli report: the services section — online inference services of the run, when it has
 * any: a table of every policy's services (SLO attainment, requests, device-hours, cold
 * starts, energy, cost and carbon per million tokens), and for the selected policy demand
 * against ready capacity with the SLO attainment, and ready replicas by site over the run;
 * cost and carbon per million tokens by accelerator type, one bar per policy. Metrics come
 * from each policy's ``metrics.services``, the series from its ``services`` (docs/report.md).
 * A live document (the dashboard of ``suanli serve``) has one policy and no cost figures:
 * its table shows each service now (replicas by site and state, demand, capacity, SLO
 * attainment) and over the window, the same demand chart, and the replicas, ready and
 * starting, of each service over the window; the cost chart is hidden. */
"use strict";
(function (R) {
  /** Whether the document has services (a run without, or a live one without, has none). */
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

  /** A live document's services, one row each: replicas now by state and by site, demand
   * and ready capacity now (requests/s), SLO attainment over the last serving tick, since
   * the server started and over the window, tokens/s now, and over the window requests
   * and device-hours; replicas wanted at the last tick that found no room. */
  R.drawServiceTableLive = function (table, data) {
    const pol = data.policies[0];
    const per = (pol.metrics && pol.metrics.services) || {};
    const cols = [
      ["service", "text"], ["tenant", "text"], ["ready"], ["starting"], ["draining"],
      ["replicas by site", "text"], ["demand req/s"], ["capacity req/s"], ["SLO met: tick"],
      ["since start"], ["window"], ["tokens/s"], ["requests (window)"], ["device-h (window)"],
      ["short"],
    ];
    const tr = R.el("tr");
    for (const [label, cls] of cols) tr.appendChild(R.el("th", label, cls ? { class: cls } : null));
    const thead = document.createElement("thead");
    thead.appendChild(tr);
    const body = document.createElement("tbody");
    (pol.services || []).forEach((s, k) => {
      const m = per[s.id] || {};
      const n = m.replicas || {};
      const sites = Object.entries(s.replicas_by_site || {}).map(([site, c]) =>
        `${site}: ${["ready", "starting", "draining"].filter((st) => c[st]).map((st) => `${c[st]} ${st}`).join(", ")}`);
      const row = R.el("tr", null, { "data-service": s.id, "data-served": m.served ? "1" : "0" });
      const name = R.el("td", null, { class: "text" });
      name.appendChild(R.el("span", null, { class: "swatch", style: `background:${R.colour(k)}` }));
      name.appendChild(document.createTextNode(s.id));
      row.appendChild(name);
      const cells = [
        [s.tenant || "", "text", "tenant"], [R.format(n.ready, ",.0f"), null, "ready"],
        [R.format(n.starting, ",.0f"), null, "starting"], [R.format(n.draining, ",.0f"), null, "draining"],
        [sites.join("; ") || (m.served ? "none" : "not served"), "text", "sites"],
        [R.sig3(m.demand_rps), null, "demand_rps"], [R.sig3(m.capacity_rps), null, "capacity_rps"],
        [R.format(m.attainment_last, ".2%"), null, "attainment_last"],
        [R.format(m.attainment_since_start, ".2%"), null, "attainment_since_start"],
        [R.format(m.attainment, ".2%"), null, "attainment"], [R.sig3(m.tokens_per_s), null, "tokens_per_s"],
        [R.format(m.requests, ",.0f"), null, "requests"], [R.format(m.device_hours, ",.2f"), null, "device_hours"],
        [R.format(m.short, ",.0f"), null, "short"],
      ];
      for (const [text, cls, key] of cells) {
        const attrs = { "data-key": key };
        if (cls) attrs.class = cls;
        row.appendChild(R.el("td", text, attrs));
      }
      body.appendChild(row);
    });
    table.replaceChildren(thead, body);
  };

  /** ``#rrggbb`` with opacity ``a``. */
  function faded(hex, a) {
    const n = parseInt(hex.slice(1), 16);
    return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
  }

  /** A live document's replicas of each service over the window: ready, with the starting
   * ones (cold start) stacked above them, lighter. */
  R.drawServiceReplicasLive = function (div, data) {
    const traces = [];
    (data.policies[0].services || []).forEach((s, k) => {
      const c = R.colour(k);
      traces.push(
        { type: "scatter", mode: "lines", x: s.time, y: s.ready, name: `${s.id} ready`,
          legendgroup: s.id, stackgroup: s.id, line: { color: c, width: 1.4, shape: "hv" },
          fillcolor: faded(c, 0.55), hovertemplate: `${s.id}: %{y:.3~f} ready<extra></extra>` },
        { type: "scatter", mode: "lines", x: s.time, y: s.starting, name: `${s.id} starting`,
          legendgroup: s.id, stackgroup: s.id, line: { color: c, width: 1, dash: "dot", shape: "hv" },
          fillcolor: faded(c, 0.18), hovertemplate: `${s.id}: %{y:.3~f} starting<extra></extra>` },
      );
    });
    const layout = R.baseLayout({
      height: 340,
      yaxis: { title: { text: "replicas" }, rangemode: "tozero" },
      showlegend: true,
      xaxis: { type: "date" },
      legend: R.SIDE_LEGEND,
      hovermode: "x",
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Set ``el``'s text to ``live`` in a live document, back to its own text otherwise. */
  function swap(el, live, text) {
    if (!el) return;
    if (el.dataset.simText === undefined) el.dataset.simText = el.textContent;
    el.textContent = live ? text : el.dataset.simText;
  }

  const LIVE_TEXT = "Online inference services beside the batch work, from the samples the " +
    "control loop takes at every serving tick: per service its replicas now (ready, starting: " +
    "cold start, draining) and where they run, demand and the ready replicas' capacity " +
    "(requests/s), and the share of requests within the SLO. Below, over the window: demand " +
    "against capacity with the SLO attainment, and each service's replicas.";

  /** The whole section: hidden (with its link) when the document has no services. */
  R.drawServices = function (doc, data, p) {
    const has = R.hasServices(data);
    doc.getElementById("services-section").hidden = !has;
    doc.getElementById("nav-services").hidden = !has;
    if (!has) return Promise.resolve();
    const live = data.kind === "live";
    const $ = (id) => doc.getElementById(id);
    swap(doc.querySelector("#services-section > p.muted"), live, LIVE_TEXT);
    swap($("service-replicas").previousElementSibling, live, "Replicas: ready, and starting above them");
    const cost = $("service-cost");
    cost.hidden = live;
    if (cost.previousElementSibling) cost.previousElementSibling.hidden = live;
    if (live) {
      R.drawServiceTableLive($("service-table"), data);
      return Promise.all([
        R.drawServiceDemand($("service-demand"), data, 0),
        R.drawServiceReplicasLive($("service-replicas"), data),
      ]);
    }
    R.drawServiceTable($("service-table"), data, p);
    return Promise.all([
      R.drawServiceDemand($("service-demand"), data, p),
      R.drawServiceReplicas($("service-replicas"), data, p),
      R.drawServiceCost($("service-cost"), data),
    ]);
  };
})(window.SuanliReport);
