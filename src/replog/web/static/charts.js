// replog dashboard charts: the leader's last five minutes, one sample a second, from /ui/samples?node=leader
// (served by the node that served the page, which asks the others: the page talks to nobody else).
// Drawn with uPlot (vendored, /ui/uPlot.iife.min.js); events are vertical marks drawn by a plugin.
// window.replogCharts exposes what is drawn, for the tests and for anyone curious in the console.
// every(ms, task) is dashboard.js's (deferred scripts run in order: dashboard.js, uPlot, then this one).
"use strict";

(() => {
  const RANGES_S = [60, 300]; // the time picker's choices; the rings hold 300 s
  const EVERY_MS = 1000;
  const TIMEOUT_MS = 3000;
  const HEIGHT = 190;
  const EVENTS_LISTED = 12;
  const OUTCOMES = [
    ["ok", "#1a7f37"],
    ["duplicate", "#0969da"],
    ["read_only", "#cf222e"],
    ["no_leader", "#8250df"],
    ["timeout", "#bf8700"],
    ["refused", "#e16f24"],
    ["invalid", "#6e7781"],
    ["error", "#82071e"],
  ];
  const PALETTE = ["#0969da", "#bf3989", "#1a7f37", "#e16f24", "#8250df", "#0550ae", "#6e7781"];
  const MARK_COLORS = { read_only: "#cf222e", election: "#8250df", leader: "#0969da", start: "#6e7781" };
  const HEALTH_COLORS = { Healthy: "#1a7f37", Suspected: "#bf8700", Unhealthy: "#cf222e" };

  const state = {
    samples: [], // sorted by t, the last five minutes (whatever range is shown)
    events: new Map(), // key -> event (several nodes report the same new leader: one mark)
    cursor: null, // t of the newest sample held: the next poll asks for what came after
    following: undefined,
    lagNames: [],
    charts: {},
    xmax: Math.floor(Date.now() / 1000),
    range: 300,
  };
  const api = { following: null, servedBy: null, samples: state.samples, events: [], charts: state.charts };
  window.replogCharts = api;

  const $ = (id) => document.getElementById(id);

  function markColor(event) {
    if (event.kind === "health") return HEALTH_COLORS[event.text.split(" ").pop()] || "#6e7781";
    return MARK_COLORS[event.kind] || "#6e7781";
  }

  // Events a few pixels apart share one label: the text of the one that matters most (a new leader
  // before an election before read-only before health), "+N" for the others (the list has them all).
  const WEIGHT = { leader: 5, read_only: 4, election: 3, health: 2, start: 1 };
  const headline = (events) => events.reduce((best, e) => ((WEIGHT[e.kind] || 0) >= (WEIGHT[best.kind] || 0) ? e : best));

  function groupByPixel(u, events, dpr) {
    const groups = [];
    for (const event of events) {
      if (event.t < u.scales.x.min || event.t > u.scales.x.max) continue;
      const x = Math.round(u.valToPos(event.t, "x", true));
      const last = groups[groups.length - 1];
      if (last && x - last.x0 <= 6 * dpr) last.events.push(event);
      else groups.push({ x0: x, events: [event] });
    }
    return groups;
  }

  // The events as vertical lines across the plot, labelled at the top, each label on the first of four
  // rows where it does not cover another; an operator reads them as Grafana's annotations.
  function marks() {
    return {
      hooks: {
        draw: [
          (u) => {
            const { ctx } = u;
            const { left, top, width, height } = u.bbox;
            const dpr = window.devicePixelRatio || 1;
            ctx.save();
            ctx.beginPath();
            ctx.rect(left, top, width, height);
            ctx.clip();
            ctx.font = `${11 * dpr}px system-ui, sans-serif`;
            ctx.textBaseline = "top";
            ctx.textAlign = "left"; // uPlot leaves the axes' alignment on the context
            const rowsEnd = [-Infinity, -Infinity, -Infinity, -Infinity];
            for (const group of groupByPixel(u, api.events, dpr)) {
              for (const event of group.events) {
                const x = Math.round(u.valToPos(event.t, "x", true));
                ctx.strokeStyle = markColor(event);
                ctx.lineWidth = 1.5 * dpr;
                ctx.setLineDash(event.kind === "health" || event.kind === "start" ? [4 * dpr, 3 * dpr] : []);
                ctx.beginPath();
                ctx.moveTo(x, top);
                ctx.lineTo(x, top + height);
                ctx.stroke();
              }
              const newest = headline(group.events);
              const label = newest.text + (group.events.length > 1 ? " +" + (group.events.length - 1) : "");
              const textWidth = ctx.measureText(label).width;
              const rightward = group.x0 + 3 * dpr + textWidth <= left + width;
              const wanted = rightward ? group.x0 + 3 * dpr : group.x0 - 3 * dpr - textWidth;
              const start = Math.max(left + 2 * dpr, wanted);
              let row = rowsEnd.findIndex((end) => end < start);
              if (row < 0) row = rowsEnd.indexOf(Math.min(...rowsEnd));
              rowsEnd[row] = start + textWidth + 4 * dpr;
              ctx.fillStyle = markColor(newest);
              ctx.fillText(label, start, top + (2 + 13 * row) * dpr);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  function zeroBased(u, min, max) {
    return [0, max === null || max === undefined || max <= 0 ? 1 : max * 1.15];
  }

  function chart(key, title, yLabel, series, into) {
    const box = $(into);
    const options = {
      title,
      width: Math.max(300, box.clientWidth),
      height: HEIGHT,
      plugins: [marks()],
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: zeroBased } },
      axes: [{}, { label: yLabel, size: 56 }],
      series: [{}, ...series],
    };
    if (state.charts[key]) state.charts[key].destroy();
    box.textContent = "";
    const data = [[], ...series.map(() => [])];
    state.charts[key] = new uPlot(options, data, box);
    box.dataset.series = series.map((s) => s.label).join(",");
  }

  function line(label, color, extra) {
    return { label, stroke: color, width: 1.5, spanGaps: false, points: { show: false }, ...extra };
  }

  function build() {
    chart(
      "appends",
      "Appends per second, by outcome",
      "appends/s",
      // ok is an area from zero; the others are drawn only where they happened (a red line along zero
      // would read as errors), with points, so that one bad second shows.
      OUTCOMES.map(([name, color]) =>
        line(name, color, name === "ok" ? { fill: color + "22" } : { points: { show: true, size: 5 } }),
      ),
      "chart-appends",
    );
    chart(
      "latency",
      "Append latency (stored appends)",
      "ms",
      [line("p50", "#0969da"), line("p99", "#cf222e")],
      "chart-latency",
    );
    buildLag();
  }

  function buildLag() {
    const names = state.lagNames.length ? state.lagNames : ["(no follower)"];
    chart(
      "lag",
      "Follower lag (entries behind the leader)",
      "entries",
      names.map((name, i) => line(name, PALETTE[i % PALETTE.length])),
      "chart-lag",
    );
  }

  function render() {
    const xs = state.samples.map((s) => s.t);
    const names = [...new Set(state.samples.flatMap((s) => Object.keys(s.lag)))].sort();
    if (names.join(",") !== state.lagNames.join(",")) {
      state.lagNames = names; // a new leader has other followers: the lag chart gets their series
      buildLag();
    }
    const lagNames = state.lagNames.length ? state.lagNames : ["(no follower)"];
    const data = {
      appends: [
        xs,
        ...OUTCOMES.map(([name]) => state.samples.map((s) => s.appends[name] || (name === "ok" ? 0 : null))),
      ],
      latency: [xs, state.samples.map((s) => s.p50_ms), state.samples.map((s) => s.p99_ms)],
      lag: [xs, ...lagNames.map((name) => state.samples.map((s) => (name in s.lag ? s.lag[name] : null)))],
    };
    for (const [key, u] of Object.entries(state.charts)) {
      u.batch(() => {
        u.setData(data[key], false);
        u.setScale("x", { min: state.xmax - state.range, max: state.xmax });
      });
    }
  }

  function renderFollowing(answer) {
    const following = answer.following;
    const label = $("charts-following");
    api.following = following;
    api.servedBy = answer.served_by;
    if (following) {
      label.dataset.leader = following.name;
      label.textContent =
        "following the leader: " + following.name + (following.term === null ? " (fixed master)" : " (term " + following.term + ")");
    } else {
      label.dataset.leader = "";
      label.textContent = "no leader known: showing " + answer.served_by + "'s own samples";
    }
    if (answer.silent && answer.silent.length) {
      label.textContent += " · not answering: " + answer.silent.map((s) => s.url).join(", ");
    }
  }

  function renderEvents() {
    const list = $("chart-events");
    const newest = api.events.slice(-EVENTS_LISTED).reverse();
    list.replaceChildren(
      ...newest.map((event) => {
        const row = document.createElement("li");
        row.dataset.kind = event.kind;
        row.dataset.node = event.node;
        const time = document.createElement("time");
        time.textContent = new Date(event.t * 1000).toLocaleTimeString();
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.dataset.color = markColor(event);
        const text = document.createElement("span");
        text.className = "text";
        text.textContent = event.text + " · seen by " + event.seen_by;
        row.append(time, swatch, text);
        return row;
      }),
    );
    for (const swatch of list.querySelectorAll(".swatch")) swatch.style.background = swatch.dataset.color;
  }

  async function poll() {
    const url = "/ui/samples?node=leader" + (state.cursor === null ? "" : "&since=" + state.cursor);
    let answer;
    try {
      const response = await fetch(url, { cache: "no-store", signal: AbortSignal.timeout(TIMEOUT_MS) });
      if (!response.ok) throw new Error("HTTP " + response.status);
      answer = await response.json();
    } catch (exc) {
      $("charts-following").textContent = "charts: no answer from " + location.host + " (" + exc.message + ")";
      return;
    }
    for (const sample of answer.samples) {
      if (state.cursor === null || sample.t > state.cursor) {
        state.samples.push(sample);
        state.cursor = sample.t;
      }
    }
    for (const event of answer.events) if (!state.events.has(event.key)) state.events.set(event.key, event);
    state.xmax = Math.max(state.cursor ?? 0, Math.floor(Date.now() / 1000));
    const oldest = state.xmax - RANGES_S[RANGES_S.length - 1];
    while (state.samples.length && state.samples[0].t < oldest) state.samples.shift();
    for (const [key, event] of state.events) if (event.t < oldest) state.events.delete(key);
    api.events = [...state.events.values()].sort((a, b) => a.t - b.t);
    renderFollowing(answer);
    render();
    renderEvents();
  }

  function resize() {
    for (const [key, u] of Object.entries(state.charts)) {
      u.setSize({ width: Math.max(300, $("chart-" + key).clientWidth), height: HEIGHT });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (typeof uPlot === "undefined") {
      $("charts-following").textContent = "charts unavailable: /ui/uPlot.iife.min.js did not load";
      return;
    }
    const picker = $("charts-range");
    for (const seconds of RANGES_S) {
      const option = document.createElement("option");
      option.value = String(seconds);
      option.textContent = "last " + seconds / 60 + " min";
      picker.append(option);
    }
    picker.value = String(state.range);
    picker.addEventListener("change", () => {
      state.range = Number(picker.value);
      $("charts-title").textContent = "Last " + state.range / 60 + " min";
      render();
    });
    build();
    window.addEventListener("resize", resize);
    every(EVERY_MS, poll);
  });
})();
