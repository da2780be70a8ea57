// Projects page: choosing a sort applies it at once (the Search button does the same without JS).
(function () {
  "use strict";
  var sort = document.querySelector(".project-search select[name=sort]");
  if (sort) sort.addEventListener("change", function () { sort.form.submit(); });
})();
