// The charts of the service health and load pages (templates/health/, templates/load/). The
// page describes each chart in its JSON block (#metrics-charts): the canvas's id, the kind
// ("bar", "line", "doughnut"), the labels and the series; this file only draws them. The tables
// beside every chart say the same for screen readers and for anyone without scripts.
"use strict";

(function () {
  var COLOURS = ["#3f5fa8", "#e0a030", "#4c9f70", "#b04a8c", "#2b8cbe", "#e34a33", "#999999"];

  function readCharts() {
    var block = document.getElementById("metrics-charts");
    return block ? JSON.parse(block.textContent) : [];
  }

  function textColour() {
    return getComputedStyle(document.body).color || "#333";
  }

  function colourOf(series, index) {
    return series.colour || COLOURS[index % COLOURS.length];
  }

  function draw(spec) {
    var canvas = document.getElementById(spec.canvas);
    if (!canvas || !spec.labels.length) {
      return;
    }
    var round = spec.kind === "doughnut";
    if (round && !spec.series[0].values.some(function (v) { return v; })) {
      return; // nothing to share out: the figures beside it say so
    }
    var datasets = spec.series.map(function (series, index) {
      return {
        label: series.label,
        data: series.values,
        backgroundColor: round
          ? series.values.map(function (_, i) { return COLOURS[i % COLOURS.length]; })
          : colourOf(series, index),
        borderColor: round ? undefined : colourOf(series, index),
        // A gap (no incident that week) stays a gap rather than a fall to zero.
        spanGaps: false,
        tension: 0,
      };
    });
    var colour = textColour();
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      color: colour,
      plugins: {
        legend: { display: round || spec.series.length > 1 },
        tooltip: {
          callbacks: {
            label: function (item) {
              var value = round ? item.parsed : (spec.horizontal ? item.parsed.x : item.parsed.y);
              var name = round ? item.label : item.dataset.label;
              return name + ": " + (value === null ? "none" : value) + (spec.unit ? " " + spec.unit : "");
            },
          },
        },
      },
    };
    if (!round) {
      // Counts (incidents, pages) get whole-number ticks, not 0.1 steps.
      var counts = datasets.every(function (set) {
        return set.data.every(function (value) { return value === null || Number.isInteger(value); });
      });
      var valueAxis = {
        beginAtZero: true,
        stacked: !!spec.stacked,
        title: { display: !!spec.unit, text: spec.unit || "" },
        ticks: counts ? { color: colour, precision: 0 } : { color: colour },
      };
      var labelAxis = { stacked: !!spec.stacked, ticks: { color: colour } };
      options.indexAxis = spec.horizontal ? "y" : "x";
      options.scales = spec.horizontal
        ? { x: valueAxis, y: labelAxis }
        : { x: labelAxis, y: valueAxis };
    }
    new window.Chart(canvas, { type: spec.kind, data: { labels: spec.labels, datasets: datasets }, options: options });
  }

  function drawAll() {
    if (!window.Chart) {
      return;
    }
    readCharts().forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
})();
