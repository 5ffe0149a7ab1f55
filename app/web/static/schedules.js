// The schedule page's timeline: one row per layer, one for the overrides, one for the final
// schedule, gaps in red, clock changes marked, shadows striped. The data comes from the
// page's <script type="application/json" id="schedule-data"> block (schedules.py builds it);
// the same shifts are in the table below the chart, for screen readers and without scripts.
//
// Times are drawn on the viewer's wall clock (Baton's zone for them, not the browser's): the
// server sends each instant's wall-clock time ("wall_start"), which is given to vis-timeline
// as if it were UTC and shown in UTC, so the axis never moves with the browser's own DST.
"use strict";

(function () {
  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }

  function asUtc(wallTime) {
    return wallTime + "Z";
  }

  function shiftLabel(shift) {
    var label = shift.name;
    if (shift.shadow) {
      label += " (shadow)";
    }
    if (shift.covering && shift.covering.length) {
      label += ", covering " + shift.covering[shift.covering.length - 1];
    }
    return label;
  }

  function shiftItem(id, group, shift) {
    return {
      id: id,
      group: group,
      start: asUtc(shift.wall_start),
      end: asUtc(shift.wall_end),
      content: text(shiftLabel(shift)),
      title: text(shiftLabel(shift)),
      className: shift.shadow ? "shift shift-shadow" : "shift",
    };
  }

  function build(data) {
    var groups = [];
    var items = [];
    var next = 1;
    function nextId() {
      next += 1;
      return "item-" + next;
    }

    data.layers.forEach(function (layer, index) {
      var group = "layer-" + layer.id;
      groups.push({ id: group, content: text("Layer: " + layer.name), order: index });
      layer.shifts.forEach(function (shift) {
        items.push(shiftItem(nextId(), group, shift));
      });
    });

    groups.push({ id: "overrides", content: text("Overrides"), order: 1000 });
    data.overrides.forEach(function (override) {
      var label = override.name + (override.replaces_name ? " instead of " + override.replaces_name : " (whole schedule)");
      items.push({
        id: nextId(),
        group: "overrides",
        start: asUtc(override.wall_start),
        end: asUtc(override.wall_end),
        content: text(label),
        title: text(label + (override.reason ? ": " + override.reason : "")),
        className: "override",
      });
    });

    groups.push({ id: "final", content: text("Final schedule"), order: 1001 });
    data.final.forEach(function (shift) {
      items.push(shiftItem(nextId(), "final", shift));
    });
    data.gaps.forEach(function (gap) {
      items.push({
        id: nextId(),
        group: "final",
        start: asUtc(gap.wall_start),
        end: asUtc(gap.wall_end),
        type: "background",
        content: text("Nobody on call"),
        title: text("Nobody on call"),
        className: "gap-background",
      });
      items.push({
        id: nextId(),
        group: "final",
        start: asUtc(gap.wall_start),
        end: asUtc(gap.wall_end),
        content: text("Nobody on call"),
        className: "gap-item",
      });
    });

    // A clock change: on the viewer's wall clock the skipped or repeated stretch, else (a
    // change in another zone) a short band at the instant, labelled with the zone.
    data.dst_changes.forEach(function (change) {
      var before = asUtc(change.wall_before);
      var after = asUtc(change.wall_after);
      var low = before < after ? before : after;
      var high = before < after ? after : before;
      if (new Date(high) - new Date(low) < 30 * 60 * 1000) {
        high = new Date(new Date(low).getTime() + 30 * 60 * 1000).toISOString();
      }
      items.push({
        id: nextId(),
        start: low,
        end: high,
        type: "background",
        content: text(change.label),
        title: text(change.label),
        className: "dst-background",
      });
    });
    return { groups: groups, items: items };
  }

  function draw() {
    var container = document.getElementById("schedule-timeline");
    var source = document.getElementById("schedule-data");
    if (!container || !source || typeof vis === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var built = build(data);
    var windowStart = asUtc(data.window.wall_start);
    var windowEnd = asUtc(data.window.wall_end);
    var timeline = new vis.Timeline(container, new vis.DataSet(built.items), new vis.DataSet(built.groups), {
      moment: function (date) {
        return vis.moment(date).utc();
      },
      start: windowStart,
      end: windowEnd,
      min: windowStart,
      max: windowEnd,
      zoomMin: 60 * 60 * 1000,
      stack: true,
      selectable: false,
      editable: false,
      showCurrentTime: false,
      orientation: { axis: "top" },
      groupOrder: "order",
      margin: { item: { horizontal: 0 } },
    });
    var now = asUtc(data.wall_now);
    if (now >= windowStart && now <= windowEnd) {
      timeline.addCustomTime(now, "now");
      timeline.setCustomTimeTitle("Now", "now");
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
