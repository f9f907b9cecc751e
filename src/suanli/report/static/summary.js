/* suanli report: the summary — the headline (which policy is best on each key metric and by
 * how much, and notes on reading the numbers), the summary table (every policy side by side,
 * each value's change against a chosen baseline, the best value of each metric marked, each
 * metric's definition as a tooltip) and the glossary. Everything said is computed in Python
 * into the document (``headline``, ``summary_rows``, ``glossary``; docs/report.md); a live
 * document has none of the first and last, and then only the table is drawn. */
"use strict";
(function (R) {
  /** A relative change as the table writes it: +12%, −4.5%, <0.1%. */
  R.change = function (x) {
    const p = Math.abs(x) * 100;
    const s = p >= 9.95 ? p.toFixed(0) : p >= 0.05 ? p.toFixed(1) : "<0.1";
    return (x > 0 ? "+" : x < 0 ? "−" : "") + s + "%";
  };

  /** The headline: its first sentence, one line per key metric, then the notes. */
  R.drawHeadline = function (box, data) {
    const h = data.headline;
    box.hidden = !h;
    if (!h) { box.replaceChildren(); return; }
    const parts = [R.el("h2", "Headline"), R.el("p", h.text, { class: "lead" })];
    const list = R.el("ul", null, { class: "key-metrics" });
    for (const m of h.metrics) {
      const cls = m.all_tied ? "tied" : m.best.length ? "won" : "";
      list.appendChild(R.el("li", m.text, { "data-metric": m.id, class: cls }));
    }
    parts.push(list);
    if (h.notes.length) {
      parts.push(R.el("h3", "Reading the numbers"));
      const notes = R.el("ul", null, { class: "notes" });
      for (const n of h.notes) notes.appendChild(R.el("li", n.text, { "data-note": n.id }));
      parts.push(notes);
    }
    box.replaceChildren(...parts);
  };

  /** Fill the baseline selector with the policies; keep its choice, else the document's
   * default baseline. Hidden when there is nothing to compare. Returns the baseline. */
  R.fillBaseline = function (select, data) {
    const names = data.policies.map((p) => p.name);
    const keep = select.value;
    select.replaceChildren(...names.map((n) => R.el("option", n, { value: n })));
    const fallback = data.headline && names.includes(data.headline.baseline)
      ? data.headline.baseline : names[0];
    select.value = names.includes(keep) ? keep : fallback;
    select.closest("label").hidden = names.length < 2 || data.kind === "live";
    return select.closest("label").hidden ? null : select.value;
  };

  /** The glossary ``term`` objects of the document, by id. */
  function terms(data) {
    return Object.fromEntries((data.glossary || []).map((t) => [t.id, t]));
  }

  /** Summary table: one row per summary_rows entry, one column per policy; with a
   * ``baseline``, each other policy's cell also shows its change against the baseline's,
   * green where better and red where worse (rows with a better side). */
  R.drawSummary = function (table, data, baseline) {
    const glossary = terms(data);
    const base = baseline ? data.policies.find((p) => p.name === baseline) : null;
    const head = R.el("tr");
    head.appendChild(R.el("th", "metric"));
    for (const p of data.policies) {
      const attrs = { "data-policy": p.name };
      if (base && p === base) Object.assign(attrs, { class: "baseline", title: "the baseline of the comparison" });
      head.appendChild(R.el("th", p.name, attrs));
    }
    const body = document.createElement("tbody");
    for (const row of data.summary_rows) {
      const tr = R.el("tr", null, { "data-path": row.path });
      const sub = /^\s/.test(row.label);
      const th = R.el("th", null, sub ? { scope: "row", class: "sub" } : { scope: "row" });
      const term = row.term ? glossary[row.term] : null;
      th.appendChild(term
        ? R.el("span", row.label.trim(), { class: "term", title: `${term.term}: ${term.definition}`, "data-term": term.id })
        : document.createTextNode(row.label.trim()));
      tr.appendChild(th);
      const best = row.best || [];
      const b = base ? R.get(base.metrics, row.path) : null;
      for (const p of data.policies) {
        const v = R.get(p.metrics, row.path);
        const td = R.el("td", null, { "data-policy": p.name, "data-value": v === null ? "" : String(v) });
        td.appendChild(R.el("span", R.format(v, row.format), { class: "v" }));
        if (best.includes(p.name)) {
          td.classList.add("best");
          td.title = `best of the ${data.policies.length} policies` +
            (best.length > 1 ? ` (shared with ${best.length - 1} other${best.length > 2 ? "s" : ""})` : "");
        }
        if (base && p !== base) {
          // its change against the baseline (nothing where it shows the same or either is
          // missing); an empty mark keeps the column's values aligned
          const mark = R.el("span", null, { class: "delta" });
          if (v !== null && b !== null && R.format(v, row.format) !== R.format(b, row.format)) {
            const x = b !== 0 ? (v - b) / Math.abs(b) : null;
            td.dataset.change = x === null ? "" : String(x);
            mark.textContent = x === null ? "≠" : R.change(x);
            mark.title = `against ${base.name}: ${R.format(b, row.format)}`;
            if (row.better) mark.classList.add((row.better === "lower") === (v < b) ? "better" : "worse");
          }
          td.appendChild(mark);
        }
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
    const thead = document.createElement("thead");
    thead.appendChild(head);
    table.replaceChildren(thead, body);
    const notes = [];
    if (data.scenario.currency) notes.push(`costs in ${data.scenario.currency}`);
    if (base) notes.push(`beside each value its change against ${base.name} (green: better, red: worse; none: the same)`);
    if (data.summary_rows.some((r) => r.best && r.best.length)) notes.push("★ the best value of a metric");
    if (Object.keys(glossary).length) notes.push("hover a metric for its definition");
    table.appendChild(R.el("caption", notes.join(" · ")));
  };

  /** The glossary: every term of the document with its definition. */
  R.drawGlossary = function (box, data) {
    const list = data.glossary || [];
    box.hidden = list.length === 0;
    const dl = box.querySelector("dl");
    dl.replaceChildren();
    for (const t of list) {
      dl.appendChild(R.el("dt", t.term, { id: `g-${t.id}` }));
      dl.appendChild(R.el("dd", t.definition));
    }
  };
})(window.SuanliReport);
