/* suanli report: by gang size — per gang-size bucket ("1", "2-8", "9-32", "33-128",
 * "129-512", "513+"), every policy's mean and p95 wait (``wait_by_gang``: first start −
 * submit, jobs that started) and time in system (``time_in_system_by_gang``: finish − submit,
 * or end of run − submit for a job that did not finish; docs/metrics.md). Hidden when no
 * policy's metrics carry the keys (the live dashboard's). */
"use strict";
(function (R) {
  /** The two tables: the metrics key, the glossary term, the fields of the mean and p95,
   * and a cell's tooltip from the bucket (null: no job there). */
  const TABLES = {
    wait: {
      key: "wait_by_gang", term: "wait-by-gang", mean: "mean_wait_h", p95: "p95_wait_h",
      jobs: (b) => (b ? `${R.format(b.jobs, ",.0f")} jobs started` : "no job started"),
    },
    time: {
      key: "time_in_system_by_gang", term: "time-in-system-by-gang", mean: "mean_h", p95: "p95_h",
      jobs: (b) => (b ? `${R.format(b.finished, ",.0f")} of ${R.format(b.jobs, ",.0f")} jobs finished` : "no job"),
    },
  };

  /** The buckets' labels in the order the metrics list them (increasing gang). */
  function buckets(data, key) {
    const order = ["1", "2-8", "9-32", "33-128", "129-512", "513+"];
    const seen = new Set(data.policies.flatMap((p) => (p.metrics[key] || []).map((b) => b.gangs)));
    return order.filter((g) => seen.has(g));
  }

  /** A header cell with the glossary's definition of the table's term as a tooltip. */
  function head(label, data, id, cls) {
    const term = (data.glossary || []).find((t) => t.id === id);
    const th = R.el("th", null, cls ? { class: cls } : null);
    th.appendChild(term
      ? R.el("span", label, { class: "term", title: `${term.term}: ${term.definition}`, "data-term": term.id })
      : document.createTextNode(label));
    return th;
  }

  /** One row per gang-size bucket; per policy its mean and p95 (h), the jobs as a tooltip.
   * ``which``: "wait" or "time" (TABLES). */
  function drawTable(el, data, which) {
    const t = TABLES[which];
    const tr = R.el("tr");
    tr.appendChild(head("gang (devices)", data, t.term, "text"));
    for (const p of data.policies) {
      tr.appendChild(head(`${p.name}: mean (h)`, data, t.term));
      tr.appendChild(head("p95 (h)", data, t.term));
    }
    const thead = document.createElement("thead");
    thead.appendChild(tr);
    const body = document.createElement("tbody");
    for (const g of buckets(data, t.key)) {
      const row = R.el("tr", null, { "data-gangs": g });
      row.appendChild(R.el("td", g, { class: "text" }));
      for (const p of data.policies) {
        const b = (p.metrics[t.key] || []).find((x) => x.gangs === g);
        const tip = t.jobs(b);
        row.appendChild(R.el("td", b ? R.format(b[t.mean], ",.2f") : "–", { title: tip, "data-policy": p.name }));
        row.appendChild(R.el("td", b ? R.format(b[t.p95], ",.2f") : "–", { title: tip }));
      }
      body.appendChild(row);
    }
    el.replaceChildren(thead, body);
  }

  R.drawGangWaits = (el, data) => drawTable(el, data, "wait");
  R.drawGangTimes = (el, data) => drawTable(el, data, "time");

  /** The section: hidden when no policy's metrics have ``wait_by_gang``; the time in system
   * table within it hidden when none has ``time_in_system_by_gang`` (older metrics). */
  R.drawWaits = function (doc, data) {
    const has = (key) => data.kind !== "live" && data.policies.some((p) => (p.metrics[key] || []).length);
    const waits = has("wait_by_gang");
    doc.getElementById("waits-section").hidden = !waits;
    doc.getElementById("nav-waits").hidden = !waits;
    if (!waits) return;
    R.drawGangWaits(doc.getElementById("wait-table"), data);
    const times = has("time_in_system_by_gang");
    doc.getElementById("time-in-system").hidden = !times;
    if (times) R.drawGangTimes(doc.getElementById("time-table"), data);
  };
})(window.SuanliReport);
