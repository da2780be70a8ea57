// A figure as the server's `percent` filter prints it, for the scripts that recompute figures in
// the browser. toFixed rounds an exact tie (81.25) up where Python rounds it to the even digit
// (81.2): follow Python, or a number would change the moment the page loads. A double is an exact
// tie of tenths only when 4x is an odd integer.
(function () {
  "use strict";

  window.cvPercent = function (value) {
    if (value === null || value === undefined) return "—";
    var x = value * 100;
    if (Number.isInteger(x * 4) && (x * 4) % 2 !== 0) {
      var tenths = Math.floor(x * 10);
      if (tenths % 2 !== 0) tenths += 1;
      return (tenths / 10).toFixed(1) + "%";
    }
    return x.toFixed(1) + "%";
  };
})();
