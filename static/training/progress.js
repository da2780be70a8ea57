// While an iteration trains, poll its status and update the bar; reload once it finishes.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  var bar = box.querySelector("progress");
  var percent = document.getElementById("progress-percent");
  var phase = document.getElementById("progress-phase");
  var status = document.getElementById("iteration-status");
  // The sidebar's badge of this iteration says the same as the heading's.
  var listed = document.querySelector(".iteration-list a[aria-current=page] .status:not(.status-published)");
  function show(badge, text) {
    if (!badge) return;
    badge.textContent = text;
    badge.className = "status status-" + text.toLowerCase();
  }
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.value = data.progress;
        percent.textContent = data.progress + "%";
        phase.textContent = data.phase || "Waiting for a worker";
        show(status, data.status);
        show(listed, data.status);
        if (data.status === "Queued" || data.status === "Training") {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
