// The training launch form: choosing a registered base model (by its name or its path) fills in
// the settings it recommends (from the registry, read by the server into #base-model-recommendations).
(function () {
  "use strict";
  const form = document.getElementById("launch");
  const data = document.getElementById("base-model-recommendations");
  if (!form || !data) return;
  const recommendations = JSON.parse(data.textContent || "{}");
  const model = form.elements.namedItem("base_model");
  if (!model) return;
  function fill() {
    const recommended = recommendations[model.value.trim()];
    if (!recommended) return;
    for (const [name, value] of Object.entries(recommended)) {
      const field = form.elements.namedItem(name);
      if (field && "value" in field) field.value = String(value);
    }
  }
  model.addEventListener("change", fill);
  model.addEventListener("input", fill);
})();
