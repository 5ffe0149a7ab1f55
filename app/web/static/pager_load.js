// The pager-load page's charts (templates/pager_load/load.html): stacked bars per person and
// per team, and the Dev vs Ops share. The figures come from the page's JSON block; the tables
// under the charts say the same for screen readers and for anyone without scripts.
"use strict";

(function () {
  var COLOURS = {
    business_hours: "#4c9f70",
    evening_hours: "#e0a030",
    night_hours: "#3f5fa8",
    weekend_hours: "#b04a8c",
  };
  var SHARE_COLOURS = ["#2b8cbe", "#e34a33", "#999999"];

  function readData() {
    var block = document.getElementById("pager-load-data");
    return block ? JSON.parse(block.textContent) : null;
  }

  function textColour() {
    return getComputedStyle(document.body).color || "#333";
  }

  function stackedBars(canvasId, bars) {
    var canvas = document.getElementById(canvasId);
    if (!canvas || !bars.labels.length) {
      return;
    }
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: bars.labels,
        datasets: bars.series.map(function (series) {
          return {
            label: series.label,
            data: series.values,
            backgroundColor: COLOURS[series.key],
          };
        }),
      },
      options: {
        // Horizontal bars: names stay readable on a phone.
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        color: textColour(),
        scales: {
          x: { stacked: true, title: { display: true, text: "hours" }, ticks: { color: textColour() } },
          y: { stacked: true, ticks: { color: textColour() } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.dataset.label + ": " + item.parsed.x.toFixed(1) + " h";
              },
            },
          },
        },
      },
    });
  }

  function share(canvasId, data) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) {
      return;
    }
    new window.Chart(canvas, {
      type: "doughnut",
      data: {
        labels: data.labels,
        datasets: [
          {
            data: data.values.map(function (v) { return Math.round(v * 1000) / 10; }),
            backgroundColor: SHARE_COLOURS,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        color: textColour(),
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                return item.label + ": " + item.parsed + "%";
              },
            },
          },
        },
      },
    });
  }

  function draw() {
    var data = readData();
    if (!data || !window.Chart) {
      return;
    }
    stackedBars("people-chart", data.people);
    stackedBars("teams-chart", data.teams);
    share("share-chart", data.share);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
