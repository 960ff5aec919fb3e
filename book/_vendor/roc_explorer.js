/* The ROC primer's threshold explorer (data: cxrlib/book/roc_explorer.py; added by book/_ext/roc_explorer.py).
   Plain JavaScript shipped with the book: no network, works from file://.

   Contract checked by cxrlib.book.browser_check: after it ran, the widget holds a slider
   input[data-threshold-index], cells [data-cell=tp|fp|fn|tn] with the counts, a circle [data-roc-point]
   whose data-fpr / data-tpr are the point's rates, and [data-threshold] showing the threshold. A page
   address ending in #roc-explorer=<finding>:<index> selects that finding and moves the slider there through
   the same input event a reader's hand fires (the browser check uses it). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var SIZE = 300, PAD = 52;

  function el(tag, attrs, text) {
    var node = tag.indexOf("svg:") === 0 ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function x(fpr) { return PAD + fpr * SIZE; }
  function y(tpr) { return PAD + (1 - tpr) * SIZE; }
  function pct(num, den) { return den ? (100 * num / den).toFixed(1) + " %" : "undefined (0/0)"; }
  function fmt(t) { return t >= 0.01 ? t.toFixed(3) : t.toPrecision(3); }

  function build(root) {
    var data = JSON.parse(root.querySelector(".roc-explorer-data").textContent);
    var names = Object.keys(data.findings);
    var state = { finding: names[0] };

    var controls = el("div", { "class": "roc-controls" });
    var pick = el("select", { "aria-label": "finding", "data-finding": "" });
    names.forEach(function (n) { pick.appendChild(el("option", { value: n }, n)); });
    var slider = el("input", { type: "range", min: "0", step: "1", "data-threshold-index": "",
                               "aria-label": "decision threshold" });
    var shown = el("span", { "class": "roc-threshold", "data-threshold": "" });
    var youden = el("button", { type: "button" }, "Youden's J");
    var labelFinding = el("label", {}, "Finding ");
    labelFinding.appendChild(pick);
    var labelSlider = el("label", { "class": "roc-slider" }, "Threshold ");
    labelSlider.appendChild(slider);
    controls.appendChild(labelFinding);
    controls.appendChild(labelSlider);
    controls.appendChild(shown);
    controls.appendChild(youden);

    var svg = el("svg:svg", { viewBox: "0 0 " + (SIZE + PAD + 15) + " " + (SIZE + PAD + 35), "class": "roc-plot",
                               role: "img", "aria-label": "ROC curve with the current operating point" });
    svg.appendChild(el("svg:rect", { x: PAD, y: PAD, width: SIZE, height: SIZE, "class": "roc-frame" }));
    svg.appendChild(el("svg:line", { x1: x(0), y1: y(0), x2: x(1), y2: y(1), "class": "roc-chance" }));
    [0, 0.25, 0.5, 0.75, 1].forEach(function (v) {
      svg.appendChild(el("svg:text", { x: x(v), y: PAD + SIZE + 16, "text-anchor": "middle", "class": "roc-tick" }, v));
      svg.appendChild(el("svg:text", { x: PAD - 6, y: y(v) + 4, "text-anchor": "end", "class": "roc-tick" }, v));
    });
    svg.appendChild(el("svg:text", { x: PAD + SIZE / 2, y: PAD + SIZE + 32, "text-anchor": "middle", "class": "roc-axis" },
                       "false positive rate (1 - specificity)"));
    svg.appendChild(el("svg:text", { x: 14, y: PAD + SIZE / 2, "text-anchor": "middle", "class": "roc-axis",
                                     transform: "rotate(-90 14 " + (PAD + SIZE / 2) + ")" }, "sensitivity (true positive rate)"));
    var curve = el("svg:polyline", { "class": "roc-curve", fill: "none" });
    var point = el("svg:circle", { r: 6, "class": "roc-point", "data-roc-point": "" });
    var title = el("svg:text", { x: PAD, y: PAD - 12, "class": "roc-title" });
    svg.appendChild(curve);
    svg.appendChild(point);
    svg.appendChild(title);

    var table = el("table", { "class": "roc-matrix" });
    var head = el("tr");
    table.appendChild(el("caption", {}, "columns: the rule\u2019s call (positive: score \u2265 t); rows: the label"));
    ["", "positive", "negative", "total"].forEach(function (h) {
      head.appendChild(el("th", {}, h));
    });
    table.appendChild(head);
    function row(label, a, b, total) {
      var tr = el("tr");
      tr.appendChild(el("th", {}, label));
      tr.appendChild(el("td", { "data-cell": a }));
      tr.appendChild(el("td", { "data-cell": b }));
      tr.appendChild(el("td", { "data-cell": total }));
      table.appendChild(tr);
    }
    row("finding", "tp", "fn", "positives");
    row("no finding", "fp", "tn", "negatives");
    var rates = el("dl", { "class": "roc-rates" });

    var panel = el("div", { "class": "roc-panel" });
    var side = el("div", { "class": "roc-side" });
    side.appendChild(table);
    side.appendChild(rates);
    panel.appendChild(svg);
    panel.appendChild(side);
    root.appendChild(controls);
    root.appendChild(panel);

    function current() { return data.findings[state.finding]; }
    function cell(name, value) { root.querySelector('[data-cell="' + name + '"]').textContent = value.toLocaleString("en"); }

    function drawCurve() {
      var f = current();
      var pts = f.tp.map(function (tp, k) { return x(f.fp[k] / f.negatives) + "," + y(tp / f.positives); });
      curve.setAttribute("points", pts.join(" "));
      title.textContent = state.finding + ": AUROC " + f.auroc.toFixed(3);
      slider.max = String(f.thresholds.length - 1);
    }

    function update() {
      var f = current(), k = Number(slider.value);
      var tp = f.tp[k], fp = f.fp[k], fn = f.positives - tp, tn = f.negatives - fp;
      var fpr = fp / f.negatives, tpr = tp / f.positives;
      var last = k === f.thresholds.length - 1;
      shown.textContent = last ? "t above the highest score: nothing is positive" : "t = " + fmt(f.thresholds[k]);
      shown.setAttribute("data-value", String(f.thresholds[k]));
      cell("tp", tp); cell("fp", fp); cell("fn", fn); cell("tn", tn);
      cell("positives", f.positives); cell("negatives", f.negatives);
      point.setAttribute("cx", x(fpr));
      point.setAttribute("cy", y(tpr));
      point.setAttribute("data-fpr", String(fpr));
      point.setAttribute("data-tpr", String(tpr));
      rates.innerHTML = "";
      [["sensitivity TP/(TP+FN)", pct(tp, tp + fn)], ["specificity TN/(TN+FP)", pct(tn, tn + fp)],
       ["PPV TP/(TP+FP)", pct(tp, tp + fp)], ["NPV TN/(TN+FN)", pct(tn, tn + fn)],
       ["prevalence", pct(f.positives, f.positives + f.negatives)]].forEach(function (pair) {
        rates.appendChild(el("dt", {}, pair[0]));
        rates.appendChild(el("dd", {}, pair[1]));
      });
    }

    function youdenIndex() {
      var f = current(), best = 0, bestJ = -Infinity;
      f.tp.forEach(function (tp, k) {
        var j = tp / f.positives - f.fp[k] / f.negatives;
        if (j > bestJ) { bestJ = j; best = k; }
      });
      return best;
    }

    pick.addEventListener("change", function () {
      state.finding = pick.value;
      drawCurve();
      slider.value = String(Math.floor((current().thresholds.length - 1) * 0.9));
      update();
    });
    slider.addEventListener("input", update);
    youden.addEventListener("click", function () { slider.value = String(youdenIndex()); update(); });

    drawCurve();
    slider.value = String(Math.floor((current().thresholds.length - 1) * 0.9));
    update();

    var wanted = /#roc-explorer=([^:]+):(\d+)$/.exec(decodeURIComponent(window.location.hash || ""));
    if (wanted && data.findings[wanted[1]]) {
      pick.value = wanted[1];
      pick.dispatchEvent(new Event("change"));
      slider.value = wanted[2];
      slider.dispatchEvent(new Event("input"));
    }
  }

  function setup() { document.querySelectorAll("[data-roc-explorer]").forEach(build); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); } else { setup(); }
})();
