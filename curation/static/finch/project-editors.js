// The project form's editors (New project, Settings): labels as a list to add, remove, reorder
// and rename; the output JSON Schema checked as it is typed, with an example output. Both write
// into the plain form fields they enhance, so the form works without them.
(function () {
  "use strict";

  function button(text, title, action) {
    const node = document.createElement("button");
    node.type = "button";
    node.className = "secondary small";
    node.textContent = text;
    node.title = title;
    node.setAttribute("aria-label", title);
    node.addEventListener("click", action);
    return node;
  }

  function labelEditor(editor) {
    const source = document.getElementById(editor.dataset.source);
    const renames = editor.dataset.renames ? document.getElementById(editor.dataset.renames) : null;
    // The saved labels (Settings) and renames made before a confirmation step re-showed the form.
    const saved = document.getElementById("saved-labels");
    const original = saved ? JSON.parse(saved.textContent) : [];
    let earlier = {};
    try { earlier = renames ? JSON.parse(renames.value || "{}") : {}; } catch (error) { earlier = {}; }
    const renamedFrom = Object.fromEntries(Object.entries(earlier).map(([was, now]) => [now, was]));
    const list = document.createElement("ul");
    list.className = "label-rows";
    list.dataset.testid = "label-rows";
    function sync() {
      const rows = [...list.querySelectorAll(".label-row")];
      source.value = rows.map((row) => row.querySelector("input").value.trim()).filter(Boolean).join("\n");
      const renamed = {};
      const names = rows.map((row) => row.querySelector("input").value.trim());
      rows.forEach((row, index) => {
        const now = names[index];
        const was = row.dataset.original;
        const note = row.querySelector(".renamed");
        const isRename = was && now && was !== now;
        if (isRename) renamed[was] = now;
        // Renamed to another label's name: the two merge (listed once when saved).
        const merges = isRename && names.filter((name) => name === now).length > 1;
        note.textContent = merges ? `“${was}” merges into “${now}”` : isRename ? `was “${was}”` : "";
      });
      if (renames) renames.value = JSON.stringify(renamed);
    }
    function row(label, originalName) {
      const item = document.createElement("li");
      item.className = "label-row";
      if (originalName) item.dataset.original = originalName;
      const input = document.createElement("input");
      input.type = "text";
      input.value = label;
      input.setAttribute("aria-label", "Label");
      input.addEventListener("input", sync);
      const note = document.createElement("span");
      note.className = "renamed";
      const move = (step) => () => {
        const sibling = step < 0 ? item.previousElementSibling : item.nextElementSibling;
        if (sibling) step < 0 ? list.insertBefore(item, sibling) : list.insertBefore(sibling, item);
        sync();
      };
      item.append(input, note, button("↑", "Move up", move(-1)), button("↓", "Move down", move(1)),
        button("Remove", "Remove label", () => { item.remove(); sync(); }));
      return item;
    }
    const current = source.value.split("\n").map((l) => l.trim()).filter(Boolean);
    // A label listed twice after a merge: one row is the renamed one, the other the original.
    const restored = new Set();
    const originOf = (label) => {
      if (renamedFrom[label] && !restored.has(label)) { restored.add(label); return renamedFrom[label]; }
      return original.includes(label) ? label : "";
    };
    current.forEach((label) => list.append(row(label, originOf(label))));
    const add = document.createElement("div");
    add.className = "label-add";
    const name = document.createElement("input");
    name.type = "text";
    name.placeholder = "New label";
    name.setAttribute("aria-label", "New label");
    name.dataset.testid = "label-new";
    const addLabel = () => {
      const value = name.value.trim();
      if (!value) return;
      list.append(row(value, ""));
      name.value = "";
      name.focus();
      sync();
    };
    name.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); addLabel(); } });
    const addButton = button("Add label", "Add label", addLabel);
    addButton.dataset.testid = "label-add";
    add.append(name, addButton);
    source.hidden = true;
    editor.append(list, add);
    sync();
  }

  // An output the schema accepts, built from its types, enums, examples and required keys.
  function sample(schema, depth) {
    if (!schema || typeof schema !== "object" || depth > 6) return null;
    if ("const" in schema) return schema.const;
    if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    if (type === "object" || schema.properties) {
      const value = {};
      Object.entries(schema.properties || {}).forEach(([key, sub]) => { value[key] = sample(sub, depth + 1); });
      return value;
    }
    if (type === "array") return [sample(schema.items || {}, depth + 1)].filter((item) => item !== null);
    return {string: "text", integer: 1, number: 1.5, boolean: true, null: null}[type] ?? null;
  }

  const TYPES = ["object", "array", "string", "integer", "number", "boolean", "null"];

  function schemaProblem(schema, path) {
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) return `${path} must be a JSON object`;
    const types = schema.type === undefined ? [] : [].concat(schema.type);
    const unknown = types.find((type) => !TYPES.includes(type));
    if (unknown !== undefined) return `${path}: unknown type “${unknown}”`;
    if (schema.required && !Array.isArray(schema.required)) return `${path}: required must be a list of keys`;
    for (const [key, sub] of Object.entries(schema.properties || {})) {
      const problem = schemaProblem(sub, `${path}.properties.${key}`);
      if (problem) return problem;
    }
    return schema.items ? schemaProblem(schema.items, `${path}.items`) : null;
  }

  function schemaEditor(editor) {
    const field = editor.querySelector("textarea");
    const status = editor.querySelector(".schema-status");
    const example = editor.querySelector(".schema-example");
    function check() {
      example.hidden = true;
      if (!field.value.trim()) { status.textContent = "No schema: any JSON output is accepted."; status.className = "schema-status small muted"; return; }
      let schema;
      try { schema = JSON.parse(field.value); } catch (error) {
        status.textContent = "Not valid JSON: " + error.message;
        status.className = "schema-status small error";
        return;
      }
      const problem = schemaProblem(schema, "schema");
      status.textContent = problem ? problem + "." : "Valid JSON Schema (checked in full when you save).";
      status.className = "schema-status small " + (problem ? "error" : "ok");
      if (!problem) { example.querySelector("pre").textContent = JSON.stringify(sample(schema, 0), null, 2); example.hidden = false; }
    }
    field.addEventListener("input", check);
    const starter = button("Start from an example schema", "Start from an example schema", () => {
      field.value = JSON.stringify(STARTER, null, 2);
      starter.hidden = true;
      check();
    });
    starter.dataset.testid = "schema-starter";
    starter.hidden = Boolean(field.value.trim());
    field.addEventListener("input", () => { starter.hidden = Boolean(field.value.trim()); });
    status.before(starter);
    check();
  }

  const STARTER = {
    type: "object",
    properties: {name: {type: "string"}, amount: {type: "number"}, tags: {type: "array", items: {type: "string"}}},
    required: ["name"],
    additionalProperties: false,
  };

  function taskToggle(form) {
    const task = form.querySelector("select[name=task_type]");
    if (!task) return;
    const show = () => form.querySelectorAll("[data-task-only]").forEach((box) => { box.hidden = box.dataset.taskOnly !== task.value; });
    task.addEventListener("change", show);
    show();
  }

  // Opening the guidelines panel marks them read (the badge goes once the server has it).
  function guidelinesPanel(panel) {
    panel.addEventListener("toggle", async () => {
      if (!panel.open || !panel.dataset.unread) return;
      const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
      const response = await fetch(panel.dataset.readUrl, {method: "POST", headers: {"X-CSRFToken": token}, credentials: "same-origin"});
      if (response.ok) {
        delete panel.dataset.unread;
        const badge = panel.querySelector("[data-testid=guidelines-updated]");
        if (badge) badge.remove();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".label-editor").forEach(labelEditor);
    document.querySelectorAll(".schema-editor").forEach(schemaEditor);
    document.querySelectorAll("form.project-form").forEach(taskToggle);
    document.querySelectorAll(".guidelines-panel").forEach(guidelinesPanel);
  });
})();
