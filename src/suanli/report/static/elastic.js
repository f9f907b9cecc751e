/* suanli report: the elastic section — shown when some policy's run has elastic jobs: a
 * table of every policy's elastic figures (jobs resized, resizes and the hours they cost,
 * device-hours below, at and above the gang, goodput, throughput and their ratio), the
 * device-hours held by number of devices per policy, and for the selected policy the size
 * over time of the job it resized most often (its ``job_size``; docs/metrics.md). */
"use strict";
(function (R) {
  /** Whether some policy's run has elastic jobs. */
  R.hasElastic = function (data) {
    return data.kind !== "live" && data.policies.some((p) => R.get(p.metrics, "elastic.jobs") > 0);
  };

  /** A header cell with the glossary term ``id``'s definition as a tooltip. */
  function head(label, data, id, cls) {
    const term = (data.glossary || []).find((t) => t.id === id);
    const th = R.el("th", null, cls ? { class: cls } : null);
    th.appendChild(term
      ? R.el("span", label, { class: "term", title: `${term.term}: ${term.definition}`, "data-term": id })
      : document.createTextNode(label));
    return th;
  }

  function table(el, data, cols, rows) {
    const tr = R.el("tr");
    for (const [label, id, cls] of cols) tr.appendChild(head(label, data, id, cls));
    const thead = document.createElement("thead");
    thead.appendChild(tr);
    const body = document.createElement("tbody");
    for (const [attrs, cells] of rows) {
      const row = R.el("tr", null, attrs);
      cells.forEach((c, i) => row.appendChild(R.el("td", c, cols[i][2] ? { class: cols[i][2] } : null)));
      body.appendChild(row);
    }
    el.replaceChildren(thead, body);
  }

  /** One row per policy: its elastic jobs' figures. */
  R.drawElasticTable = function (el, data) {
    const cols = [
      ["policy", null, "text"], ["elastic jobs", "elastic-jobs"], ["resized", "elastic-jobs"],
      ["resizes", "preemptions"], ["lost (h)", "preemptions"], ["device-h below gang", "elastic-device-hours"],
      ["at gang", "elastic-device-hours"], ["above gang", "elastic-device-hours"],
      ["goodput PFLOP", "goodput-throughput"], ["throughput PFLOP", "goodput-throughput"],
      ["efficiency vs gang", "goodput-throughput"],
    ];
    const rows = data.policies.map((p) => {
      const m = p.metrics, e = m.elastic, h = e.device_hours;
      return [{ "data-policy": p.name }, [
        p.name, R.format(e.jobs, ",.0f"), R.format(e.resized_jobs, ",.0f"), R.format(m.resizes, ",.0f"),
        R.format(m.resize_lost_h, ",.1f"), R.format(h.below_gang, ",.1f"), R.format(h.at_gang, ",.1f"),
        R.format(h.above_gang, ",.1f"), R.format(e.goodput_pflop, ",.0f"), R.format(e.throughput_pflop, ",.0f"),
        R.format(e.efficiency_vs_gang, ".3f"),
      ]];
    });
    table(el, data, cols, rows);
  };

  /** One row per number of devices held, one column per policy: device-hours (jobs). */
  R.drawSizeTable = function (el, data) {
    const sizes = [...new Set(data.policies.flatMap((p) => p.metrics.device_hours_by_size.map((s) => s.devices)))]
      .sort((a, b) => a - b);
    const cols = [["devices held", "device-hours-by-size"],
      ...data.policies.map((p) => [`${p.name}: device-h (jobs)`, "device-hours-by-size"])];
    const rows = sizes.map((d) => [{ "data-devices": String(d) }, [
      R.format(d, d % 1 ? ",.3f" : ",.0f"),
      ...data.policies.map((p) => {
        const s = p.metrics.device_hours_by_size.find((x) => x.devices === d);
        return s ? `${R.format(s.device_hours, ",.1f")} (${R.format(s.jobs, ",.0f")})` : "–";
      }),
    ]]);
    table(el, data, cols, rows);
  };

  /** Devices held over the run by the selected policy's most resized job: a step per
   * stretch, its restarts (held, not computing) marked, its gang and range dotted. */
  R.drawJobSize = function (div, data, p) {
    const js = data.policies[p].job_size;
    div.hidden = !js;
    const note = div.previousElementSibling;
    if (note) note.textContent = js
      ? `Job ${js.job} of ${data.policies[p].name}: resized ${js.resizes} times, ${R.format(js.resize_lost_h, ",.2f")} h lost to resizes`
      : `${data.policies[p].name} resized no job.`;
    if (!js) return Promise.resolve();
    // a step line: joined where a stretch starts as the last ends (a resize), 0 between
    const x = [], y = [], rx = [], ry = [];
    for (const s of js.stretches) {
      const a = s.start_s / 3600, c = s.compute_s / 3600, e = s.end_s / 3600;
      if (x.length && a > x.at(-1)) { x.push(x.at(-1), a); y.push(0, 0); }
      x.push(a, e); y.push(s.devices, s.devices);
      if (c > a) { rx.push(a, c, c); ry.push(s.devices, s.devices, null); }
    }
    x.push(x.at(-1)); y.push(0);
    const end = Math.max(...js.stretches.map((s) => s.end_s / 3600));
    const line = (n, name, dash) => ({
      type: "scatter", mode: "lines", x: [0, end], y: [n, n], name, hoverinfo: "skip",
      line: { color: "#7f7f7f", width: 1, dash },
    });
    const traces = [
      { type: "scatter", mode: "lines", x, y, name: "devices held", line: { color: R.colour(0), width: 2.5 },
        hovertemplate: "%{y} devices at %{x:.2f} h<extra></extra>" },
      { type: "scatter", mode: "lines", x: rx, y: ry, name: "restarting", line: { color: R.colour(3), width: 6 },
        hovertemplate: "restarting at %{x:.2f} h<extra></extra>" },
      line(js.gang, `gang ${js.gang}`, "dash"),
      line(js.gang_min, `range ${js.gang_min}–${js.gang_max}`, "dot"),
      line(js.gang_max, null, "dot"),
    ];
    traces[4].showlegend = false;
    const layout = R.baseLayout({
      height: 320,
      xaxis: { title: { text: "hours from the start of the run" }, rangemode: "tozero" },
      yaxis: { title: { text: "devices held" }, rangemode: "tozero" },
      legend: R.SIDE_LEGEND,
    });
    return Plotly.react(div, traces, layout, R.PLOT_CONFIG);
  };

  /** The section: hidden without elastic jobs. */
  R.drawElastic = function (doc, data, p) {
    const has = R.hasElastic(data);
    doc.getElementById("elastic-section").hidden = !has;
    doc.getElementById("nav-elastic").hidden = !has;
    if (!has) return Promise.resolve();
    R.drawElasticTable(doc.getElementById("elastic-table"), data);
    R.drawSizeTable(doc.getElementById("size-table"), data);
    return R.drawJobSize(doc.getElementById("job-size"), data, p);
  };
})(window.SuanliReport);
