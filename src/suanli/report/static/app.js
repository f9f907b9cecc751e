/* suanli report: the page controller — owns the page's state (selected policy, map hour)
 * and redraws the views when the state or the report data document changes; a live
 * document (kind "live") also shows the queues, the decisions and the job pages. */
"use strict";
(function (R) {
  const count = (n, one, many) => `${n.toLocaleString("en")} ${n === 1 ? one : many}`;

  R.Report = class {
    constructor(doc) {
      const $ = (id) => doc.getElementById(id);
      this.doc = doc;
      this.policy = $("policy");
      this.hour = $("map-hour");
      this.hourLabel = $("map-hour-label");
      this.jobs = new R.JobsTable($("jobs"));
      this.data = null;
      this.updates = 0;
      this.policy.addEventListener("change", () => this.drawPolicy());
      this.baseline = $("baseline");
      this.baseline.addEventListener("change", () => this.drawSummary());
      this.hour.addEventListener("input", () => this.drawMap());
      window.addEventListener("hashchange", () => this.openJobFromHash());
    }

    get live() { return this.data !== null && this.data.kind === "live"; }

    /** Show or hide the live-only parts, and swap texts that differ in a live document. */
    setMode() {
      const live = this.live;
      for (const e of this.doc.querySelectorAll(".live-only")) e.hidden = !live;
      for (const e of this.doc.querySelectorAll("[data-live]")) {
        if (e.dataset.sim === undefined) e.dataset.sim = e.textContent;
        e.textContent = live ? e.dataset.live : e.dataset.sim;
      }
      this.policy.parentElement.hidden = live;
      this.doc.body.dataset.kind = this.data.kind;
    }

    /** ``#job=ID`` in the address opens that job's page (live) or history. */
    openJobFromHash() {
      const m = /(?:^#|&)job=([^&]+)/.exec(location.hash);
      if (m && this.data !== null) this.jobs.open(decodeURIComponent(m[1]));
    }

    /** The selected policy's index. */
    get p() {
      const i = this.data.policies.findIndex((x) => x.name === this.policy.value);
      return i < 0 ? 0 : i;
    }

    /** Show ``data`` (a report data document); can be called again with a newer one. */
    async update(data) {
      if (data.format !== "suanli-report-data" || data.version !== 1) {
        throw new Error(`unsupported report data: ${data.format} v${data.version}`);
      }
      const first = this.data === null;
      this.data = data;
      const doc = this.doc;
      doc.title = `suanli · ${data.title}`;
      doc.getElementById("title").textContent = data.title;
      const sc = data.scenario;
      this.setMode();
      const L = data.live;
      doc.getElementById("subtitle").textContent = L
        ? `policy ${L.policy} · updated ${L.now} · last ${L.window_h} h · ` +
          `${count(data.sites.length, "site", "sites")} · ${count(data.jobs.id.length, "job", "jobs")} listed`
        : `${sc.description ? sc.description + " · " : ""}from ${sc.start} · ${sc.horizon_h} h · ` +
          `${count(data.sites.length, "site", "sites")} · ${count(data.jobs.id.length, "job", "jobs")} · ` +
          count(data.policies.length, "policy", "policies");
      if (L) {
        doc.getElementById("viewer").textContent =
          L.viewer.role === "admin" ? "signed in as admin" : `signed in as tenant ${L.viewer.tenant}`;
        R.drawDecisions(doc.getElementById("decisions"), data);
      }
      const keep = this.policy.value;
      this.policy.replaceChildren(...data.policies.map((p) => R.el("option", p.name, { value: p.name })));
      // the page opens on the document's choice (suanli when it ran, else the best policy)
      const open = data.headline && data.policies.some((p) => p.name === data.headline.open_on)
        ? data.headline.open_on : data.policies[0].name;
      this.policy.value = data.policies.some((p) => p.name === keep) ? keep : open;
      const live = this.hour.value === this.hour.max && !first;
      this.hour.min = "-1";
      this.hour.max = String(data.time.length - 1);
      if (first) this.hour.value = this.live ? this.hour.max : "-1";
      else if (live) this.hour.value = this.hour.max;
      R.drawHeadline(doc.getElementById("headline"), data);
      this.drawSummary();
      R.drawGlossary(doc.getElementById("glossary"), data);
      await Promise.all([
        R.drawCdf(doc.getElementById("cdf"), data),
        R.drawFairness(doc.getElementById("fairness"), data),
        R.drawWaits(doc, data),
        this.drawPolicy(),
        L ? R.drawQueues(doc.getElementById("queues"), doc.getElementById("queue-table"), data) : null,
      ]);
      if (first) this.openJobFromHash();
      this.updates += 1;
      doc.body.dataset.updates = String(this.updates);
      doc.body.dataset.ready = "1";
    }

    /** Redraw the summary table against the selected baseline. */
    drawSummary() {
      const baseline = R.fillBaseline(this.baseline, this.data);
      R.drawSummary(this.doc.getElementById("summary-table"), this.data, baseline);
    }

    /** Redraw the views that show one policy. */
    drawPolicy() {
      const d = this.data, p = this.p;
      this.jobs.update(d, p);
      return Promise.all([
        this.drawMap(), R.drawSeries(this.doc.getElementById("series"), d, p),
        R.drawServices(this.doc, d, p),
        R.drawElastic(this.doc, d, p),
      ]);
    }

    drawMap() {
      const h = Number(this.hour.value);
      const last = h === this.data.time.length - 1;
      this.hourLabel.textContent = this.live
        ? (h < 0 ? "the window (mean utilisation)" : `${this.data.time[h]}${last ? " (latest)" : ""}`)
        : (h < 0 ? "whole run (mean utilisation)" : `hour ${h}: ${this.data.time[h]}`);
      R.drawSites(this.doc.getElementById("site-table"), this.data, this.p, h);
      return R.drawMap(this.doc.getElementById("map"), this.data, this.p, h);
    }
  };
})(window.SuanliReport);
