// Follows a job a worker runs (an import, an account's listing): asks for its state (JSON)
// every second while it is active, then reloads the page, which shows how it ended. A request
// that fails is tried again after 3 s. `show` draws each state; `gone` is the state to take
// when the job answers 404 (none: as a failed request).
window.cvFollowJob = function (url, show, gone) {
  "use strict";
  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (r.status === 404 && gone) return gone;
        return r.json();
      })
      .then(function (data) {
        show(data);
        if (data.active) {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
};
