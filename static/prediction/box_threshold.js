// The "Probability threshold" slider over a detection's photos (prediction/_box_threshold.html):
// boxes and table rows with a data-probability below it are hidden, as the server drew them at
// the slider's first value. An SVG element has no .hidden property: the attribute is toggled.
(function () {
  "use strict";

  function setup(slider) {
    var scope = document.getElementById(slider.dataset.boxThreshold);
    var output = slider.parentNode.querySelector("output");
    if (!scope) return;
    function show() {
      var threshold = Number(slider.value) / 100, shown = 0;
      scope.querySelectorAll("g.box[data-probability], tr[data-probability]").forEach(function (element) {
        var weak = Number(element.dataset.probability) < threshold;
        element.toggleAttribute("hidden", weak);
        if (!weak && element.tagName.toLowerCase() === "g") shown += 1;
      });
      if (output) output.textContent = slider.value + "%";
      var count = scope.querySelector("[data-box-count]");
      if (count) count.textContent = shown;
    }
    slider.addEventListener("input", show);
    show();
  }

  document.querySelectorAll("input[data-box-threshold]").forEach(setup);
})();
