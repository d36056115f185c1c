// The interactive chart: per-signal VaR 95% and 99% with their two averages, drawn as SVG.
// Hovering anywhere in a signal's column (or on its points) calls onHover(index); leaving the
// plot calls onHover(null). No library: the page must work with no internet.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

// Round numbers for the y axis: 1, 2 or 5 times a power of ten, about five of them.
function niceTicks(low, high, count) {
  const span = high - low || Math.abs(high) || 1;
  const raw = span / count;
  const power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step / 1e6; v += step) ticks.push(v);
  return ticks;
}

/**
 * Draw into `container` one column per signal: items[i].var95 and .var99 as points, the averages
 * av95 and av99 as dashed lines. Returns the SVG element.
 */
function drawVarChart(container, items, av95, av99, onHover) {
  container.replaceChildren();
  const width = 640, height = 320;
  const margin = { left: 64, right: 16, top: 16, bottom: 48 };
  const svg = svgElement("svg", {
    viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "per-signal VaR chart",
  });
  const values = items.flatMap((it) => [it.var95, it.var99]).filter((v) => v !== null);
  for (const v of [av95, av99]) if (v !== null && v !== undefined) values.push(v);
  if (!values.length) values.push(0);
  let low = Math.min(...values), high = Math.max(...values);
  const pad = (high - low) * 0.08 || Math.abs(high) * 0.1 || 0.01;
  low -= pad; high += pad;
  const plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom;
  const column = plotW / Math.max(items.length, 1);
  const x = (i) => margin.left + column * (i + 0.5);
  const y = (v) => margin.top + ((high - v) / (high - low)) * plotH;

  const axes = svgElement("g", { class: "axes" });
  for (const tick of niceTicks(low, high, 5)) {
    axes.append(svgElement("line", {
      x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick), class: "grid",
    }));
    const label = svgElement("text", { x: margin.left - 6, y: y(tick) + 4, "text-anchor": "end" });
    label.textContent = tick.toFixed(3);
    axes.append(label);
  }
  const every = Math.max(1, Math.ceil(items.length / 6));
  items.forEach((item, i) => {
    if (i % every !== 0) return;
    const label = svgElement("text", { x: x(i), y: height - margin.bottom + 18, "text-anchor": "middle" });
    label.textContent = item.date;
    axes.append(label);
  });
  const yTitle = svgElement("text", {
    x: 14, y: margin.top + plotH / 2, transform: `rotate(-90 14 ${margin.top + plotH / 2})`,
    "text-anchor": "middle",
  });
  yTitle.textContent = "VaR (return)";
  axes.append(yTitle);
  svg.append(axes);

  const bands = svgElement("g", { class: "bands" });
  items.forEach((_, i) => {
    bands.append(svgElement("rect", {
      x: margin.left + column * i, y: margin.top, width: column, height: plotH,
      class: "band", "data-index": i,
    }));
  });
  svg.append(bands);

  for (const [key, average, name] of [["var95", av95, "s95"], ["var99", av99, "s99"]]) {
    if (average !== null && average !== undefined) {
      svg.append(svgElement("line", {
        x1: margin.left, x2: width - margin.right, y1: y(average), y2: y(average),
        class: `average ${name}`,
      }));
    }
    const path = items.map((item, i) => (item[key] === null ? null : `${x(i)},${y(item[key])}`));
    svg.append(svgElement("polyline", { points: path.filter(Boolean).join(" "), class: `line ${name}` }));
    const points = svgElement("g", { class: `series ${name}` });
    items.forEach((item, i) => {
      if (item[key] === null) return;
      points.append(svgElement("circle", {
        cx: x(i), cy: y(item[key]), r: 4, class: "point", "data-index": i, "data-series": key,
      }));
    });
    svg.append(points);
  }

  const legend = svgElement("g", { class: "legend" });
  [["s95", "VaR 95%"], ["s99", "VaR 99%"]].forEach(([name, text], k) => {
    const lx = margin.left + 8 + k * 200;
    legend.append(svgElement("circle", { cx: lx, cy: height - 10, r: 4, class: `point ${name}` }));
    const label = svgElement("text", { x: lx + 8, y: height - 6 });
    label.textContent = `${text} (dashed: average)`;
    legend.append(label);
  });
  svg.append(legend);

  let highlighted = [];
  svg.addEventListener("mouseover", (event) => {
    const index = event.target.getAttribute && event.target.getAttribute("data-index");
    if (index === null || index === undefined) return;
    highlighted.forEach((el) => el.classList.remove("hover"));
    highlighted = [...svg.querySelectorAll(`[data-index="${index}"]`)];
    highlighted.forEach((el) => el.classList.add("hover"));
    onHover(Number(index), event);
  });
  svg.addEventListener("mouseleave", () => {
    highlighted.forEach((el) => el.classList.remove("hover"));
    highlighted = [];
    onHover(null, null);
  });
  container.append(svg);
  return svg;
}

window.drawVarChart = drawVarChart;
