/* suanli report: the views only a live document has — queues per tenant, the policy's
 * recent decisions, and a job's page (its history fetched from the API with the tab's
 * token). Drawn from the document's ``live`` part (docs/report.md). */
"use strict";
(function (R) {
  const QUEUE_COLS = [
    ["queued", "queued", "#9aa4b5"], ["starting", "starting", "#f0ad4e"],
    ["running", "running", "#2ca02c"], ["unknown", "unknown", "#d62728"],
  ];

  /** Stacked bars of each tenant's jobs by state, and the same as a table. */
  R.drawQueues = function (div, table, data) {
    const rows = data.live.queues;
    const tenants = rows.map((q) => q.tenant);
    const traces = QUEUE_COLS.map(([key, label, colour]) => ({
      type: "bar", orientation: "h", name: label, y: tenants, x: rows.map((q) => q[key]),
      marker: { color: colour }, hovertemplate: `%{y}: %{x} ${label}<extra></extra>`,
    }));
    const layout = R.baseLayout({
      height: Math.max(220, 70 + 34 * rows.length), barmode: "stack",
      margin: { l: 140, r: 20, t: 30, b: 40 },
      xaxis: { title: { text: "jobs" }, rangemode: "tozero" },
      yaxis: { automargin: true, autorange: "reversed" },
      legend: { ...R.SIDE_LEGEND, traceorder: "normal" },
    });
    const head = R.el("tr");
    for (const label of ["tenant", ...QUEUE_COLS.map((c) => c[1]), "devices held"]) {
      head.appendChild(R.el("th", label, label === "tenant" ? { class: "text" } : null));
    }
    const body = document.createElement("tbody");
    for (const q of rows) {
      const tr = R.el("tr", null, { "data-tenant": q.tenant });
      tr.appendChild(R.el("td", q.tenant, { class: "text" }));
      for (const [key] of QUEUE_COLS) tr.appendChild(R.el("td", R.format(q[key], ",.0f"), { "data-key": key }));
      tr.appendChild(R.el("td", R.format(q.devices_held, ",.0f"), { "data-key": "devices_held" }));
      body.appendChild(tr);
    }
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  function jobLink(id) {
    return R.el("a", `#${id}`, { href: `#job=${id}`, "data-job": String(id) });
  }

  /** The newest decisions: when, which job, what, where, why. */
  R.drawDecisions = function (table, data) {
    const head = R.el("tr");
    for (const label of ["time", "job", "action", "where", "detail"]) head.appendChild(R.el("th", label));
    const body = document.createElement("tbody");
    for (const d of data.live.decisions) {
      const tr = R.el("tr", null, { "data-decision": String(d.id), "data-action": d.action });
      tr.appendChild(R.el("td", d.at));
      const cell = R.el("td");
      cell.appendChild(jobLink(d.job));
      tr.appendChild(cell);
      tr.appendChild(R.el("td", d.action));
      tr.appendChild(R.el("td", d.site ? `${d.site}${d.pool ? " · " + d.pool : ""}${d.devices ? " × " + d.devices : ""}` : ""));
      tr.appendChild(R.el("td", d.detail));
      body.appendChild(tr);
    }
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
    table.dataset.count = String(data.live.decisions.length);
  };

  let wanted = null;

  /** ``iso`` (an ISO 8601 time from the API) as "YYYY-MM-DD HH:MM:SS" in the time zone of
   * the document's ``live.now``, as every other time on the page. */
  R.localTime = function (data, iso) {
    const m = /([+-])(\d\d):(\d\d)$/.exec(data.live.now);
    const offset = m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) : 0;
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return iso;
    return new Date(t + offset * 60000).toISOString().slice(0, 19).replace("T", " ");
  };

  /** A job's page in ``detail``: what the document says of it, then its history and the
   * policy's decisions about it, fetched from the API. */
  R.jobPage = async function (detail, data, id, facts, listed) {
    wanted = id;
    const title = R.el("h3", `job ${id}`);
    const info = R.el("ul");
    for (const f of facts) info.appendChild(R.el("li", f));
    const status = R.el("p", "loading its history…", { class: "muted" });
    detail.replaceChildren(title, info, status);
    detail.hidden = false;
    detail.dataset.job = String(id);
    delete detail.dataset.loaded;
    let job, events, decisions;
    try {
      [job, events, decisions] = await Promise.all([
        R.api(`/v1/jobs/${id}`), R.api(`/v1/jobs/${id}/events`),
        R.api(`/v1/decisions?job_id=${id}&limit=50`),
      ]);
    } catch (err) {
      if (wanted === id) status.textContent = `could not load job ${id}: ${err.message}`;
      return;
    }
    if (wanted !== id) return;
    title.textContent = `job ${id}${job.name ? " · " + job.name : ""} · ${job.state}`;
    const when = (iso) => R.localTime(data, iso);
    const more = [`tenant ${job.tenant}`, `submitted ${when(job.submitted_at)}`];
    if (!listed && job.site) more.push(`at ${job.pool || job.site}${job.devices ? " × " + job.devices : ""}`);
    if (job.reason) more.push(`now: ${job.reason}`);
    info.replaceChildren(...[...facts, ...more].map((f) => R.el("li", f)));
    const history = R.el("ol", null, { class: "history" });
    for (const e of events) history.appendChild(R.el("li", `${when(e.at)} · ${e.state}${e.message ? ": " + e.message : ""}`));
    const decided = R.el("ol", null, { class: "decisions" });
    for (const d of decisions) {
      decided.appendChild(R.el("li", `${when(d.at)} · ${d.action}${d.site ? " at " + d.site : ""}${d.detail ? ": " + d.detail : ""}`));
    }
    status.remove();
    detail.append(R.el("h3", "history"), history, R.el("h3", "decisions, newest first"), decided);
    detail.dataset.loaded = "1";
  };
})(window.SuanliReport);
