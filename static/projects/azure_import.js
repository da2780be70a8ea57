// The Import page: while a worker lists the Azure account's projects, poll the listing and
// reload once it ends (the page then shows the projects to pick, or why the listing failed).
// Once the endpoint or the key is edited, the projects shown are another account's: the page
// forgets them (no project, no ticked box, Import disabled) until they are listed again.
(function () {
  "use strict";
  var box = document.getElementById("listing-progress");
  if (box) {
    // A listing forgotten meanwhile (404) has ended too: the page says what is left.
    window.cvFollowJob(box.dataset.statusUrl, function () {}, {active: false});
  }

  var source = document.getElementById("azure-source");
  var listing = document.getElementById("azure-listing");
  if (!source || !listing) return;
  var endpoint = source.querySelector("[name=endpoint]");
  var key = source.querySelector("[name=key]");

  // As the server spells an endpoint (projects.azure.client.endpoint_base), near enough to
  // tell the listed one from another.
  function base(text) {
    text = text.trim().toLowerCase().replace(/\/+$/, "");
    if (text && text.indexOf("://") < 0) text = "https://" + text;
    return text.replace(/^https:\/\/([^/:]+):443$/, "https://$1");
  }

  // The other account's projects leave the page; the Import button stays, disabled, where
  // the user looks for it, until a new listing brings this account's.
  function forget() {
    if (listing.dataset.forgotten) return;
    listing.dataset.forgotten = "true";
    var picker = document.getElementById("azure-pick");
    if (picker) {
      var table = document.getElementById("azure-projects");
      if (table) table.remove();
      picker.querySelectorAll("input[type=checkbox]").forEach(function (input) {
        input.checked = false;
        input.disabled = true;
      });
      picker.querySelectorAll("button").forEach(function (button) {
        button.disabled = true;
      });
    }
    var progress = document.getElementById("listing-progress");
    if (progress) progress.remove();
    var note = document.createElement("p");
    note.id = "listing-forgotten";
    note.setAttribute("role", "status");
    note.textContent = "The endpoint or key changed: the projects listed before are " +
      "forgotten. Select List projects to see this account's.";
    var heading = listing.querySelector("h2");
    heading.textContent = "2. Projects";
    heading.after(note);
  }

  function check() {
    if (base(endpoint.value) !== base(listing.dataset.endpoint)) forget();
  }

  if (endpoint) {
    endpoint.addEventListener("input", check);
    check();  // a value the browser restored (Back) that is not the listed endpoint
  }
  if (key) key.addEventListener("input", forget);
})();
