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

  /** Units of durations: name and size in hours. */
  const SECOND = ["s", 1 / 3600], MINUTE = ["min", 1 / 60], HOUR = ["h", 1];

  /** The unit for durations of about ``hours``: seconds under a minute, minutes under an
   * hour, else hours. */
  R.timeUnit = function (hours) {
    const h = Math.abs(hours);
    return h < 1 / 60 ? SECOND : h < 1 ? MINUTE : HOUR;
  };

  /** ``v`` with at most ``digits`` decimals (trailing zeros dropped), thousands grouped. */
  function decimals(v, digits) {
    return v.toLocaleString("en", { maximumFractionDigits: digits, useGrouping: true });
  }

  /** A duration given in hours as text in the unit its size calls for, to 3 significant
   * digits (whole numbers from 100): "42 s", "7.5 min", "1.25 h", "320 h"; null → "–". */
  R.duration = function (hours) {
    if (hours === null || hours === undefined || Number.isNaN(hours)) return "–";
    const [unit, size] = R.timeUnit(hours);
    const v = hours / size;
    return `${Math.abs(v) >= 100 ? decimals(Math.round(v), 0) : decimals(Number(v.toPrecision(3)), 6)} ${unit}`;
  };

  /** Round durations for the ticks of a log time axis, in hours: 1, 2, 5 × 10ᵏ seconds
   * under a minute, then 1, 2, 5, 10, 20, 30 minutes, then 1, 2, 5 × 10ᵏ hours. */
  const LOG_TICKS = (() => {
    const out = [];  // [value, unit, major: thinned to these over many decades]
    for (let k = -3; k <= 0; k++) for (const m of [1, 2, 5]) out.push([m * 10 ** k, SECOND, m === 1]);
    out.push([10, SECOND, true], [20, SECOND, false], [30, SECOND, false]);
    for (const m of [1, 2, 5, 10, 20, 30]) out.push([m, MINUTE, m === 1 || m === 10]);
    for (let k = 0; k <= 7; k++) for (const m of [1, 2, 5]) out.push([m * 10 ** k, HOUR, m === 1]);
    return out.map(([v, [unit, size], major]) => ({ h: v * size, text: `${decimals(v, 3)} ${unit}`, major }));
  })();

  /** A 1-2-5 step near ``x`` (> 0). */
  function niceStep(x) {
    const p = 10 ** Math.floor(Math.log10(x));
    const m = x / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
  }

  /** Ticks of a time axis over ``[lo, hi]`` hours (a log axis when ``log``), each label
   * with its unit: ``{tickvals, ticktext}`` (values in hours). A log axis gets round
   * durations ("30 s", "5 min", "2 h"), each in its own unit; a linear one (or a log one
   * too narrow for three of those) evenly spaced values in the unit of the larger end. */
  R.timeTicks = function (lo, hi, log) {
    if (!(hi > lo)) return { tickvals: [lo], ticktext: [R.duration(lo)] };
    const within = log ? LOG_TICKS.filter((t) => t.h >= lo * (1 - 1e-9) && t.h <= hi * (1 + 1e-9)) : [];
    if (within.length >= 3) {
      let ticks = within.length > 9 ? within.filter((t) => t.major) : within;
      if (ticks.length > 9) ticks = ticks.filter((_, i) => i % Math.ceil(ticks.length / 8) === 0);
      return { tickvals: ticks.map((t) => t.h), ticktext: ticks.map((t) => t.text) };
    }
    const [unit, size] = R.timeUnit(Math.max(Math.abs(lo), Math.abs(hi)));
    const step = niceStep((hi - lo) / size / 5);
    const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    const tickvals = [], ticktext = [];
    for (let k = Math.ceil(lo / size / step - 1e-9); k * step <= hi / size * (1 + 1e-9); k++) {
      const v = Number((k * step).toFixed(digits));
      tickvals.push(v * size);
      ticktext.push(`${decimals(v, digits)} ${unit}`);
    }
    return { tickvals, ticktext };
  };

  /** Keep the ticks of time axis ``axis`` ("xaxis", "yaxis2", …) of the chart in ``div``
   * in step with its range when it is zoomed or reset (values in hours; see
   * :func:`timeTicks`). Call after each draw; listens once. */
  R.followTimeTicks = function (div, axis, log) {
    if (div.dataset.timeTicks === axis) return;
    div.dataset.timeTicks = axis;
    div.on("plotly_relayout", (ev) => {
      if (!Object.keys(ev).some((k) => k.startsWith(`${axis}.range`) || k === `${axis}.autorange`)) return;
      const r = div.layout[axis].range;
      if (!r) return;
      const [lo, hi] = log ? r.map((x) => 10 ** x) : r;
      const t = R.timeTicks(lo, hi, log);
      Plotly.relayout(div, { [`${axis}.tickvals`]: t.tickvals, [`${axis}.ticktext`]: t.ticktext });
    });
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

  /** An axis of a share (0–1, e.g. utilisation) shown as percentages with as many decimals
   * as its ticks need ("0.05%", not a row of "0%" when the share is small). */
  R.SHARE_AXIS = { tickformat: "~%", rangemode: "tozero", autorangeoptions: { clipmax: 1 } };

  /** A legend to the right of the plot, from the top of the plot area down: clear of the
   * tool bar (Plotly's modebar), which sits in the top margin at the right. */
  R.SIDE_LEGEND = { orientation: "v", x: 1.02, xanchor: "left", y: 1, yanchor: "top" };

  /** Layout defaults shared by every chart: numbers on every axis as plain numbers, never
   * with SI prefixes ("279μ", "2m"). Keep the top margin ≥ 30 px: the modebar is 25 px. */
  R.baseLayout = function (extra) {
    const plain = { exponentformat: "none", separatethousands: true };
    return Object.assign({
      margin: { l: 60, r: 20, t: 30, b: 50 },
      font: { family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12 },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#fbfbfd",
      hoverlabel: { namelength: -1 },
      template: { layout: { xaxis: plain, yaxis: plain } },
    }, extra);
  };
})(window.SuanliReport);
