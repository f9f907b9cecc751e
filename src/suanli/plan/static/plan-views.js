/* suanli plan page: the views of one plan — headline totals, map of the sites, site table,
 * devices by site and vendor, cost by site, demand classes, binding constraints. Each
 * function (re)draws one view from the plan data document (docs/planning.md) and one of its
 * plans[] entries; the report's helpers (format.js, window.SuanliReport) do the formatting. */
"use strict";
window.SuanliPlan = window.SuanliPlan || {};
(function (P, R) {
  /** Money as suanli.plan.fmt.money writes it: "1.23 bn CNY", "45.6 M CNY", "12,345 CNY". */
  P.money = function (value, cur) {
    if (value === null || value === undefined) return "–";
    const v = Math.abs(value), sign = value < 0 ? "-" : "";
    if (v >= 1e9) return `${sign}${R.format(v / 1e9, ",.2f")} bn ${cur}`;
    if (v >= 1e6) return `${sign}${R.format(v / 1e6, ",.1f")} M ${cur}`;
    return `${sign}${R.format(v, ",.0f")} ${cur}`;
  };

  /** A number as suanli.plan.fmt.number writes it (no decimals from 1,000 on). */
  P.number = function (value, digits) {
    if (value === null || value === undefined) return "–";
    return R.format(value, Math.abs(value) >= 1000 ? ",.0f" : `,.${digits === undefined ? 1 : digits}f`);
  };

  /** ``value`` in one of the formats of suanli.plan.summary.cell: money, int, pct, num. */
  P.cell = function (value, kind, cur) {
    if (value === null || value === undefined) return "–";
    if (kind === "money") return P.money(value, cur);
    if (kind === "pct") return R.format(value, ".0%");
    if (kind === "int") return R.format(value, ",.0f");
    return R.format(value, ",.1f");
  };

  /** A vendor's colour: its place in the document's vendor list. */
  P.vendorColour = (data, vendor) => R.colour(Math.max(0, data.vendors.indexOf(vendor)));

  /** [divisor, label] to show money up to ``max`` in bn, M or units. */
  P.moneyScale = function (max, cur) {
    if (max >= 1e9) return [1e9, `bn ${cur}`];
    if (max >= 1e6) return [1e6, `M ${cur}`];
    return [1, cur];
  };

  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const poolsAt = (plan, site) => plan.pools.filter((p) => p.site === site);

  /** Headline totals: one card per document ``headline`` entry. */
  P.drawHeadline = function (div, data, entry) {
    div.replaceChildren(...data.headline.map((h) => {
      const v = R.get(entry, h.path);
      const card = R.el("div", null, {
        class: "card", "data-path": h.path, "data-value": v === null ? "" : String(v),
      });
      card.appendChild(R.el("div", h.label, { class: "label" }));
      card.appendChild(R.el("div", P.cell(v, h.format, data.currency), { class: "value" }));
      return card;
    }));
  };

  /** The plan's notes (inputs that do not act as one might expect). */
  P.drawNotes = function (ul, entry) {
    ul.replaceChildren(...entry.plan.notes.map((n) => R.el("li", `note: ${n}`)));
  };

  /** The mix at a site: "type ×total (+added, −retired)" per accelerator type. */
  function mix(plan, site) {
    return poolsAt(plan, site).filter((p) => p.total || p.retired).map((p) => {
      const change = [p.added ? `+${p.added.toLocaleString("en")}` : "",
                      p.retired ? `−${p.retired.toLocaleString("en")}` : ""].filter(Boolean);
      return `${p.accelerator} ×${p.total.toLocaleString("en")}` +
        (change.length ? ` (${change.join(", ")})` : "");
    });
  }

  /** Has ``s`` a site close to its east, whose label its own would run into? */
  const crowded = (s, sites) => sites.some((o) => o !== s && o.lon > s.lon && o.lon - s.lon <= 6 &&
                                                  Math.abs(o.lat - s.lat) < 2.5);

  /** Sites on a lon/lat plane: size = devices after the plan, colour = domestic share. */
  P.drawMap = function (div, data, entry) {
    const plan = entry.plan, sites = plan.sites, cur = data.currency;
    const maxDev = Math.max(1, ...sites.map((s) => s.devices));
    const share = sites.map((s) => entry.domestic_share[s.site]);
    const trace = {
      type: "scatter", mode: "markers+text", name: "sites",
      x: sites.map((s) => s.lon), y: sites.map((s) => s.lat),
      text: sites.map((s) => s.site), textposition: sites.map((s) => (crowded(s, sites) ? "middle left" : "top center")),
      cliponaxis: false,
      customdata: sites.map((s, i) => [
        s.name, s.devices.toLocaleString("en"), s.added.toLocaleString("en"),
        R.format(share[i], ".0%"), R.format(s.expansion_mw, ",.1f"), R.format(s.peak_mw, ",.2f"),
        P.money(s.capex, cur), mix(plan, s.site).join("<br>"),
      ]),
      hovertemplate: "<b>%{customdata[0]}</b><br>%{customdata[1]} devices (+%{customdata[2]})" +
        " · domestic %{customdata[3]}<br>expansion %{customdata[4]} MW · peak %{customdata[5]} MW" +
        "<br>capex %{customdata[6]}<br>%{customdata[7]}<extra></extra>",
      marker: {
        size: sites.map((s) => 14 + 40 * Math.sqrt(s.devices / maxDev)),
        color: share.map((x) => (x === null ? 0 : x)), cmin: 0, cmax: 1,
        colorscale: [[0, "#d73027"], [0.5, "#fee08b"], [1, "#1a9850"]],
        line: { color: "#222", width: sites.map((s) => (s.added ? 3 : 1)) },
        colorbar: { title: { text: "domestic share" }, tickformat: ".0%", thickness: 14 },
      },
      showlegend: false,
    };
    const layout = R.baseLayout({
      height: 540, margin: { l: 55, r: 10, t: 20, b: 45 }, hovermode: "closest",
      ...R.lonLatAxes(sites),
    });
    return Plotly.react(div, [trace], layout, R.PLOT_CONFIG);
  };

  /** Sites after the plan, the columns of the CLI's table. */
  P.drawSites = function (table, data, entry) {
    const cols = ["site", "devices", "added", "domestic", "capacity MW", "+expansion",
                  "peak MW", "avg MW", "green share", "carbon kt"];
    const head = R.el("tr");
    cols.forEach((c, i) => head.appendChild(R.el("th", c, i === 0 ? { class: "text" } : null)));
    const body = document.createElement("tbody");
    for (const s of entry.plan.sites) {
      const tr = R.el("tr", null, { "data-site": s.site });
      tr.appendChild(R.el("td", s.site, { class: "text", title: s.name }));
      for (const c of [
        R.format(s.devices, ",.0f"), R.format(s.added, ",.0f"),
        R.format(entry.domestic_share[s.site], ".0%"), R.format(s.capacity_mw, ",.1f"),
        R.format(s.expansion_mw, ",.1f"), R.format(s.peak_mw, ",.1f"), R.format(s.average_mw, ",.1f"),
        s.energy_mwh ? R.format(s.green_mwh / s.energy_mwh, ".0%") : "–", R.format(s.carbon_t / 1e3, ",.1f"),
      ]) tr.appendChild(R.el("td", c));
      body.appendChild(tr);
    }
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
  };

  /** Devices per site and vendor, stacked: in place after retirements, and added. */
  P.drawDevices = function (div, data, entry) {
    const plan = entry.plan, sites = plan.sites.map((s) => s.site);
    const parts = [["in place", (p) => p.existing - p.retired], ["added", (p) => p.added]];
    const x = [[], []], where = [];
    for (const s of sites) for (const [part] of parts) { x[0].push(s); x[1].push(part); where.push(`${s} ${part}`); }
    const traces = [];
    for (const v of data.vendors) {
      const y = [];
      for (const s of sites) {
        const mine = poolsAt(plan, s).filter((p) => p.vendor === v);
        for (const [, count] of parts) y.push(sum(mine.map(count)));
      }
      if (!y.some((n) => n)) continue;
      traces.push({
        type: "bar", x, y, name: v, customdata: where, marker: { color: P.vendorColour(data, v) },
        hovertemplate: `%{customdata}: %{y:,} devices<extra>${v}</extra>`,
      });
    }
    const layout = R.baseLayout({
      height: 420, barmode: "stack", yaxis: { title: { text: "devices" }, rangemode: "tozero" },
      legend: { traceorder: "normal" },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Cost per site over the horizon: purchases and expansion (capex), energy (opex). */
  P.drawCost = function (div, data, entry) {
    const plan = entry.plan, cur = data.currency, sites = plan.sites;
    const purchases = sites.map((s) => sum(poolsAt(plan, s.site).map((p) => p.capex)));
    const parts = [
      ["purchases", purchases],
      ["expansion", sites.map((s, i) => Math.max(0, s.capex - purchases[i]))],
      ["energy", sites.map((s) => s.energy_cost)],
    ];
    const totals = sites.map((_, i) => sum(parts.map(([, ys]) => ys[i])));
    const [scale, unit] = P.moneyScale(Math.max(0, ...totals), cur);
    const traces = parts.map(([name, ys], k) => ({
      type: "bar", x: sites.map((s) => s.site), y: ys.map((v) => v / scale), name,
      customdata: ys.map((v) => P.money(v, cur)), marker: { color: R.colour(k + 4) },
      hovertemplate: `%{x}: %{customdata}<extra>${name}</extra>`,
    }));
    const layout = R.baseLayout({
      height: 360, barmode: "stack",
      yaxis: { title: { text: `${unit} over ${plan.horizon_years} years` }, rangemode: "tozero" },
      legend: { orientation: "h", y: 1.12, x: 0, traceorder: "normal" },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Demand classes: demand, delivered, marginal cost, the accelerators they mostly run on. */
  P.drawClasses = function (table, data, entry) {
    const plan = entry.plan, cur = data.currency;
    const marginal = Object.fromEntries(plan.shadow_prices.filter((sp) => sp.family === "demand")
      .map((sp) => [sp.key, sp.marginal]));
    const head = R.el("tr");
    ["class", "profile", "demand", "delivered", `${cur} per extra PFLOP/s`, "mostly on"]
      .forEach((c, i) => head.appendChild(R.el("th", c, i < 2 || i === 5 ? { class: "text" } : null)));
    const body = document.createElement("tbody");
    for (const c of plan.classes) {
      const on = {};
      for (const [, acc, dev] of c.devices) on[acc] = (on[acc] || 0) + dev;
      const top = Object.keys(on).sort((a, b) => on[b] - on[a] || a.localeCompare(b)).slice(0, 3);
      const tr = R.el("tr", null, { "data-class": c.name });
      tr.appendChild(R.el("td", c.name, { class: "text" }));
      tr.appendChild(R.el("td", c.profile, { class: "text" }));
      tr.appendChild(R.el("td", P.number(c.demand_pflops)));
      tr.appendChild(R.el("td", P.number(c.delivered_pflops)));
      tr.appendChild(R.el("td", c.name in marginal ? P.money(marginal[c.name], cur) : "–"));
      tr.appendChild(R.el("td", top.map((a) => `${a} ×${R.format(on[a], ",.0f")}`).join(", "), { class: "text" }));
      body.appendChild(tr);
    }
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
  };

  /** The binding constraints in words. */
  P.drawBinding = function (ul, entry) {
    const items = entry.binding.map((s) => R.el("li", s));
    ul.replaceChildren(...(items.length ? items : [R.el("li", "No limit binds.", { class: "muted none" })]));
  };
})(window.SuanliPlan, window.SuanliReport);
