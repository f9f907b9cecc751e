/* suanli report: the jobs table — search, filters, sorting and paging over the column-wise
 * jobs of the report data document (tens of thousands of rows: only one page is in the
 * DOM at a time), and the history of the job clicked. */
"use strict";
(function (R) {
  const PAGE = 50;

  /** Local clock time ("YYYY-MM-DD HH:MM:SS") of a time in seconds from the start. */
  R.clock = function (data, s) {
    if (s === null || s === undefined) return "";
    const t0 = Date.parse(data.time[0].replace(" ", "T") + ":00Z");
    return new Date(t0 + s * 1000).toISOString().slice(0, 19).replace("T", " ");
  };

  function columns(data, P) {
    const J = data.jobs;
    const name = (list, i) => (i >= 0 && list[i] !== undefined ? (list[i].id || list[i]) : "");
    const num = (v) => (v === null || v === undefined ? null : v);
    const rho = (r) => (P.jct_s[r] === null || !J.alone_s[r] ? null : P.jct_s[r] / J.alone_s[r]);
    const named = J.name ? [{ key: "name", label: "name", sort: (r) => J.name[r], text: (r) => J.name[r] }] : [];
    return [
      { key: "job", label: "job", sort: (r) => (J.db_id ? J.db_id[r] : J.id[r]), text: (r) => J.id[r] },
      ...named,
      { key: "tenant", label: "tenant", sort: (r) => name(data.tenants, J.tenant[r]),
        text: (r) => name(data.tenants, J.tenant[r]) },
      { key: "kind", label: "kind", sort: (r) => J.kinds[J.kind[r]], text: (r) => J.kinds[J.kind[r]] },
      { key: "gang", label: "gang", sort: (r) => J.gang[r], text: (r) => J.gang[r], num: true },
      { key: "submit", label: "submit (h)", sort: (r) => J.submit_s[r], text: (r) => R.hours(J.submit_s[r]), num: true },
      { key: "wait", label: "wait (h)", sort: (r) => num(P.wait_s[r]), text: (r) => R.hours(P.wait_s[r]), num: true },
      { key: "jct", label: "JCT (h)", sort: (r) => num(P.jct_s[r]), text: (r) => R.hours(P.jct_s[r]), num: true },
      { key: "site", label: "site", sort: (r) => name(data.sites, P.site[r]), text: (r) => name(data.sites, P.site[r]) },
      { key: "accelerator", label: "accelerator", sort: (r) => name(data.accelerators, P.accelerator[r]),
        text: (r) => name(data.accelerators, P.accelerator[r]) },
      { key: "devices", label: "devices", sort: (r) => P.devices[r], text: (r) => (P.site[r] >= 0 ? P.devices[r] : ""), num: true },
      { key: "preemptions", label: "preempt.", sort: (r) => P.preemptions[r], text: (r) => P.preemptions[r], num: true },
      { key: "status", label: "status", sort: (r) => P.status[r], text: (r) => P.statuses[P.status[r]] },
      { key: "rho", label: "ρ", sort: rho, text: (r) => { const v = rho(r); return v === null ? "" : v.toFixed(2); }, num: true },
      { key: "why", label: "why waiting", sort: (r) => (P.reason[r] >= 0 ? P.reasons[P.reason[r]] : ""),
        text: (r) => (P.reason[r] >= 0 ? P.reasons[P.reason[r]] : "") },
    ];
  }

  function fillSelect(select, options) {
    const keep = select.value;
    const first = select.options[0];
    select.replaceChildren(first);
    for (const [value, label] of options) select.appendChild(R.el("option", label, { value: String(value) }));
    select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
  }

  R.JobsTable = class {
    constructor(root) {
      const $ = (sel) => root.querySelector(sel);
      this.search = $("#jobs-search");
      this.status = $("#jobs-status");
      this.tenant = $("#jobs-tenant");
      this.site = $("#jobs-site");
      this.table = $("#jobs-table");
      this.count = $("#jobs-count");
      this.prev = $("#jobs-prev");
      this.next = $("#jobs-next");
      this.detail = $("#job-detail");
      this.page = 0;
      this.sortKey = null;
      this.sortDir = 1;
      this.matches = [];
      this.selected = null;
      let timer = null;
      this.search.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => this.refilter(), 120);
      });
      for (const s of [this.status, this.tenant, this.site]) s.addEventListener("change", () => this.refilter());
      this.prev.addEventListener("click", () => this.show(this.page - 1));
      this.next.addEventListener("click", () => this.show(this.page + 1));
    }

    /** Show policy ``p`` of ``data`` (keeps the search, filters, sort and page). */
    update(data, p) {
      const keep = this.selected !== null && this.data ? this.data.jobs.id[this.selected] : null;
      if (!this.data && data.kind === "live") {  // a running system: newest jobs first
        this.sortKey = "job";
        this.sortDir = -1;
      }
      this.data = data;
      if (keep !== null) {
        const r = data.jobs.id.indexOf(keep);
        this.selected = r >= 0 ? r : null;
      }
      this.P = data.policies[p].jobs;
      this.cols = columns(data, this.P);
      const pl = data.policies[p].placements;
      this.history = new Map();
      pl.job.forEach((r, i) => {
        if (!this.history.has(r)) this.history.set(r, []);
        this.history.get(r).push(i);
      });
      this.placements = pl;
      fillSelect(this.status, this.P.statuses.map((s, i) => [i, s]));
      fillSelect(this.tenant, data.tenants.map((t, i) => [i, t.id]));
      fillSelect(this.site, data.sites.map((s, i) => [i, s.id]));
      this.header();
      this.refilter(true);
    }

    header() {
      const tr = R.el("tr");
      for (const c of this.cols) {
        const arrow = c.key === this.sortKey ? (this.sortDir > 0 ? " ▲" : " ▼") : "";
        const th = R.el("th", c.label + arrow, { "data-key": c.key, class: c.num ? "num" : "" });
        th.addEventListener("click", () => {
          this.sortDir = this.sortKey === c.key ? -this.sortDir : 1;
          this.sortKey = c.key;
          this.header();
          this.refilter(true);
        });
        tr.appendChild(th);
      }
      const thead = document.createElement("thead");
      thead.appendChild(tr);
      const old = this.table.querySelector("thead");
      if (old) old.replaceWith(thead); else this.table.prepend(thead);
    }

    /** Recompute the matching rows from the search box and the filters. */
    refilter(keepPage) {
      const d = this.data, J = d.jobs, P = this.P;
      const q = this.search.value.trim().toLowerCase();
      const st = this.status.value === "" ? -1 : Number(this.status.value);
      const tn = this.tenant.value === "" ? -1 : Number(this.tenant.value);
      const si = this.site.value === "" ? -1 : Number(this.site.value);
      const hit = (list) => list.map((x) => String(x.id || x).toLowerCase().includes(q));
      const tenantHit = hit(d.tenants), kindHit = hit(J.kinds), siteHit = hit(d.sites);
      const accHit = hit(d.accelerators), reasonHit = hit(P.reasons), statusHit = hit(P.statuses);
      const out = [];
      for (let r = 0; r < J.id.length; r++) {
        if (st >= 0 && P.status[r] !== st) continue;
        if (tn >= 0 && J.tenant[r] !== tn) continue;
        if (si >= 0 && P.site[r] !== si) continue;
        if (q && !(J.id[r].toLowerCase().includes(q) || (J.name && J.name[r].toLowerCase().includes(q)) || tenantHit[J.tenant[r]] || kindHit[J.kind[r]] ||
            (P.site[r] >= 0 && siteHit[P.site[r]]) || (P.accelerator[r] >= 0 && accHit[P.accelerator[r]]) ||
            (P.reason[r] >= 0 && reasonHit[P.reason[r]]) || statusHit[P.status[r]])) continue;
        out.push(r);
      }
      const col = this.cols.find((c) => c.key === this.sortKey);
      if (col) {
        const key = out.map(col.sort);
        const order = out.map((_, i) => i);
        const dir = this.sortDir;
        order.sort((a, b) => {
          const x = key[a], y = key[b];
          if (x === y) return out[a] - out[b];
          if (x === null) return 1;
          if (y === null) return -1;
          return (x < y ? -1 : 1) * dir;
        });
        this.matches = order.map((i) => out[i]);
      } else {
        this.matches = out;
      }
      this.table.dataset.query = this.search.value;
      this.show(keepPage ? this.page : 0);
    }

    /** Show page ``n`` of the matching rows. */
    show(n) {
      const pages = Math.max(1, Math.ceil(this.matches.length / PAGE));
      this.page = Math.min(Math.max(0, n), pages - 1);
      const from = this.page * PAGE;
      const rows = this.matches.slice(from, from + PAGE);
      const body = document.createElement("tbody");
      for (const r of rows) {
        const tr = R.el("tr", null, { "data-row": String(r) });
        if (r === this.selected) tr.classList.add("selected");
        for (const c of this.cols) tr.appendChild(R.el("td", c.text(r), c.num ? { class: "num" } : null));
        tr.addEventListener("click", () => this.select(r, true));
        body.appendChild(tr);
      }
      const old = this.table.querySelector("tbody");
      if (old) old.replaceWith(body); else this.table.appendChild(body);
      const total = this.data.jobs.id.length;
      const shown = rows.length ? `${(from + 1).toLocaleString("en")}–${(from + rows.length).toLocaleString("en")}` : "0";
      this.count.textContent = `${shown} of ${this.matches.length.toLocaleString("en")} matching jobs` +
        (this.matches.length !== total ? ` (${total.toLocaleString("en")} in all)` : "") +
        ` · page ${this.page + 1} of ${pages}`;
      this.prev.disabled = this.page === 0;
      this.next.disabled = this.page >= pages - 1;
      if (this.selected !== null && this.selected < total) this.select(this.selected);
    }

    /** Open the job with id ``id`` (a deep link, ``#job=ID``): turn the table to the page
     * with its row — clearing the search and filters if they hide it —, select it and
     * scroll it into view; a live job that is not listed gets its page below the table. */
    open(id) {
      const r = this.data.jobs.id.indexOf(String(id));
      if (r >= 0) {
        if (!this.matches.includes(r)) {
          for (const e of [this.search, this.status, this.tenant, this.site]) e.value = "";
          this.refilter();
        }
        this.show(Math.floor(this.matches.indexOf(r) / PAGE));
        this.select(r, true);
        const tr = this.table.querySelector(`tbody tr[data-row="${r}"]`);
        if (tr) tr.scrollIntoView({ block: "center" });
      } else if (this.data.kind === "live") {
        this.selected = null;
        R.jobPage(this.detail, this.data, String(id), ["not among the listed jobs"], false);
        this.detail.scrollIntoView({ block: "nearest" });
      }
    }

    /** Show the history of job row ``r`` below the table (a live job's page: fetched
     * from the API when ``fetch`` or when another job was shown). */
    select(r, fetch) {
      const again = this.selected === r;
      this.selected = r;
      for (const tr of this.table.querySelectorAll("tbody tr")) {
        tr.classList.toggle("selected", Number(tr.dataset.row) === r);
      }
      const d = this.data, J = d.jobs, P = this.P, pl = this.placements;
      if (d.kind === "live") {
        const id = J.id[r];
        if (location.hash !== `#job=${id}`) history.replaceState(null, "", `#job=${id}`);
        if (again && !fetch && this.detail.dataset.job === id) return;
        const where = P.site[r] >= 0
          ? `${d.sites[P.site[r]].id} · ${d.accelerators[P.accelerator[r]]} × ${P.devices[r]}` : "not placed";
        R.jobPage(this.detail, d, id, [
          `${J.kinds[J.kind[r]]} (${J.profiles[J.profile[r]]}), gang ${J.gang[r]}, ${P.statuses[P.status[r]]}`,
          where,
          ...(P.reason[r] >= 0 ? [`waiting: ${P.reasons[P.reason[r]]}`] : []),
        ], true);
        return;
      }
      const when = (s) => R.clock(d, s);
      const lines = [];
      const submit = J.submit_s[r];
      lines.push(`submitted ${when(submit)} by ${d.tenants[J.tenant[r]].id}: ${J.kinds[J.kind[r]]} ` +
        `(${J.profiles[J.profile[r]]}), gang ${J.gang[r]}`);
      const stretches = this.history.get(r);
      if (stretches) {
        for (const i of stretches) {
          const where = `${d.sites[pl.site[i]].id} · ${d.accelerators[pl.accelerator[i]]} × ${pl.devices[i]}`;
          const prep = pl.compute_start_s[i] > pl.start_s[i]
            ? `, computing from ${when(pl.compute_start_s[i])} (after data transfer or restart)` : "";
          const end = pl.end_s[i] === null ? "still running at the end"
            : `until ${when(pl.end_s[i])}: ${pl.end[i] >= 0 ? pl.ends[pl.end[i]] : ""}`;
          lines.push(`ran on ${where} from ${when(pl.start_s[i])}${prep} ${end}`);
        }
      } else if (P.wait_s[r] !== null) {
        const where = `${d.sites[P.site[r]].id} · ${d.accelerators[P.accelerator[r]]} × ${P.devices[r]}`;
        const end = P.jct_s[r] === null ? "still running at the end" : `until ${when(submit + P.jct_s[r])}: finished`;
        lines.push(`ran on ${where} from ${when(submit + P.wait_s[r])} ${end}`);
      }
      if (P.reason[r] >= 0) lines.push(`waiting: ${P.reasons[P.reason[r]]}`);
      if (P.statuses[P.status[r]] === "never startable") lines.push("never startable: no pool in the fleet can run it");
      const list = R.el("ol");
      for (const l of lines) list.appendChild(R.el("li", l));
      this.detail.replaceChildren(R.el("h3", `${J.id[r]} · ${P.statuses[P.status[r]]}`), list);
      this.detail.hidden = false;
    }
  };
})(window.SuanliReport);
