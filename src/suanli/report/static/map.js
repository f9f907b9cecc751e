/* suanli report: the map of the sites. Sites on a lon/lat plane (an equirectangular
 * projection at the sites' mean latitude) over an offline basemap — Natural Earth land,
 * coast, country borders and China's province borders, embedded in the page as the
 * "suanli-basemap" payload (static/basemap.json, made by devtools/basemap.py); the view is
 * framed on the sites and never runs past ±180° longitude or ±90° latitude, and each site's
 * label is placed where it neither overlaps another label nor leaves the plot. */
"use strict";
(function (R) {
  const MIN_H = 280, MAX_H = 520;  // the plot area's height (px), chosen to suit the sites
  const MARGIN = { l: 50, r: 80, t: 10, b: 40 };
  const LABEL_FONT = 12;
  const LAND = "#f7f6f1", SEA = "#e6eef5";

  /** A polyline ``[x0, y0, dx1, dy1, …]`` (1/scale degrees) as ``{p: [x0, y0, x1, y1, …],
   * b: [lon0, lat0, lon1, lat1]}`` in degrees with its bounding box. */
  function decode(line, scale) {
    const p = new Array(line.length);
    const b = [Infinity, Infinity, -Infinity, -Infinity];
    let x = 0, y = 0;
    for (let k = 0; k < line.length; k += 2) {
      x += line[k];
      y += line[k + 1];
      p[k] = x / scale;
      p[k + 1] = y / scale;
      b[0] = Math.min(b[0], p[k]); b[1] = Math.min(b[1], p[k + 1]);
      b[2] = Math.max(b[2], p[k]); b[3] = Math.max(b[3], p[k + 1]);
    }
    return { p, b };
  }

  const disjoint = (a, b) => a[2] < b[0] || a[0] > b[2] || a[3] < b[1] || a[1] > b[3];

  /** A closed ring (flat points) cut to the box [x0, y0, x1, y1] (Sutherland–Hodgman). */
  function clipRing(p, box) {
    const edges = [
      [(x) => x >= box[0], 0, box[0]], [(x) => x <= box[2], 0, box[2]],
      [(y) => y >= box[1], 1, box[1]], [(y) => y <= box[3], 1, box[3]],
    ];
    for (const [inside, axis, at] of edges) {
      const out = [], n = p.length / 2;
      for (let i = 0; i < n; i++) {
        const j = (i + n - 1) % n;
        const ax = p[2 * j], ay = p[2 * j + 1], bx = p[2 * i], by = p[2 * i + 1];
        const ain = inside(axis ? ay : ax), bin = inside(axis ? by : bx);
        if (ain !== bin) {
          const t = (at - (axis ? ay : ax)) / ((axis ? by - ay : bx - ax));
          out.push(axis ? ax + t * (bx - ax) : at, axis ? at : ay + t * (by - ay));
        }
        if (bin) out.push(bx, by);
      }
      p = out;
      if (p.length < 6) return [];
    }
    return p;
  }

  /** Land rings as one fill: each ring inside ``box``, cut to it, ended by a gap (null). */
  function fills(rings, box, xs, ys) {
    for (const r of rings) {
      if (disjoint(r.b, box)) continue;
      const p = r.b[0] >= box[0] && r.b[2] <= box[2] && r.b[1] >= box[1] && r.b[3] <= box[3]
        ? r.p : clipRing(r.p, box);
      for (let k = 0; k < p.length; k += 2) { xs.push(p[k]); ys.push(p[k + 1]); }
      if (p.length) { xs.push(null); ys.push(null); }
    }
  }

  /** Lines as one stroke: their segments that reach into ``box``, gaps (null) between. With
   * ``cut``, none along the antimeridian or the bottom of the world (where Natural Earth's
   * polygons are cut; no coast there). */
  function strokes(lines, box, cut, xs, ys) {
    for (const { p, b } of lines) {
      if (disjoint(b, box)) continue;
      let open = false;
      for (let k = 2; k < p.length; k += 2) {
        const x0 = p[k - 2], y0 = p[k - 1], x1 = p[k], y1 = p[k + 1];
        const skip = (cut && ((Math.abs(x0) === 180 && x1 === x0) || (y0 <= -89.5 && y1 <= -89.5))) ||
          Math.max(x0, x1) < box[0] || Math.min(x0, x1) > box[2] ||
          Math.max(y0, y1) < box[1] || Math.min(y0, y1) > box[3];
        if (skip) {
          if (open) { xs.push(null); ys.push(null); open = false; }
          continue;
        }
        if (!open) { xs.push(x0); ys.push(y0); open = true; }
        xs.push(x1); ys.push(y1);
      }
      if (open) { xs.push(null); ys.push(null); }
    }
  }

  function outline(name, xy, line) {
    return { type: "scatter", mode: "lines", name, x: xy.x, y: xy.y, line, hoverinfo: "skip",
             showlegend: false, connectgaps: false };
  }

  /** The basemap, decoded once per page (null when the page has none). */
  let basemap = null;
  function loadBasemap() {
    if (basemap === null) {
      basemap = R.payload("suanli-basemap").then((text) => {
        if (text === null) return null;
        const doc = JSON.parse(text);
        const lines = (ls) => ls.map((l) => decode(l, doc.scale));
        return { land: lines(doc.land), borders: lines(doc.borders),
                 provinces: Object.values(doc.provinces).flatMap(lines) };
      });
    }
    return basemap;
  }

  /** The area of the basemap drawn for a view: the view and half as much again on every
   * side (so zooming out a little or panning still shows outlines; beyond, the outlines are
   * drawn again), inside the world. */
  function cullBox(xr, yr) {
    const dx = (xr[1] - xr[0]) / 2, dy = (yr[1] - yr[0]) / 2;
    return [Math.max(-180, xr[0] - dx), Math.max(-90, yr[0] - dy),
            Math.min(180, xr[1] + dx), Math.min(90, yr[1] + dy)];
  }

  /** The basemap's traces inside ``box`` (the same objects again for the same box, so
   * Plotly.react sees them unchanged): land, province borders, country borders, coast. */
  let lastTraces = { key: null, traces: [] };
  R.basemapTraces = async function (box) {
    const b = await loadBasemap();
    if (b === null) return [];
    const key = box.join(",");
    if (lastTraces.key === key) return lastTraces.traces;
    const xy = () => ({ x: [], y: [] });
    const land = xy(), coast = xy(), borders = xy(), provinces = xy();
    fills(b.land, box, land.x, land.y);
    strokes(b.land, box, true, coast.x, coast.y);
    strokes(b.borders, box, false, borders.x, borders.y);
    strokes(b.provinces, box, false, provinces.x, provinces.y);
    const traces = [
      { type: "scatter", mode: "none", name: "land", x: land.x, y: land.y, fill: "toself",
        fillcolor: LAND, hoverinfo: "skip", showlegend: false },
      outline("provinces", provinces, { color: "#c9c6bd", width: 0.6 }),
      outline("borders", borders, { color: "#8f8b80", width: 0.9 }),
      outline("coast", coast, { color: "#8aa1b6", width: 0.8 }),
    ];
    lastTraces = { key, traces };
    return traces;
  };

  /** Width and height in pixels of a label's box (text measured in the chart's font). */
  let canvas = null;
  function labelBox(text) {
    canvas = canvas || document.createElement("canvas");
    const ctx = canvas.getContext("2d");
    ctx.font = `${LABEL_FONT}px ${R.baseLayout({}).font.family}`;
    return { w: Math.ceil(ctx.measureText(text).width) + 8, h: Math.ceil(LABEL_FONT * 1.3) + 6 };
  }

  /** The view of ``sites`` in a plot area ``w`` pixels wide and ``hMin``…``hMax`` high,
   * keeping ``padX``/``padY`` pixels between the outermost sites and the edges: the area's
   * height, lon/lat ranges (inside ±180°/±90°), the y scale ratio (an equirectangular
   * projection at the sites' mean latitude), the box [x0, y0, x1, y1] the axes take in the
   * area, and each site's pixel position in the area. */
  R.mapFrame = function (sites, w, hMin, hMax, padX, padY) {
    const lons = sites.length ? sites.map((s) => s.lon) : [-170, 170];  // no sites: the world
    const lats = sites.length ? sites.map((s) => s.lat) : [-55, 75];
    const lon0 = Math.min(...lons), lon1 = Math.max(...lons);
    const lat0 = Math.min(...lats), lat1 = Math.max(...lats);
    const mid = Math.max(-60, Math.min(60, (lat0 + lat1) / 2));
    const ratio = 1 / Math.cos((mid * Math.PI) / 180);  // y pixels per degree ÷ x pixels per degree
    const degPad = (span) => Math.max(1, 0.06 * span);
    const ux = lon1 - lon0 + 2 * degPad(lon1 - lon0);
    const uy = (lat1 - lat0 + 2 * degPad(lat1 - lat0)) * ratio;
    const usable = (n, pad) => Math.max(n * 0.3, n - 2 * pad);
    // as tall as the sites need at the full width, within the limits
    const h = Math.max(hMin, Math.min(hMax, (uy * usable(w, padX)) / ux + 2 * padY));
    // pixels per degree of longitude: everything fits, and at least 6° across the short side
    const k = Math.min(usable(w, padX) / ux, usable(h, padY) / uy, Math.min(w, h / ratio) / 6);
    const fit = (lo, hi, span, limit) => {
      span = Math.min(span, 2 * limit);
      let a = (lo + hi) / 2 - span / 2;
      a = Math.max(-limit, Math.min(limit - span, a));
      return [a, a + span];
    };
    const xr = fit(lon0, lon1, w / k, 180);
    const yr = fit(lat0, lat1, h / (k * ratio), 90);
    // where a range stops at the poles or the antimeridian Plotly shrinks that axis (constrain)
    const kk = Math.min(w / (xr[1] - xr[0]), h / ((yr[1] - yr[0]) * ratio));
    const pw = (xr[1] - xr[0]) * kk, ph = (yr[1] - yr[0]) * ratio * kk;
    const ox = (w - pw) / 2, oy = (h - ph) / 2;
    return {
      h, x: xr, y: yr, ratio, area: [ox, oy, ox + pw, oy + ph],
      px: sites.map((s) => [ox + (s.lon - xr[0]) * kk, oy + (yr[1] - s.lat) * ratio * kk]),
    };
  };

  function overlap(a, b) {
    const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
    const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
    return w > 0 && h > 0 ? w * h : 0;
  }

  // where a label may go, in order of preference: above, right, below, left, the diagonals
  const DIRS = [[0, -1], [1, 0], [0, 1], [-1, 0], [1, -1], [-1, -1], [1, 1], [-1, 1]];
  const STEPS = [0, 12, 26, 44];  // further out, with a leader line to the site

  /** Label positions for sites at pixels ``px`` with marker radii ``r`` and label boxes
   * ``box`` ({w, h}), inside ``area`` [x0, y0, x1, y1]: for each, the label's centre
   * relative to its site, and whether it needs a leader line. Greedy, then each label in
   * turn moves to its best place given the others until none moves. */
  R.placeLabels = function (px, r, box, area) {
    const n = px.length;
    const cands = px.map(([x, y], i) => {
      const { w, h } = box[i], out = [];
      STEPS.forEach((step, si) => DIRS.forEach(([dx, dy], di) => {
        const gap = r[i] + 2 + step, g = dx && dy ? gap * 0.72 : gap;
        const cx = dx * (g + w / 2), cy = dy * (g + h / 2);
        out.push({ cx, cy, lead: si > 0, pref: si * 3 + di * 0.25,
                   rect: [x + cx - w / 2, y + cy - h / 2, x + cx + w / 2, y + cy + h / 2] });
      }));
      return out;
    });
    const marks = px.map(([x, y], i) => [x - r[i] * 0.8, y - r[i] * 0.8, x + r[i] * 0.8, y + r[i] * 0.8]);
    const inner = [area[0] + 2, area[1] + 2, area[2] - 2, area[3] - 2];
    const chosen = new Array(n).fill(null);
    const cost = (i, c) => {
      const a = c.rect, size = (a[2] - a[0]) * (a[3] - a[1]);
      let v = c.pref;
      const outside = size - overlap(a, inner);
      if (outside > 0) v += 1e4 + outside * 10;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        if (chosen[j] !== null) {
          const o = overlap(a, chosen[j].rect);
          if (o > 0) v += 1e3 + o * 5;
        }
        v += overlap(a, marks[j]) * 0.5;
      }
      return v;
    };
    const best = (i) => cands[i].reduce((b, c) => (cost(i, c) < cost(i, b) ? c : b));
    const order = [...Array(n).keys()].sort((a, b) => r[b] - r[a] || a - b);
    for (const i of order) chosen[i] = best(i);
    for (let pass = 0; pass < 20; pass++) {
      let moved = false;
      for (const i of order) {
        const c = best(i);
        if (cost(i, c) < cost(i, chosen[i]) - 1e-9) {
          chosen[i] = c;
          moved = true;
        }
      }
      if (!moved) break;
    }
    return chosen.map((c) => ({ cx: c.cx, cy: c.cy, lead: c.lead, rect: c.rect }));
  };

  /** What the map shows of policy ``p`` at any hour: lines for data moved between sites
   * (with a marker half way), and the sites' positions, sizes (as a share of the largest)
   * and hover details; made once per document and policy (a new hour changes only the
   * sites' colours and utilisation). */
  let lastPolicy = { data: null, p: -1, parts: null };
  function policyParts(data, p) {
    if (lastPolicy.data === data && lastPolicy.p === p) return lastPolicy.parts;
    const sites = data.sites, pol = data.policies[p];
    const index = Object.fromEntries(sites.map((s, i) => [s.id, i]));
    const maxDev = Math.max(1, ...sites.map((s) => s.devices));
    const maxTb = Math.max(1e-9, ...pol.transfers.map((t) => t.tb));
    const lines = [], mid = { x: [], y: [], text: [] };
    for (const t of pol.transfers) {
      const a = sites[index[t.from]], b = sites[index[t.to]];
      lines.push({
        type: "scatter", mode: "lines", x: [a.lon, b.lon], y: [a.lat, b.lat],
        line: { color: "rgba(70,70,95,0.55)", width: 1 + 9 * t.tb / maxTb },
        hoverinfo: "skip", showlegend: false,
      });
      mid.x.push((a.lon + b.lon) / 2);
      mid.y.push((a.lat + b.lat) / 2);
      mid.text.push(`${t.from} → ${t.to}: ${R.format(t.tb, ",.1f")} TB`);
    }
    lines.push({
      type: "scatter", mode: "markers", x: mid.x, y: mid.y, text: mid.text,
      marker: { size: 5, color: "rgba(70,70,95,0.8)", symbol: "diamond" },
      hovertemplate: "%{text}<extra>data moved</extra>", showlegend: false,
    });
    const m = pol.metrics.sites;
    const parts = {
      lines,
      x: sites.map((s) => s.lon), y: sites.map((s) => s.lat), text: sites.map((s) => s.id),
      share: sites.map((s) => Math.sqrt(s.devices / maxDev)),
      customdata: sites.map((s) => [
        s.name, s.devices, s.capacity_mw,
        R.format(m[s.id] ? m[s.id].energy_mwh : null, ",.0f"),
        R.format(m[s.id] ? m[s.id].cost - m[s.id].subsidy : null, ",.0f"),
        R.format(m[s.id] ? m[s.id].carbon_t : null, ",.0f"),
        Object.entries(s.accelerators).map(([a, n]) => `${a} ×${n.toLocaleString("en")}`).join("<br>"),
      ]),
    };
    lastPolicy = { data, p, parts };
    return parts;
  }

  /** The layout for a plot area ``w`` pixels wide: the frame, and the labels as
   * annotations (placed, and the frame padded until none sticks out). */
  function mapLayout(sites, radius, w) {
    const boxes = sites.map((s) => labelBox(s.id));
    let padX = Math.max(0, ...radius) + 4, padY = padX;
    let frame, labels;
    for (let tries = 0; tries < 3; tries++) {
      frame = R.mapFrame(sites, w, MIN_H, MAX_H, padX, padY);
      labels = R.placeLabels(frame.px, radius, boxes, frame.area);
      const a = frame.area;
      const outX = Math.max(0, ...labels.map((l) => Math.max(a[0] - l.rect[0], l.rect[2] - a[2])));
      const outY = Math.max(0, ...labels.map((l) => Math.max(a[1] - l.rect[1], l.rect[3] - a[3])));
      if (outX <= 0 && outY <= 0) break;
      padX += outX + 4;
      padY += outY + 4;
    }
    const axis = (title, range, limit) => ({
      title: { text: title, standoff: 6, font: { size: 11 } }, range,
      minallowed: -limit, maxallowed: limit, constrain: "domain", zeroline: false,
      showgrid: false, ticksuffix: "°", showline: true, linecolor: "#b9bcc6", mirror: true,
      ticks: "outside", ticklen: 3,
    });
    const key = JSON.stringify([w, Math.round(frame.h), frame.x, frame.y]);
    const layout = R.baseLayout({
      height: Math.round(frame.h) + MARGIN.t + MARGIN.b, margin: MARGIN, hovermode: "closest",
      plot_bgcolor: SEA, uirevision: key,  // a zoom or pan stays until the frame changes
      xaxis: axis("longitude (°E)", frame.x, 180),
      yaxis: { ...axis("latitude (°N)", frame.y, 90), scaleanchor: "x", scaleratio: frame.ratio },
      annotations: sites.map((s, i) => {
        const l = labels[i];
        return {
          x: s.lon, y: s.lat, xref: "x", yref: "y", text: s.id, hovertext: s.name,
          font: { size: LABEL_FONT, color: "#1d1d24" }, bgcolor: "rgba(255,255,255,0.8)",
          borderpad: 2, borderwidth: 0, xanchor: "center", yanchor: "middle",
          showarrow: l.lead, ax: l.cx, ay: l.cy, axref: "pixel", ayref: "pixel",
          arrowhead: 0, arrowwidth: 1, arrowcolor: "#55586a", standoff: radius[i] - 1,
          xshift: l.lead ? 0 : l.cx, yshift: l.lead ? 0 : -l.cy,
        };
      }),
    });
    return { layout, key, frame };
  }

  /** After a zoom or pan past the basemap drawn, draw the basemap of the new view; after
   * a resize of the window, frame the sites again. */
  function onRelayout(div, ev) {
    if (!ev) return;
    if (ev.autosize) {
      if (div._suanliMap) R.drawMap(...div._suanliMap);
      return;
    }
    const xr = div._fullLayout.xaxis.range, yr = div._fullLayout.yaxis.range;
    const box = div._suanliMapBox;
    if (!box || (xr[0] >= box[0] && xr[1] <= box[2] && yr[0] >= box[1] && yr[1] <= box[3])) return;
    const next = cullBox(xr, yr);
    R.basemapTraces(next).then((base) => {
      if (!base.length) return;
      div._suanliMapBox = next;
      return Plotly.restyle(div, { x: base.map((t) => t.x), y: base.map((t) => t.y) },
                            base.map((_, i) => i));
    });
  }

  /** Sites on the basemap: size = devices, colour = utilisation (of policy ``p``, at
   * ``hour`` or over the run), lines = data moved. */
  R.drawMap = async function (div, data, p, hour) {
    const sites = data.sites;
    const parts = policyParts(data, p);
    const util = R.siteUtilisation(data, p, hour);
    const cur = data.scenario.currency || "";
    // markers of 14–54 pixels across (√devices), smaller on a narrow map
    const siteTrace = (size) => ({
      type: "scatter", mode: "markers", name: "sites", cliponaxis: false,
      x: parts.x, y: parts.y, text: parts.text, customdata: parts.customdata,
      hovertext: util.map((u) => R.format(u, ".1%")),
      hovertemplate: "<b>%{customdata[0]}</b><br>%{customdata[1]:,} devices · " +
        "%{customdata[2]} MW<br>utilisation %{hovertext}<br>energy %{customdata[3]} MWh" +
        ` · net cost %{customdata[4]} ${cur}<br>carbon %{customdata[5]} t<br>%{customdata[6]}<extra></extra>`,
      marker: {
        size, color: util.map((u) => (u === null ? 0 : u)), cmin: 0, cmax: 1,
        colorscale: "Viridis", line: { color: "#222", width: 1 }, opacity: 0.92,
        colorbar: { title: { text: "utilisation", side: "right" }, tickformat: ".0%",
                    thickness: 12, xpad: 6, len: 0.9 },
      },
      showlegend: false,
    });
    // The plot area is as wide as the element less the margins; the colour bar sits in the
    // right one, which Plotly widens when the bar needs more room (kept for the next time).
    // Plotly.react does not move the plot when a new range changes how much an axis is
    // shrunk to keep the scale ratio, so a new frame (another size, other sites) is drawn
    // afresh.
    const config = { ...R.PLOT_CONFIG,  // no autoscale: it would frame the whole basemap
                     modeBarButtonsToRemove: [...R.PLOT_CONFIG.modeBarButtonsToRemove, "autoScale2d"] };
    const width = div.getBoundingClientRect().width || 480;
    let right = div._suanliMapRight || MARGIN.r;
    for (let tries = 0; tries < 2; tries++) {
      const w = Math.max(160, width - MARGIN.l - right);
      const zoom = Math.max(0.6, Math.min(1, w / 460));
      const size = parts.share.map((f) => zoom * (14 + 40 * f));
      const { layout, key, frame } = mapLayout(sites, size.map((d) => d / 2 + 1), w);
      const same = key === div.dataset.mapFrame;
      const box = same && div._suanliMapBox ? div._suanliMapBox : cullBox(frame.x, frame.y);
      const traces = [...(await R.basemapTraces(box)), ...parts.lines, siteTrace(size)];
      div._suanliMapBox = box;
      if (same) {
        await Plotly.react(div, traces, layout, config);
      } else {
        await Plotly.newPlot(div, traces, layout, config);
        div.dataset.mapFrame = key;
        div.on("plotly_relayout", (ev) => onRelayout(div, ev));
      }
      const got = div._fullLayout._size.w;
      if (Math.abs(got - w) < 0.5) break;
      right = width - MARGIN.l - got;
      delete div.dataset.mapFrame;
    }
    div._suanliMapRight = right;
    div._suanliMap = [div, data, p, hour];
    return div;
  };
})(window.SuanliReport);
