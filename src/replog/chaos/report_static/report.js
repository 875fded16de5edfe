// The chaos report's drawing: a rate chart and a timeline of lanes on one time axis (uPlot's cursor sync).
// Data comes from the JSON block the renderer wrote; no network, no state outside this page.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const LANE_H = 26;
  const AXIS_W = 175; // both charts' y axes: the same width keeps their plot areas, hence time, aligned
  // Families an operator can tell apart at a glance: kills red, pauses orange, isolations yellow, link cuts
  // blue, slow or dropped connections cyan, a secondary's own faults khaki; darker for the leader-aimed ones.
  const KIND_COLORS = {
    kill_leader: "#f2495c", kill_node: "#ff7383", kill_secondary: "#ff7383", kill_master: "#ff7383",
    pause_leader: "#ff9830", pause_node: "#ffb357", pause: "#ffb357",
    isolate_leader: "#fade2a", isolate_node: "#f2cc0c",
    partition: "#8ab8ff", one_way: "#3274d9", proxy_delay: "#4fd1c5", proxy_drop: "#9be7e0",
    secondary_faults: "#c8a165",
  };
  // The leader lane's colors share no family with the faults'.
  const NODE_COLORS = ["#73bf69", "#b877d9", "#dcdce6", "#ff85c0", "#a0a0ff", "#56a64b"];
  const timeAxis = data.started !== null;
  const toX = (t) => (timeAxis ? data.started + t : t);
  const lanes = data.lanes.filter((lane) => lane !== "leader" || data.leaders.length > 0);
  const laneIndex = new Map(lanes.map((lane, i) => [lane, i]));
  const nodes = lanes.filter((lane) => lane !== "leader" && !lane.includes(">") && !lane.startsWith("proxy"));

  function clock(t) {
    if (!timeAxis) return `${t.toFixed(3)} s`;
    const d = new Date((data.started + t) * 1000);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} (t+${t.toFixed(3)} s)`;
  }
  const kindColor = (kind) => KIND_COLORS[kind] || "#8e8e8e";
  const nodeColor = (node) => NODE_COLORS[Math.max(0, nodes.indexOf(node)) % NODE_COLORS.length];

  // One time axis for both charts: the seconds of the series plus the run's last moment.
  const seconds = data.series.acknowledged.length;
  const xs = [...Array(seconds).keys(), data.end].map(toX);
  const withEnd = (values) => [...values, null];
  const axisStyle = { stroke: "#8e8e9f", grid: { stroke: "rgba(204,204,220,.07)" }, ticks: { stroke: "rgba(204,204,220,.07)" } };
  const charts = [];
  const common = () => ({
    width: widthOf(document.getElementById("rate")),
    scales: { x: { time: timeAxis } },
    // One sync key: the cursor, a drag's zoom and a double-click's unzoom in one chart happen in both.
    cursor: { sync: { key: "replog-chaos", setSeries: false }, drag: { x: true, y: false } },
  });
  function widthOf(element) { return Math.max(400, element.clientWidth); }

  function drawWindowsAndViolations(u) {
    const ctx = u.ctx;
    const { top, height } = u.bbox;
    ctx.save();
    ctx.fillStyle = "rgba(242,73,92,.13)";
    for (const w of data.windows) {
      const a = u.valToPos(toX(w.start), "x", true);
      const b = u.valToPos(toX(w.end), "x", true);
      ctx.fillRect(a, top, Math.max(1, b - a), height);
    }
    ctx.strokeStyle = "#f2495c";
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 1.5 * devicePixelRatio;
    for (const v of data.violations) {
      const x = u.valToPos(toX(v.at), "x", true);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
    }
    ctx.restore();
  }

  const rateChart = new uPlot({
    ...common(),
    height: 260,
    series: [
      { value: (u, v) => (v == null ? "" : clock(v - (timeAxis ? data.started : 0))) },
      { label: "acknowledged /s", stroke: "#73bf69", fill: "rgba(115,191,105,.12)", width: 1.5 },
      { label: "failed /s", stroke: "#f2495c", width: 1.5 },
      { label: "timed out /s", stroke: "#ff9830", width: 1.5 },
      { label: "unknown /s", stroke: "#8e8e8e", width: 1.5 },
    ],
    // No axis label: it would widen this axis alone and shift the plot off the timeline's time axis.
    axes: [{ ...axisStyle }, { ...axisStyle, size: AXIS_W }],
    hooks: { drawClear: [drawWindowsAndViolations] },
  }, [xs, withEnd(data.series.acknowledged), withEnd(data.series.failed), withEnd(data.series.timed_out), withEnd(data.series.unknown)],
  document.getElementById("rate"));
  charts.push(rateChart);

  // The timeline: a uPlot with no visible series gives the axes, the cursor and the zoom; the lanes'
  // contents are elements in its overlay (links and tooltips), placed again at every redraw.
  const n = lanes.length;
  const overlay = [];
  function element(tag, className, start, end, lane, attrs) {
    const el = document.createElement(tag);
    el.className = className;
    for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
    overlay.push({ el, start, end, lane });
    return el;
  }
  function bands() {
    const out = [];
    for (const w of data.windows) {
      out.push(element("div", "failover-window", w.start, w.end, null, {
        title: `failover window: ${w.node || "the leader"} killed at ${clock(w.start)}; ` +
          (w.open ? "no acknowledged append after it" : `first acknowledged append sent after it answered ${(w.end - w.start).toFixed(2)} s later`),
      }));
    }
    for (const l of data.leaders) {
      const el = element("div", l.node ? "leader-interval" : "leader-interval none", l.start, l.end, "leader", {
        title: `${l.node ? `${l.node} leads term ${l.term}` : `no leader agreed on (term ${l.term})`}\n${clock(l.start)} → ${clock(l.end)}`,
      });
      if (l.node) el.style.background = nodeColor(l.node);
      el.textContent = l.node ? `${l.node} · t${l.term}` : "no leader";
      out.push(el);
    }
    for (const f of data.faults) {
      const lane = laneIndex.has(f.lane) ? f.lane : f.target;
      const params = Object.keys(f.params).length ? `\nparams ${JSON.stringify(f.params)}` : "";
      const el = element("a", f.applied ? "band applied" : "band not-applied", f.start, f.end, lane, {
        href: `#fault-${f.id}`,
        "data-kind": f.kind,
        "data-lane": lane,
        title: `${f.kind} on ${f.lane}${f.target === "leader" ? " (the leader then)" : ""}${f.applied ? "" : " — NOT applied"}\n` +
          `${clock(f.start)} → ${clock(f.end)} (${(f.end - f.start).toFixed(2)} s)${params}${f.error ? `\nerror: ${f.error}` : ""}`,
      });
      el.style.background = kindColor(f.kind);
      el.textContent = f.kind;
      out.push(el);
    }
    for (const v of data.violations) {
      out.push(element("a", "violation-marker", v.at, v.at, null, {
        href: `#violation-${v.id}`, title: `${v.rule} at ${clock(v.at)}${v.at_end ? " (end state)" : ""}\n${v.detail}`,
      }));
    }
    return out;
  }
  function place(u) {
    const width = u.over.clientWidth;
    for (const { el, start, end, lane } of overlay) {
      const left = u.valToPos(toX(start), "x");
      const right = u.valToPos(toX(end), "x");
      if (right < -4 || left > width + 4) { el.style.display = "none"; continue; }
      el.style.display = "";
      const isMarker = el.classList.contains("violation-marker");
      el.style.left = `${isMarker ? left - 1 : left}px`;
      if (!isMarker) el.style.width = `${Math.max(3, right - left)}px`;
      el.classList.toggle("narrow", right - left < 48); // a label that cannot fit is noise: the tooltip has it
      if (lane === null) { el.style.top = "0px"; el.style.height = `${u.over.clientHeight}px`; continue; }
      const i = laneIndex.get(lane);
      const top = u.valToPos(n - i, "y");
      el.style.top = `${top + 3}px`;
      el.style.height = `${u.valToPos(n - i - 1, "y") - top - 6}px`;
    }
  }
  const laneChart = new uPlot({
    ...common(),
    height: n * LANE_H + 50,
    legend: { show: false },
    scales: { x: { time: timeAxis }, y: { auto: false, range: () => [0, n] } },
    series: [{}, { label: "lanes", stroke: "transparent", points: { show: false } }],
    axes: [
      { ...axisStyle },
      {
        ...axisStyle, size: AXIS_W, font: "11px system-ui, sans-serif", grid: { stroke: "rgba(204,204,220,.1)" },
        splits: () => lanes.map((_, i) => n - i - 0.5),
        values: (u, splits) => splits.map((s) => lanes[Math.round(n - 0.5 - s)]),
      },
    ],
    hooks: {
      ready: [(u) => {
        u.over.style.overflow = "hidden";
        for (const el of bands()) u.over.appendChild(el);
        place(u); // the first draw came before the elements existed
      }],
      draw: [place],
    },
  }, [xs, xs.map(() => null)], document.getElementById("timeline"));
  charts.push(laneChart);

  const leaderLegend = document.querySelector("#leader-legend");
  for (const node of data.leaders.length ? nodes : []) {
    const item = document.createElement("span");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = nodeColor(node);
    item.append(swatch, node);
    leaderLegend.append(item);
  }
  leaderLegend.hidden = !data.leaders.length;
  for (const swatch of document.querySelectorAll(".swatch[data-kind]")) swatch.style.background = kindColor(swatch.dataset.kind);
  document.getElementById("reset-zoom").addEventListener("click", () => {
    for (const u of charts) u.setScale("x", { min: xs[0], max: xs[xs.length - 1] });
  });
  window.addEventListener("resize", () => {
    for (const u of charts) u.setSize({ width: widthOf(document.getElementById("rate")), height: u.height });
  });
  document.body.dataset.ready = "true"; // for tests and screenshots: everything above has been drawn
})();
