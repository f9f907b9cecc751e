/* suanli report: the SuanliReport namespace, number formatting and small DOM helpers.
 * Everything the page draws comes from one "report data" document (docs/report.md);
 * these helpers hold no state of their own. */
"use strict";
window.SuanliReport = window.SuanliReport || {};
(function (R) {
  /** Site colours, in site order (cycled past ten sites). */
  R.PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
               "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

  R.colour = function (i) { return R.PALETTE[i % R.PALETTE.length]; };

  function group(digits) {
    return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  }

  /** Format a number with a Python format spec of the form "[,].N(f|%)"; null → "–". */
  R.format = function (value, spec) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    const m = /^(,?)\.(\d+)([f%])$/.exec(spec);
    if (!m) return String(value);
    let v = m[3] === "%" ? value * 100 : value;
    let s = Math.abs(v).toFixed(Number(m[2]));
    if (m[1]) {
      const [whole, frac] = s.split(".");
      s = group(whole) + (frac !== undefined ? "." + frac : "");
    }
    const negative = v < 0 && Number(s.replace(/,/g, "")) !== 0;
    return (negative ? "-" : "") + s + (m[3] === "%" ? "%" : "");
  };

  /** The value at a dotted path ("jct_h.mean") of an object, or null. */
  R.get = function (obj, path) {
    let v = obj;
    for (const k of path.split(".")) {
      if (v === null || v === undefined) return null;
      v = v[k];
    }
    return v === undefined ? null : v;
  };

  /** Hours with 3 decimals from seconds; "" for null. */
  R.hours = function (s) {
    return s === null || s === undefined ? "" : (s / 3600).toFixed(3);
  };

  /** Create an element with optional text and attributes. */
  R.el = function (tag, text, attrs) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    return e;
  };

  /** Text of the embedded payload ``id`` (null when the page has none). */
  R.payload = async function (id) {
    const el = document.getElementById(id);
    if (!el) return null;
    const text = el.textContent.trim();
    if (el.dataset.encoding === "json") return text;
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  };

  /** Run plotly.js from the page's ``plotly-js`` payload, unless it is loaded already. */
  R.loadPlotly = async function () {
    if (window.Plotly) return;
    const js = await R.payload("plotly-js");
    if (js === null) throw new Error("plotly.js is missing from the page");
    const s = document.createElement("script");
    s.textContent = js;
    document.head.appendChild(s);
  };

  /** Plotly axes for a lon/lat plane around ``sites`` (objects with ``lat`` and ``lon``),
   * scaled like an equirectangular projection at their mean latitude (no map tiles). */
  R.lonLatAxes = function (sites) {
    const lats = sites.map((s) => s.lat), lons = sites.map((s) => s.lon);
    const lat0 = (Math.min(...lats) + Math.max(...lats)) / 2;
    const pad = (lo, hi, top) => {
      const d = Math.max(2, (hi - lo) * 0.12);
      return [lo - d, hi + d * (top ? 1.6 : 1)];
    };
    return {
      xaxis: { title: { text: "longitude (°E)" }, range: pad(Math.min(...lons), Math.max(...lons)),
               zeroline: false, constrain: "domain" },
      yaxis: { title: { text: "latitude (°N)" }, range: pad(Math.min(...lats), Math.max(...lats), true),
               scaleanchor: "x", scaleratio: 1 / Math.cos((lat0 * Math.PI) / 180), zeroline: false },
    };
  };

  /** Plotly config shared by every chart: no logo, no links out, responsive. */
  R.PLOT_CONFIG = { displaylogo: false, responsive: true, showLink: false,
                    modeBarButtonsToRemove: ["sendDataToCloud", "select2d", "lasso2d"] };

  /** Layout defaults shared by every chart. */
  R.baseLayout = function (extra) {
    return Object.assign({
      margin: { l: 60, r: 20, t: 30, b: 50 },
      font: { family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12 },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#fbfbfd",
      hoverlabel: { namelength: -1 },
    }, extra);
  };
})(window.SuanliReport);
