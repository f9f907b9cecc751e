/* suanli plan page: the views of a comparison — the plans side by side (the lines of
 * `suanli plan --compare`), new devices by vendor per plan, total cost per plan. */
"use strict";
(function (P, R) {
  /** The side-by-side table: one row per ``comparison_rows`` line, one column per plan.
   * Clicking a plan's heading calls ``select(index)``. */
  P.drawCompareTable = function (table, data, selected, select) {
    const head = R.el("tr");
    head.appendChild(R.el("th", ""));
    data.plans.forEach((e, i) => {
      const th = R.el("th", e.name, { "data-plan": e.name, title: "show this plan below" });
      if (i === selected) th.classList.add("selected");
      th.addEventListener("click", () => select(i));
      head.appendChild(th);
    });
    const body = document.createElement("tbody");
    for (const line of data.comparison_rows) {
      const tr = R.el("tr", null, { "data-key": line.key });
      tr.appendChild(R.el("th", line.label, { scope: "row" }));
      for (const e of data.plans) {
        const v = e.summary[line.key] === undefined ? 0 : e.summary[line.key];
        tr.appendChild(R.el("td", P.cell(v, line.format, data.currency), {
          "data-plan": e.name, "data-value": String(v),
        }));
      }
      body.appendChild(tr);
    }
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
  };

  /** Links to each plan's own page (written beside this one). */
  P.drawComparePages = function (p, data) {
    const parts = [document.createTextNode("Each plan's own page: ")];
    data.plans.filter((e) => e.page).forEach((e, i) => {
      if (i) parts.push(document.createTextNode(" · "));
      parts.push(R.el("a", e.name, { href: e.page }));
    });
    p.replaceChildren(...(parts.length > 1 ? parts : []));
  };

  /** New devices by vendor, grouped per plan. */
  P.drawCompareVendors = function (div, data) {
    const names = data.plans.map((e) => e.name);
    const traces = data.vendors.map((v) => ({
      type: "bar", x: names, y: data.plans.map((e) => e.summary[`new_${v}`] || 0), name: v,
      marker: { color: P.vendorColour(data, v) },
      hovertemplate: `%{x}: %{y:,} new devices<extra>${v}</extra>`,
    })).filter((t) => t.y.some((n) => n));
    const layout = R.baseLayout({
      height: 380, barmode: "group", yaxis: { title: { text: "new devices" }, rangemode: "tozero" },
      legend: { traceorder: "normal" },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** Total cost per plan: capex and opex stacked. */
  P.drawCompareCost = function (div, data) {
    const names = data.plans.map((e) => e.name), cur = data.currency;
    const [scale, unit] = P.moneyScale(Math.max(0, ...data.plans.map((e) => e.summary.total_cost)), cur);
    const traces = [["capex", 0], ["opex", 2]].map(([key, c]) => ({
      type: "bar", x: names, y: data.plans.map((e) => e.summary[key] / scale), name: key,
      customdata: data.plans.map((e) => P.money(e.summary[key], cur)), marker: { color: R.colour(c) },
      hovertemplate: `%{x}: %{customdata}<extra>${key}</extra>`,
    }));
    const layout = R.baseLayout({
      height: 380, barmode: "stack", yaxis: { title: { text: unit }, rangemode: "tozero" },
      legend: { orientation: "h", y: 1.14, x: 0, traceorder: "normal" },
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };
})(window.SuanliPlan, window.SuanliReport);
