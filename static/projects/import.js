(function () {
  "use strict";
  // A large archive takes a while to upload and ingest: say so, and don't import it twice.
  var form = document.getElementById("import-form");
  var button = document.getElementById("import-button");
  form.addEventListener("submit", function () {
    button.disabled = true;
    document.getElementById("import-status").textContent = "Importing… large projects take a while.";
  });
  window.addEventListener("pageshow", function () {
    button.disabled = false;
    document.getElementById("import-status").textContent = "";
  });
})();
