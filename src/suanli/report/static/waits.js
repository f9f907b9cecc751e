/* suanli report: waiting by gang size — per gang-size bucket (``wait_by_gang`` of each
 * policy's metrics: "1", "2-8", "9-32", "33-128", "129-512", "513+"), every policy's mean and
 * p95 wait (first start − submit, jobs that started; docs/metrics.md). Hidden when no
 * policy's metrics carry the key (the live dashboard's). */
"use strict";
(function (R) {
  /** The buckets' labels in the order the metrics list them (increasing gang). */
  function buckets(data) {
    const order = ["1", "2-8", "9-32", "33-128", "129-512", "513+"];
    const seen = new Set(data.policies.flatMap((p) => (p.metrics.wait_by_gang || []).map((b) => b.gangs)));
    return order.filter((g) => seen.has(g));
  }

  /** A header cell with the glossary's definition of waiting by gang size as a tooltip. */
  function head(label, data, cls) {
    const term = (data.glossary || []).find((t) => t.id === "wait-by-gang");
    const th = R.el("th", null, cls ? { class: cls } : null);
    th.appendChild(term
      ? R.el("span", label, { class: "term", title: `${term.term}: ${term.definition}`, "data-term": term.id })
      : document.createTextNode(label));
    return th;
  }

  /** One row per gang-size bucket; per policy its mean and p95 wait (h), the jobs as a tooltip. */
  R.drawGangWaits = function (el, data) {
    const tr = R.el("tr");
    tr.appendChild(head("gang (devices)", data, "text"));
    for (const p of data.policies) {
      tr.appendChild(head(`${p.name}: mean (h)`, data));
      tr.appendChild(head("p95 (h)", data));
    }
    const thead = document.createElement("thead");
    thead.appendChild(tr);
    const body = document.createElement("tbody");
    for (const g of buckets(data)) {
      const row = R.el("tr", null, { "data-gangs": g });
      row.appendChild(R.el("td", g, { class: "text" }));
      for (const p of data.policies) {
        const b = (p.metrics.wait_by_gang || []).find((x) => x.gangs === g);
        const jobs = b ? `${R.format(b.jobs, ",.0f")} jobs started` : "no job started";
        row.appendChild(R.el("td", b ? R.format(b.mean_wait_h, ",.2f") : "–", { title: jobs, "data-policy": p.name }));
        row.appendChild(R.el("td", b ? R.format(b.p95_wait_h, ",.2f") : "–", { title: jobs }));
      }
      body.appendChild(row);
    }
    el.replaceChildren(thead, body);
  };

  /** The section: hidden when no policy's metrics have ``wait_by_gang``. */
  R.drawWaits = function (doc, data) {
    const has = data.kind !== "live" && data.policies.some((p) => (p.metrics.wait_by_gang || []).length);
    doc.getElementById("waits-section").hidden = !has;
    doc.getElementById("nav-waits").hidden = !has;
    if (has) R.drawGangWaits(doc.getElementById("wait-table"), data);
  };
})(window.SuanliReport);
