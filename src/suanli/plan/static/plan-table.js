/* suanli plan page: the plan table — one row per site × accelerator type, as plan.csv,
 * sortable by any column (click a heading; again to reverse), optionally only the rows the
 * plan changes. The sort and the filter survive switching plans. */
"use strict";
(function (P, R) {
  /** [key, heading, format]: "text", "bool", "int", "money", or a format spec of R.format. */
  const COLUMNS = [
    ["site", "site", "text"], ["accelerator", "accelerator", "text"], ["vendor", "vendor", "text"],
    ["domestic", "domestic", "bool"], ["existing", "in place", "int"], ["added", "added", "int"],
    ["retired", "retired", "int"], ["total", "total", "int"], ["unit_price", "unit price", "money"],
    ["capex", "capex", "money"], ["energy_mwh", "energy MWh", ",.1f"],
    ["energy_cost", "energy cost", "money"], ["peak_mw", "peak MW", ".2f"],
  ];

  function text(value, kind, cur) {
    if (kind === "text") return String(value);
    if (kind === "bool") return value ? "yes" : "no";
    if (kind === "int") return R.format(value, ",.0f");
    if (kind === "money") return P.money(value, cur);
    return R.format(value, kind);
  }

  function compare(a, b) {
    if (a === b) return 0;
    if (a === null || a === undefined) return 1;
    if (b === null || b === undefined) return -1;
    if (typeof a === "string") return a.localeCompare(b);
    return a < b ? -1 : 1;
  }

  P.PoolTable = class {
    constructor(table, changedBox) {
      this.table = table;
      this.changed = changedBox;
      this.key = null;
      this.desc = false;
      this.args = null;
      changedBox.addEventListener("change", () => this.draw());
    }

    /** Show the pools of ``entry`` (a plans[] entry of ``data``). */
    update(data, entry) {
      this.args = [data, entry];
      this.draw();
    }

    /** Sort by column ``key`` (descending when it is already sorted ascending). */
    sortBy(key) {
      this.desc = this.key === key ? !this.desc : false;
      this.key = key;
      this.draw();
    }

    draw() {
      const [data, entry] = this.args;
      const head = R.el("tr");
      for (const [key, label, kind] of COLUMNS) {
        const th = R.el("th", label, { "data-key": key });
        if (kind !== "text" && kind !== "bool") th.classList.add("num");
        if (key === this.key) th.dataset.sort = this.desc ? "desc" : "asc";
        th.addEventListener("click", () => this.sortBy(key));
        head.appendChild(th);
      }
      let rows = entry.plan.pools.map((p, i) => [p, i]);
      if (this.changed.checked) rows = rows.filter(([p]) => p.added || p.retired);
      if (this.key !== null) {
        const k = this.key, sign = this.desc ? -1 : 1;
        rows.sort(([a, i], [b, j]) => sign * compare(a[k], b[k]) || i - j);
      }
      const body = document.createElement("tbody");
      for (const [p] of rows) {
        const tr = R.el("tr", null, { "data-site": p.site, "data-accelerator": p.accelerator });
        if (!p.added && !p.retired) tr.classList.add("unchanged");
        for (const [key, , kind] of COLUMNS) {
          const v = p[key];
          const td = R.el("td", text(v, kind, data.currency), {
            "data-key": key, "data-value": v === null ? "" : String(v),
          });
          if (kind !== "text" && kind !== "bool") td.classList.add("num");
          tr.appendChild(td);
        }
        body.appendChild(tr);
      }
      const thead = document.createElement("thead");
      thead.appendChild(head);
      this.table.replaceChildren(thead, body);
      this.table.dataset.sort = this.key === null ? "" : `${this.key} ${this.desc ? "desc" : "asc"}`;
    }
  };
})(window.SuanliPlan, window.SuanliReport);
