// Draws each <figure class="chart"> from its JSON data island with the vendored Frappe Charts.
// No plotting here: the library draws; this only hands it the data the server computed.
"use strict";
document.querySelectorAll("figure.chart").forEach(function (figure) {
  var spec = JSON.parse(figure.querySelector("script.chart-data").textContent);
  var target = figure.querySelector(".plot");
  if (!spec.data.labels.length) {
    target.textContent = "No push yet.";
    return;
  }
  new frappe.Chart(target, {
    type: spec.type,
    height: 260,
    data: spec.data,
    lineOptions: { hideDots: 0, dotSize: 5 },
    axisOptions: { xIsSeries: spec.type === "line" },
    animate: false,
  });
  figure.setAttribute("data-drawn", "true");
});
