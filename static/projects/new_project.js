// New Project: "Classification Types" shows for Classification only, and "Domains" lists the
// domains of the chosen project type (the server checks the pair either way).
(function () {
  "use strict";
  function follow(form) {
    var chosen = form.querySelector("input[name=project_type]:checked");
    if (!chosen) return;
    var kind = chosen.value;
    var types = form.querySelector("[data-field=classification_type]");
    if (types) types.hidden = kind !== "Classification";
    var first = null;
    var keep = false;
    form.querySelectorAll(".domain-option").forEach(function (option) {
      var shown = option.dataset.domainType === kind;
      option.hidden = !shown;
      var radio = option.querySelector("input");
      radio.disabled = !shown;
      if (shown && !first) first = radio;
      if (shown && radio.checked) keep = true;
    });
    // The group headings name the type, which the Project Types choice already says.
    form.querySelectorAll(".domain-group").forEach(function (heading) { heading.hidden = true; });
    if (!keep && first) first.checked = true;
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("input[name=project_type]")) return;
    follow(form);
    form.addEventListener("change", function (event) {
      if (event.target.name === "project_type") follow(form);
    });
  });
})();
