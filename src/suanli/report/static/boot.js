/* suanli report: start-up. Loads plotly.js and the report data document from the page's
 * embedded payloads (gzip + base64, unpacked with the browser's DecompressionStream), or —
 * when the page names a data URL in <meta name="suanli-data-url"> — fetches the document
 * from there and polls it every <meta name="suanli-poll-s"> seconds (the live dashboard),
 * with an API token when <meta name="suanli-auth" content="bearer"> asks for one. */
"use strict";
(function (R) {
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

  const TOKEN_KEY = "suanli-token";

  /** The API token of this tab: handed over once as ``#token=…`` (then removed from the
   * address), else kept in session storage; null when there is none. */
  function token() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      const rest = location.hash.replace(/(^#|&)token=[^&]+/, "$1").replace(/^#&/, "#");
      history.replaceState(null, "", location.pathname + location.search + (rest === "#" ? "" : rest));
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  class Unauthorised extends Error {}

  /** GET ``url`` as JSON, with the tab's token when the page asks for one. */
  R.api = async function (url) {
    const headers = {};
    if (meta("suanli-auth") === "bearer") {
      const t = token();
      if (t === null) throw new Unauthorised("an API token is needed");
      headers.Authorization = `Bearer ${t}`;
    }
    const r = await fetch(url, { cache: "no-store", credentials: "same-origin", headers });
    if (r.status === 401) {
      const body = await r.json().catch(() => ({}));
      throw new Unauthorised(body.error || "the token was refused");
    }
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  };

  /** Show the sign-in form (with ``why``); signing in starts the page again. */
  function signIn(why, onToken) {
    const form = document.getElementById("login");
    const msg = document.getElementById("login-message");
    msg.textContent = why || "";
    msg.hidden = !why;
    form.hidden = false;
    document.body.dataset.login = "1";
    form.onsubmit = (ev) => {
      ev.preventDefault();
      const value = document.getElementById("login-token").value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      form.hidden = true;
      delete document.body.dataset.login;
      onToken();
    };
  }

  async function start() {
    const t0 = performance.now();
    const timings = {};
    const lap = (name, since) => { timings[name] = Math.round(performance.now() - since); };
    await R.loadPlotly();
    lap("plotly_ms", t0);
    const report = new R.Report(document);
    const url = meta("suanli-data-url");
    if (url === null) {
      const t1 = performance.now();
      const data = JSON.parse(await R.payload("suanli-data"));
      lap("data_ms", t1);
      const t2 = performance.now();
      await report.update(data);
      lap("draw_ms", t2);
    } else {
      const poll = Number(meta("suanli-poll-s") || "10");
      let timer = null;
      const refresh = async () => {
        try {
          await report.update(await R.api(url));
          document.getElementById("error").hidden = true;
        } catch (err) {
          if (!(err instanceof Unauthorised)) throw err;
          clearInterval(timer);
          const had = sessionStorage.getItem(TOKEN_KEY) !== null;
          sessionStorage.removeItem(TOKEN_KEY);
          signIn(had ? err.message : "", () => {
            refresh().catch(fail);
            timer = setInterval(() => refresh().catch(fail), poll * 1000);
          });
        }
      };
      window.addEventListener("hashchange", () => {  // a token handed over in this tab
        if (/(?:^#|&)token=/.test(location.hash)) {
          token();
          document.getElementById("login").hidden = true;
          delete document.body.dataset.login;
          clearInterval(timer);
          refresh().catch(fail);
          timer = setInterval(() => refresh().catch(fail), poll * 1000);
        }
      });
      document.getElementById("sign-out").addEventListener("click", () => {
        sessionStorage.removeItem(TOKEN_KEY);
        location.reload();
      });
      await refresh();
      if (document.body.dataset.login !== "1") {
        timer = setInterval(() => refresh().catch(fail), poll * 1000);
      }
    }
    lap("total_ms", t0);
    document.body.dataset.timings = JSON.stringify(timings);
  }

  window.addEventListener("DOMContentLoaded", () => { start().catch(fail); });
})(window.SuanliReport);
