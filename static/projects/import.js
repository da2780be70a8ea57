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
  window.cvFollowJob(box.dataset.statusUrl, function (data) {
    bar.value = data.percent;
    count.textContent = data.done + " of " + data.total;
    phase.textContent = data.phase || "Waiting for a worker";
    status.textContent = data.status;
    status.className = "status status-" + data.status.toLowerCase();
  });
})();
