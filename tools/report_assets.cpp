#include "report_assets.h"

namespace hakmem_cli {

const char kReportStyle[] = R"CSS(
:root {
  --ink: #1d2330; --muted: #5b6475; --line: #d9dee8; --grid: #eceff5;
  --paper: #ffffff; --page: #f4f6fa; --accent: #2f6fde;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header { background: var(--ink); color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header .meta { margin: 0; color: #c4cad6; }
header code { color: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 20px 40px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(135px, 1fr)); gap: 12px; margin-bottom: 18px; }
.card { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .sub { color: var(--muted); font-size: 12px; }
.panel { background: var(--paper); border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px 10px; margin-bottom: 18px; }
.panel h2 { margin: 0 0 2px; font-size: 17px; font-weight: 600; }
.option { float: right; color: var(--muted); font-size: 13px; user-select: none; }
.explain { margin: 0 0 8px; color: var(--muted); max-width: 95ch; }
svg.chart { display: block; width: 100%; height: auto; font-family: inherit; }
svg.chart text { fill: var(--ink); font-size: 12px; }
svg.chart .tick { fill: var(--muted); font-size: 11px; }
svg.chart .grid { stroke: var(--grid); stroke-width: 1; }
svg.chart .axis { stroke: #9aa3b5; stroke-width: 1; }
svg.chart .bar:hover { opacity: .8; }
svg.chart .empty { fill: var(--muted); font-size: 15px; }
svg.chart .error { fill: #b3261e; font-size: 15px; }
.warning { background: #fff4d6; border: 1px solid #e9c46a; padding: 8px 12px; border-radius: 6px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 12.5px; }
th, td { padding: 4px 8px; text-align: right; border-bottom: 1px solid var(--grid); white-space: nowrap; }
th { position: sticky; top: 0; background: var(--paper); color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line); }
tr.idle td { color: #a3aab8; }
svg.flame { display: block; width: 100%; height: auto; cursor: pointer; }
svg.flame .flame-label { font-size: 11px; fill: #1d2330; pointer-events: none; }
svg.flame .axis { stroke: #9aa3b5; }
td.site { text-align: left; white-space: normal; }
)CSS";

const char kReportScript[] = R"JS(
(function () {
  'use strict';
  var SVG_NS = 'http://www.w3.org/2000/svg';
  var stats = JSON.parse(document.getElementById('hakmem-stats').textContent);

  // ---- formatting ----------------------------------------------------------
  function groupDigits(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function fmtBytes(n) {
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0, v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    if (i === 0) return v + ' B';
    var digits = v < 10 ? 2 : v < 100 ? 1 : 0;
    return String(Number(v.toFixed(digits))) + ' ' + units[i];
  }
  function fmtPercent(x, digits) { return (x * 100).toFixed(digits) + '%'; }
  function fmtBlockSize(n) {
    if (n >= 1024 && n % 1024 === 0) return (n / 1024) + 'K';
    if (n >= 1024) return (n / 1024).toFixed(1) + 'K';
    return String(n);
  }
  var formatters = {
    bytes: fmtBytes,
    count: groupDigits,
    ratio: function (x) { return fmtPercent(x, 0); }
  };

  // ---- DOM helpers ---------------------------------------------------------
  function svg(parent, name, attrs, text) {
    var e = document.createElementNS(SVG_NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  function html(parent, name, attrs, text) {
    var e = document.createElement(name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

  // ---- scales --------------------------------------------------------------
  // Axis steps: 1/2/2.5/5 x 10^k for counts, powers of two for bytes.
  function axisScale(max, kind) {
    if (kind === 'ratio') return { top: 1, step: 0.2 };
    if (!(max > 0)) max = kind === 'bytes' ? 1024 : 1;
    var raw = max / 5, step;
    if (kind === 'bytes') {
      step = Math.pow(2, Math.ceil(Math.log2(raw)));
    } else {
      var mag = Math.pow(10, Math.floor(Math.log10(raw)));
      var norm = raw / mag;
      step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
      step = Math.max(1, step);
    }
    return { top: Math.ceil(max / step - 1e-9) * step, step: step };
  }

  function legend(root, series, x, y) {
    series.forEach(function (s) {
      svg(root, 'rect', { x: x, y: y - 10, width: 12, height: 12, rx: 2, fill: s.color, 'class': 'legend-swatch' });
      var t = svg(root, 'text', { x: x + 17, y: y }, s.name);
      x += 17 + Math.max(60, t.getComputedTextLength ? t.getComputedTextLength() : s.name.length * 7) + 22;
    });
  }

  function emptyState(root, W, H, message) {
    svg(root, 'text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', 'class': 'empty' }, message);
  }

  // ---- vertical bars per size class (stacked or grouped) -------------------
  // opts: {labels, series: [{name, color, values}], mode: 'stacked'|'grouped',
  //        kind: 'bytes'|'count'|'ratio', tooltip(i, s), reference: {value, label}}
  function columnChart(root, opts) {
    var W = 1200, H = 390, left = 84, right = 16, top = 40, bottom = 62;
    root.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    clear(root);
    var n = opts.labels.length;
    if (n === 0) { emptyState(root, W, H, 'No size class has any activity.'); return; }
    var fmt = formatters[opts.kind];
    var peak = 0;
    for (var i = 0; i < n; i++) {
      var total = 0;
      opts.series.forEach(function (s) {
        total = opts.mode === 'stacked' ? total + s.values[i] : Math.max(total, s.values[i]);
      });
      peak = Math.max(peak, total);
    }
    var plotW = W - left - right, plotH = H - top - bottom;
    var y, ticks = [];
    if (opts.log) {
      // Counts spanning orders of magnitude; 0 and 1 both sit on the baseline.
      var decades = Math.max(1, Math.ceil(Math.log10(Math.max(peak, 1)) - 1e-9));
      y = function (v) { return top + plotH - (v > 1 ? Math.log10(v) / decades : 0) * plotH; };
      for (var d = 0; d <= decades; d++) ticks.push(Math.pow(10, d));
    } else {
      var scale = axisScale(peak, opts.kind);
      y = function (v) { return top + plotH - (v / scale.top) * plotH; };
      for (var t = 0; t <= scale.top + scale.step / 1e6; t += scale.step) ticks.push(t);
    }

    legend(root, opts.series, left, 18);
    ticks.forEach(function (v) {
      svg(root, 'line', { x1: left, x2: W - right, y1: y(v), y2: y(v), 'class': 'grid' });
      svg(root, 'text', { x: left - 8, y: y(v) + 4, 'text-anchor': 'end', 'class': 'tick' }, fmt(v));
    });
    var band = plotW / n;
    var inner = Math.min(band * 0.78, 64);
    var rotate = n > 22;
    for (var c = 0; c < n; c++) {
      var x0 = left + c * band + (band - inner) / 2;
      var base = 0;
      opts.series.forEach(function (s, si) {
        var value = s.values[c];
        if (!(value > 0)) return;
        var x = x0, w = inner, bottomY;
        var topY;
        if (opts.mode === 'stacked') {
          bottomY = y(base);
          topY = y(base + value);
          base += value;
        } else {
          w = inner / opts.series.length;
          x = x0 + si * w;
          bottomY = y(0);
          topY = y(value);
        }
        var h = Math.max(bottomY - topY, 1);  // a non-zero value stays visible
        var bar = svg(root, 'rect', { x: x.toFixed(2), y: (bottomY - h).toFixed(2),
          width: Math.max(opts.mode === 'grouped' ? w - 1 : w, 1).toFixed(2), height: h.toFixed(2),
          fill: s.color, 'class': 'bar', 'data-series': s.name });
        svg(bar, 'title', {}, opts.tooltip(c, si));
      });
      var lx = left + c * band + band / 2, ly = top + plotH + 14;
      svg(root, 'text', rotate
        ? { x: lx, y: ly, 'text-anchor': 'end', transform: 'rotate(-50 ' + lx + ' ' + ly + ')', 'class': 'tick' }
        : { x: lx, y: ly, 'text-anchor': 'middle', 'class': 'tick' }, opts.labels[c]);
    }
    if (opts.reference) {
      var ry = y(opts.reference.value);
      svg(root, 'path', { d: 'M' + left + ' ' + ry + 'H' + (W - right), stroke: '#1d2330',
        'stroke-dasharray': '6 4', 'stroke-width': 1.5, fill: 'none', 'class': 'reference' });
      // Labelled in the legend row: a label on the line itself would sit on the bars.
      var lx0 = W - right - 230;
      svg(root, 'path', { d: 'M' + lx0 + ' 14H' + (lx0 + 26), stroke: '#1d2330', 'stroke-dasharray': '6 4',
        'stroke-width': 1.5, fill: 'none' });
      svg(root, 'text', { x: lx0 + 32, y: 18 }, opts.reference.label);
    }
    svg(root, 'path', { d: 'M' + left + ' ' + top + 'V' + (top + plotH) + 'H' + (W - right), fill: 'none', 'class': 'axis' });
    svg(root, 'text', { x: left + plotW / 2, y: H - 4, 'text-anchor': 'middle', 'class': 'tick' }, 'block size of the class (bytes)');
  }

  // ---- horizontal bars (memory summary) ------------------------------------
  function barList(root, items) {
    var W = 1200, left = 190, right = 120, top = 12, row = 34, bottom = 30;
    var H = top + items.length * row + bottom;
    root.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    clear(root);
    var peak = 0;
    items.forEach(function (it) { peak = Math.max(peak, it.value); });
    var scale = axisScale(peak, 'bytes');
    var plotW = W - left - right;
    function x(v) { return left + (v / scale.top) * plotW; }
    var plotBottom = top + items.length * row;
    for (var v = 0; v <= scale.top + scale.step / 1e6; v += scale.step) {
      svg(root, 'line', { x1: x(v), x2: x(v), y1: top, y2: plotBottom, 'class': 'grid' });
      svg(root, 'text', { x: x(v), y: plotBottom + 16, 'text-anchor': 'middle', 'class': 'tick' }, fmtBytes(v));
    }
    items.forEach(function (it, i) {
      var yMid = top + i * row + row / 2;
      svg(root, 'text', { x: left - 10, y: yMid + 4, 'text-anchor': 'end' }, it.label);
      var w = it.value > 0 ? Math.max(x(it.value) - left, 1) : 0;
      if (w > 0) {
        var bar = svg(root, 'rect', { x: left, y: (yMid - 11).toFixed(2), width: w.toFixed(2), height: 22, rx: 2,
          fill: it.color, 'class': 'bar', 'data-series': it.label });
        svg(bar, 'title', {}, it.label + ': ' + fmtBytes(it.value) + ' (' + groupDigits(it.value) + ' bytes)');
      }
      svg(root, 'text', { x: left + w + 8, y: yMid + 4, 'class': 'tick' }, fmtBytes(it.value));
    });
    svg(root, 'path', { d: 'M' + left + ' ' + top + 'V' + plotBottom, fill: 'none', 'class': 'axis' });
  }

  // ---- the data ------------------------------------------------------------
  var classes = stats.classes;
  function refills(c) {
    return c.refill_own_remote + c.refill_sticky + c.refill_mailbox + c.refill_adopt + c.refill_gate + c.refill_fresh;
  }
  function isActive(c) {
    return c.slabs + c.blocks_in_use + c.blocks_free + c.remote_frees + c.drains + c.adopts + refills(c) > 0;
  }
  // Idle classes would only stretch the axes; they stay in the table.
  var active = classes.filter(isActive);
  var labels = active.map(function (c) { return fmtBlockSize(c.block_size); });
  function column(field) { return active.map(function (c) { return c[field]; }); }
  function classTitle(c) { return 'class ' + c['class'] + ' (' + groupDigits(c.block_size) + ' B blocks)'; }

  var sumUsed = 0, sumFree = 0;
  classes.forEach(function (c) { sumUsed += c.bytes_in_use; sumFree += c.bytes_free; });

  function drawMemory(root) {
    barList(root, [
      { label: 'mapped now', value: stats.bytes_mapped, color: '#2f6fde' },
      { label: 'mapped peak', value: stats.bytes_mapped_peak, color: '#93b4ee' },
      { label: 'RSS now', value: stats.rss_bytes, color: '#2a9d8f' },
      { label: 'RSS peak', value: stats.rss_peak_bytes, color: '#8fd1c8' },
      { label: 'purged (total)', value: stats.bytes_purged, color: '#e76f51' },
      { label: 'large blocks in use', value: stats.large_bytes, color: '#7b5cd6' },
      { label: 'large cache', value: stats.large_cached_bytes, color: '#c3b4ef' }
    ]);
  }

  function drawOccupancy(root) {
    var series = [
      { name: 'in use', color: '#2f6fde', values: column('bytes_in_use'), field: 'bytes_in_use', blocks: 'blocks_in_use' },
      { name: 'free', color: '#f2b45a', values: column('bytes_free'), field: 'bytes_free', blocks: 'blocks_free' }
    ];
    columnChart(root, { labels: labels, series: series, mode: 'stacked', kind: 'bytes',
      tooltip: function (i, s) {
        var c = active[i], f = series[s];
        return classTitle(c) + '\n' + f.name + ': ' + fmtBytes(c[f.field]) + ' in ' + groupDigits(c[f.blocks]) +
          ' blocks\nslabs: ' + groupDigits(c.slabs);
      } });
  }

  function fragmentation(c) {
    var total = c.bytes_in_use + c.bytes_free;
    return total > 0 ? c.bytes_free / total : 0;
  }
  function drawFragmentation(root) {
    var overall = sumUsed + sumFree > 0 ? sumFree / (sumUsed + sumFree) : 0;
    columnChart(root, { labels: labels, mode: 'grouped', kind: 'ratio',
      series: [{ name: 'free / (in use + free)', color: '#d1495b', values: active.map(fragmentation) }],
      reference: { value: overall, label: 'all classes: ' + fmtPercent(overall, 1) },
      tooltip: function (i) {
        var c = active[i];
        return classTitle(c) + '\nfragmentation: ' + fmtPercent(fragmentation(c), 1) + '\n' +
          fmtBytes(c.bytes_free) + ' free of ' + fmtBytes(c.bytes_in_use + c.bytes_free);
      } });
  }

  function countSeries(list) {
    return list.map(function (d) { return { name: d[0], field: d[1], color: d[2], values: column(d[1]) }; });
  }
  function countChart(root, series, mode, log) {
    columnChart(root, { labels: labels, series: series, mode: mode, kind: 'count', log: log,
      tooltip: function (i, s) {
        var c = active[i];
        return classTitle(c) + '\n' + series[s].name + ': ' + groupDigits(c[series[s].field]);
      } });
  }
  function drawRemote(root) {
    var toggle = document.getElementById('remote-log');
    countChart(root, countSeries([
      ['remote frees', 'remote_frees', '#7b5cd6'],
      ['drains', 'drains', '#2a9d8f'],
      ['adopts', 'adopts', '#e76f51']
    ]), 'grouped', toggle !== null && toggle.checked);
    if (toggle !== null && !toggle.dataset.bound) {
      toggle.dataset.bound = '1';
      toggle.addEventListener('change', function () { drawRemote(root); });
    }
  }
  function drawRefill(root) {
    countChart(root, countSeries([
      ['own remote', 'refill_own_remote', '#2a9d8f'],
      ['sticky', 'refill_sticky', '#457b9d'],
      ['mailbox', 'refill_mailbox', '#7b5cd6'],
      ['adopt', 'refill_adopt', '#e76f51'],
      ['gate', 'refill_gate', '#e9c46a'],
      ['fresh', 'refill_fresh', '#8d99ae']
    ]), 'stacked');
  }

  // ---- cards and table -----------------------------------------------------
  function drawCards() {
    var cards = document.getElementById('cards');
    var remote = 0, refillTotal = 0;
    classes.forEach(function (c) { remote += c.remote_frees; refillTotal += refills(c); });
    [
      ['in use', fmtBytes(sumUsed), fmtBytes(sumFree) + ' free in slabs'],
      ['mapped', fmtBytes(stats.bytes_mapped), 'peak ' + fmtBytes(stats.bytes_mapped_peak)],
      ['resident (RSS)', fmtBytes(stats.rss_bytes), 'peak ' + fmtBytes(stats.rss_peak_bytes)],
      ['SuperSlabs', groupDigits(stats.superslabs), 'peak ' + groupDigits(stats.superslabs_peak)],
      ['large blocks', groupDigits(stats.large_blocks), fmtBytes(stats.large_bytes) + ', cache ' + fmtBytes(stats.large_cached_bytes)],
      ['threads', groupDigits(stats.threads_live) + ' live', groupDigits(stats.threads_exited) + ' exited'],
      ['remote frees', groupDigits(remote), groupDigits(refillTotal) + ' refills'],
      ['OS mappings', groupDigits(stats.os_maps), groupDigits(stats.os_unmaps) + ' unmapped, ' + fmtBytes(stats.bytes_purged) + ' purged']
    ].forEach(function (d) {
      var card = html(cards, 'div', { 'class': 'card' });
      html(card, 'div', { 'class': 'label' }, d[0]);
      html(card, 'div', { 'class': 'value' }, d[1]);
      html(card, 'div', { 'class': 'sub' }, d[2]);
    });
  }

  function drawTable() {
    var table = document.getElementById('class-table');
    var columns = [
      ['class', function (c) { return c['class']; }],
      ['block size', function (c) { return groupDigits(c.block_size); }],
      ['slabs', function (c) { return groupDigits(c.slabs); }],
      ['blocks in use', function (c) { return groupDigits(c.blocks_in_use); }],
      ['blocks free', function (c) { return groupDigits(c.blocks_free); }],
      ['bytes in use', function (c) { return fmtBytes(c.bytes_in_use); }],
      ['bytes free', function (c) { return fmtBytes(c.bytes_free); }],
      ['fragmentation', function (c) { return c.bytes_in_use + c.bytes_free > 0 ? fmtPercent(fragmentation(c), 1) : '\u2013'; }],
      ['remote frees', function (c) { return groupDigits(c.remote_frees); }],
      ['drains', function (c) { return groupDigits(c.drains); }],
      ['adopts', function (c) { return groupDigits(c.adopts); }],
      ['refills', function (c) { return groupDigits(refills(c)); }]
    ];
    var head = html(html(table, 'thead', {}), 'tr', {});
    columns.forEach(function (col) { html(head, 'th', { scope: 'col' }, col[0]); });
    var body = html(table, 'tbody', {});
    classes.forEach(function (c) {
      var tr = html(body, 'tr', isActive(c) ? {} : { 'class': 'idle' });
      columns.forEach(function (col) { html(tr, 'td', {}, String(col[1](c))); });
    });
    document.getElementById('table-note').textContent = active.length + ' of ' + classes.length +
      ' size classes saw activity; the charts show those, the table shows all (idle ones greyed).';
  }

  // ---- draw everything; each chart on its own so one failure shows alone ----
  var charts = [
    ['chart-memory', drawMemory],
    ['chart-occupancy', drawOccupancy],
    ['chart-fragmentation', drawFragmentation],
    ['chart-remote', drawRemote],
    ['chart-refill', drawRefill]
  ];
  var drawn = 0;
  charts.forEach(function (entry) {
    var root = document.getElementById(entry[0]);
    try {
      entry[1](root);
      drawn++;
    } catch (err) {
      clear(root);
      root.setAttribute('viewBox', '0 0 1200 60');
      svg(root, 'text', { x: 10, y: 35, 'class': 'error' }, 'This chart could not be drawn: ' + err);
      if (window.console) console.error(err);
    }
  });
  try { drawCards(); drawTable(); } catch (err) { if (window.console) console.error(err); }
  document.body.dataset.chartsDrawn = String(drawn);

  // ---- heap profile (hakmem report --profile): flame graph and top sites ----------
  // A flame graph of the sampled stacks: the root at the bottom, each frame as wide as
  // the bytes its callees hold (or allocated); click a frame to zoom, the root to reset.
  var profileData = document.getElementById('hakmem-profile');
  if (!profileData) return;
  var profile = JSON.parse(profileData.textContent);
  var metric = 'live_bytes';
  var focus = null;

  function flameTree() {
    var root = { name: 'all', value: 0, kids: {}, depth: 0 };
    profile.stacks.forEach(function (s) {
      var v = s[metric];
      if (!v) return;
      root.value += v;
      var node = root;
      for (var i = s.frames.length - 1; i >= 0; i--) {  // frames are leaf first
        var k = node.kids[s.frames[i]];
        if (!k) k = node.kids[s.frames[i]] = { name: s.frames[i], value: 0, kids: {}, parent: node, depth: node.depth + 1 };
        k.value += v;
        node = k;
      }
    });
    return root;
  }

  function drawFlame() {
    var root = document.getElementById('flame');
    clear(root);
    var tree = flameTree(), W = 1200, rowH = 18, rows = [];
    if (!focus) focus = tree;
    (function collect(n) {
      rows[n.depth] = true;
      Object.keys(n.kids).forEach(function (k) { collect(n.kids[k]); });
    })(tree);
    var H = Math.max(2, rows.length) * rowH + 4;
    root.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    if (!tree.value) { emptyState(root, W, H, 'No sampled bytes.'); return 0; }
    var frames = 0;
    function rect(n, x, w) {
      var y = H - (n.depth + 1) * rowH;
      var hue = 20 + (n.name.length * 37) % 40;
      var g = svg(root, 'g', { 'class': 'frame' });
      svg(g, 'rect', { x: x, y: y, width: Math.max(w - 0.5, 0.5), height: rowH - 1, rx: 2,
                       fill: 'hsl(' + hue + ',85%,' + (n === focus ? 48 : 60) + '%)', 'class': 'bar' });
      svg(g, 'title', {}, n.name + '\n' + fmtBytes(n.value) + ' (' + fmtPercent(n.value / tree.value, 1) + ')');
      if (w > 40) svg(g, 'text', { x: x + 3, y: y + rowH - 5, 'class': 'flame-label' }, n.name.slice(0, Math.floor(w / 7)));
      g.addEventListener('click', function () { focus = n === focus ? (n.parent || tree) : n; drawFlame(); });
      frames++;
    }
    // The focus and its ancestors span the width; the focus's callees share it.
    for (var a = focus; a; a = a.parent) rect(a, 0, W);
    (function layout(n, x, w) {
      var kx = x;
      Object.keys(n.kids).sort().forEach(function (k) {
        var kid = n.kids[k], kw = w * kid.value / n.value;
        if (kw >= 0.5) { rect(kid, kx, kw); layout(kid, kx, kw); }
        kx += kw;
      });
    })(focus, 0, W);
    svg(root, 'path', { d: 'M0 ' + (H - 0.5) + 'H' + W, 'class': 'axis' });
    return frames;
  }

  function drawSites() {
    var table = document.getElementById('site-table');
    clear(table);
    var total = 0;
    profile.stacks.forEach(function (s) { total += s[metric]; });
    var sites = profile.stacks.filter(function (s) { return s[metric] > 0; })
      .sort(function (a, b) { return b[metric] - a[metric]; }).slice(0, 20);
    var blocks = metric === 'live_bytes' ? 'live_blocks' : 'alloc_blocks';
    var head = html(html(table, 'thead', {}), 'tr', {});
    ['rank', metric === 'live_bytes' ? 'live bytes' : 'allocated', 'share', 'blocks', 'site', 'called from']
      .forEach(function (t) { html(head, 'th', { scope: 'col' }, t); });
    var body = html(table, 'tbody', {});
    sites.forEach(function (s, i) {
      var tr = html(body, 'tr', {});
      [String(i + 1), fmtBytes(s[metric]), fmtPercent(total ? s[metric] / total : 0, 1), groupDigits(s[blocks]),
       s.frames[0] || '(unknown)', s.frames.slice(1, 4).join(' \u2190 ')]
        .forEach(function (t, k) { html(tr, 'td', k >= 4 ? { 'class': 'site' } : {}, t); });
    });
  }

  function drawProfile() {
    try {
      document.body.dataset.flameFrames = String(drawFlame());
      drawSites();
    } catch (err) { if (window.console) console.error(err); }
  }
  // Nothing live (a program that frees everything before it exits): show allocations.
  if (!profile.stacks.some(function (s) { return s.live_bytes > 0; })) {
    metric = 'alloc_bytes';
    document.getElementById('flame-alloc').checked = true;
  }
  document.getElementById('flame-alloc').addEventListener('change', function (e) {
    metric = e.target.checked ? 'alloc_bytes' : 'live_bytes';
    focus = null;
    drawProfile();
  });
  drawProfile();
})();
)JS";

}  // namespace hakmem_cli
