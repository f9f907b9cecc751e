/* suanli plan page: the page controller and start-up. Unpacks the plan data document and
 * plotly.js from the page's embedded payloads (gzip + base64, unpacked with the browser's
 * DecompressionStream), refuses a document of another format or version, draws the
 * comparison when there is one and the selected plan's views; the plan selector redraws
 * them. Sets body[data-ready] when drawn, body[data-error] (and shows #error) when
 * something failed. */
"use strict";
(function (P, R) {
  /** Refuse a document of another format or version. */
  function check(data) {
    if (data.format !== "suanli-plan-data" || data.version !== 1) {
      throw new Error(`unsupported plan data: ${data.format} v${data.version}`);
    }
  }

  P.Page = class {
    constructor(doc) {
      this.doc = doc;
      this.select = doc.getElementById("plan");
      this.pools = new P.PoolTable(doc.getElementById("pool-table"), doc.getElementById("pools-changed"));
      this.data = null;
      this.select.addEventListener("change", () => this.drawPlan());
    }

    /** The selected plan's index. */
    get p() {
      const i = this.data.plans.findIndex((e) => e.name === this.select.value);
      return i < 0 ? 0 : i;
    }

    /** Show ``data`` (a plan data document). */
    async show(data) {
      check(data);
      this.data = data;
      const $ = (id) => this.doc.getElementById(id);
      this.doc.title = `suanli · ${data.title}`;
      $("title").textContent = data.title;
      this.select.replaceChildren(...data.plans.map((e) => R.el("option", e.name, { value: e.name })));
      const compared = data.kind === "comparison";
      for (const id of ["comparison", "nav-comparison", "plan-choice"]) $(id).hidden = !compared;
      const charts = [];
      if (compared) {
        P.drawComparePages($("compare-pages"), data);
        charts.push(P.drawCompareVendors($("compare-vendors"), data),
                    P.drawCompareCost($("compare-cost"), data));
      }
      await Promise.all([...charts, this.drawPlan()]);
      this.doc.body.dataset.ready = "1";
    }

    /** Select plan ``i`` and redraw its views. */
    choose(i) {
      this.select.value = this.data.plans[i].name;
      return this.drawPlan();
    }

    /** Redraw the views of the selected plan (and mark it in the comparison table). */
    drawPlan() {
      const d = this.data, e = d.plans[this.p], plan = e.plan, $ = (id) => this.doc.getElementById(id);
      const gap = plan.mip_gap === null ? "" : ` (gap ${plan.mip_gap.toExponential(1)})`;
      const [rows, cols, ints] = plan.model_size;
      $("subtitle").textContent =
        `${plan.scenario} · ${plan.objective} · ${plan.horizon_years} years · ${plan.status}${gap} · ` +
        `${rows.toLocaleString("en")} rows × ${cols.toLocaleString("en")} columns ` +
        `(${ints.toLocaleString("en")} integer) · amounts in ${plan.currency}`;
      $("plan-name").textContent = d.kind === "comparison" ? `of ${e.name}` : "";
      if (d.kind === "comparison") P.drawCompareTable($("compare-table"), d, this.p, (i) => this.choose(i));
      P.drawHeadline($("headline"), d, e);
      P.drawNotes($("notes"), e);
      P.drawSites($("site-table"), d, e);
      this.pools.update(d, e);
      P.drawClasses($("class-table"), d, e);
      P.drawBinding($("binding"), e);
      return Promise.all([
        P.drawMap($("map"), d, e), P.drawDevices($("devices-chart"), d, e), P.drawCost($("cost-chart"), d, e),
      ]);
    }
  };

  function fail(err) {
    const box = document.getElementById("error");
    box.textContent = `The plan could not be shown: ${err && err.message ? err.message : err}`;
    box.hidden = false;
    document.body.dataset.error = "1";
  }

  async function start() {
    const t0 = performance.now();
    const text = await R.payload("suanli-plan-data");
    if (text === null) throw new Error("the plan data document is missing from the page");
    const data = JSON.parse(text);
    check(data);
    await R.loadPlotly();
    await new P.Page(document).show(data);
    document.body.dataset.timings = JSON.stringify({ total_ms: Math.round(performance.now() - t0) });
  }

  window.addEventListener("DOMContentLoaded", () => { start().catch(fail); });
})(window.SuanliPlan, window.SuanliReport);
