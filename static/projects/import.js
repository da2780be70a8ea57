// While an import job runs (an Azure account, a project archive), poll its state and move the
// bar; reload once it ends (summary).
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.dataset.active !== "1") return;
  var bar = box.querySelector("progress");
  var count = document.getElementById("import-count");
  var phase = document.getElementById("import-phase");
  var status = document.getElementById("import-status");
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.value = data.percent;
        count.textContent = data.done + " of " + data.total;
        phase.textContent = data.phase || "Waiting for a worker";
        status.textContent = data.status;
        status.className = "status status-" + data.status.toLowerCase();
        if (data.active) {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
