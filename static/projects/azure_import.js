// While a worker lists the Azure account's projects, poll the listing; reload once it ends
// (the page then shows the projects to pick, or why the listing failed).
(function () {
  "use strict";
  var box = document.getElementById("listing-progress");
  if (!box) return;
  function poll() {
    fetch(box.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 404) return {active: false};  // forgotten: the page says what is left
        return r.json();
      })
      .then(function (data) {
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
