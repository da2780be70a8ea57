(function () {
  "use strict";
  // Suggested tags: Confirm stays disabled until a suggestion is ticked. Suggested objects:
  // the bulk Accept/Discard likewise. "Select all" ticks every one.
  function update() {
    var button = document.getElementById("confirm-button");
    if (button) {
      var boxes = document.querySelectorAll('input[name="confirm"]');
      var ticked = document.querySelectorAll('input[name="confirm"]:checked').length;
      button.disabled = ticked === 0;
      document.getElementById("confirm-count").textContent = ticked ? ticked + " selected" : "";
      document.getElementById("confirm-all").checked = ticked > 0 && ticked === boxes.length;
    }
    var objects = document.getElementById("objects-form");
    if (objects) {
      var all = objects.querySelectorAll('input[name="image"]');
      var picked = objects.querySelectorAll('input[name="image"]:checked').length;
      objects.querySelectorAll("[data-needs-selection]").forEach(function (b) { b.disabled = picked === 0; });
      document.getElementById("objects-count").textContent = picked ? picked + " selected" : "";
      document.getElementById("objects-all").checked = picked > 0 && picked === all.length;
    }
  }
  document.addEventListener("change", function (event) {
    var all = event.target.closest("[data-select-all]");
    if (all) {
      document.querySelectorAll('input[name="' + all.dataset.selectAll + '"]').forEach(function (box) { box.checked = all.checked; });
    }
    update();
  });
  window.addEventListener("pageshow", update); // boxes the browser restored on Back
  update();
})();
