/* suanli report: start-up. Loads plotly.js and the report data document from the page's
 * embedded payloads (gzip + base64, unpacked with the browser's DecompressionStream), or —
 * when the page names a data URL in <meta name="suanli-data-url"> — fetches the document
 * from there and polls it every <meta name="suanli-poll-s"> seconds (the live dashboard). */
"use strict";
(function (R) {
  /** Text of the embedded payload ``id`` (null when the page has none). */
  async function payload(id) {
    const el = document.getElementById(id);
    if (!el) return null;
    const text = el.textContent.trim();
    if (el.dataset.encoding === "json") return text;
    const bin = atob(text);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  function meta(name) {
    const m = document.querySelector(`meta[name="${name}"]`);
    return m ? m.content : null;
  }

  function fail(err) {
    const box = document.getElementById("error");
    box.textContent = `The report could not be shown: ${err && err.message ? err.message : err}`;
    box.hidden = false;
    document.body.dataset.error = "1";
  }

  async function start() {
    const t0 = performance.now();
    const timings = {};
    const lap = (name, since) => { timings[name] = Math.round(performance.now() - since); };
    if (!window.Plotly) {
      const js = await payload("plotly-js");
      if (js === null) throw new Error("plotly.js is missing from the page");
      const s = document.createElement("script");
      s.textContent = js;
      document.head.appendChild(s);
    }
    lap("plotly_ms", t0);
    const report = new R.Report(document);
    const url = meta("suanli-data-url");
    if (url === null) {
      const t1 = performance.now();
      const data = JSON.parse(await payload("suanli-data"));
      lap("data_ms", t1);
      const t2 = performance.now();
      await report.update(data);
      lap("draw_ms", t2);
    } else {
      const poll = Number(meta("suanli-poll-s") || "10");
      const fetchData = async () => {
        const r = await fetch(url, { cache: "no-store", credentials: "same-origin" });
        if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
        return r.json();
      };
      await report.update(await fetchData());
      setInterval(() => fetchData().then((d) => report.update(d)).catch(fail), poll * 1000);
    }
    lap("total_ms", t0);
    document.body.dataset.timings = JSON.stringify(timings);
  }

  window.addEventListener("DOMContentLoaded", () => { start().catch(fail); });
})(window.SuanliReport);
