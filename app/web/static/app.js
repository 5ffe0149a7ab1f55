// Baton's own script for every page; pages put their own scripts in the "head" block.
"use strict";

// An htmx request that fails: Baton's error answers say where they go (HX-Retarget, the
// page's #flash area), so they are swapped in; anything else is said in #flash too.
document.addEventListener("htmx:beforeSwap", function (event) {
  var xhr = event.detail.xhr;
  if (xhr.status < 400) {
    return;
  }
  if (xhr.getResponseHeader("HX-Retarget")) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

document.addEventListener("htmx:sendError", function () {
  var flash = document.getElementById("flash");
  if (flash) {
    flash.textContent = "Baton cannot be reached; check your connection and try again.";
  }
});
