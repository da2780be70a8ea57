// While a worker lists the Azure account's projects, poll the listing; reload once it ends
// (the page then shows the projects to pick, or why the listing failed).
(function () {
  "use strict";
  var box = document.getElementById("listing-progress");
  if (!box) return;
  // A listing forgotten meanwhile (404) has ended too: the page says what is left.
  window.cvFollowJob(box.dataset.statusUrl, function () {}, {active: false});
})();
