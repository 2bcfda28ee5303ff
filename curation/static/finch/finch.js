// Finch's few behaviours: the chat message editor, live JSON checks, review and label shortcuts.
(function () {
  "use strict";

  function chatEditor(editor) {
    const hidden = document.getElementById(editor.dataset.target);
    const list = editor.querySelector(".chat-messages");
    const roles = ["system", "user", "assistant"];
    function row(message) {
      const item = document.createElement("div");
      item.className = "chat-row";
      const role = document.createElement("select");
      role.setAttribute("aria-label", "Role");
      roles.forEach((name) => role.add(new Option(name, name, false, name === message.role)));
      const content = document.createElement("textarea");
      content.rows = 2;
      content.value = message.content || "";
      content.setAttribute("aria-label", "Message");
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => { item.remove(); sync(); });
      [role, content].forEach((field) => field.addEventListener("input", sync));
      item.append(role, content, remove);
      return item;
    }
    function sync() {
      const messages = [...list.querySelectorAll(".chat-row")].map((item) => ({
        role: item.querySelector("select").value,
        content: item.querySelector("textarea").value,
      }));
      hidden.value = JSON.stringify(messages);
    }
    let messages = [];
    try { messages = JSON.parse(hidden.value || "[]"); } catch (error) { messages = []; }
    if (!messages.length) messages = [{role: "user", content: ""}];
    messages.forEach((message) => list.append(row(message)));
    editor.querySelector("[data-add-message]").addEventListener("click", () => {
      const last = list.querySelector(".chat-row:last-child select");
      list.append(row({role: last && last.value === "user" ? "assistant" : "user"}));
      sync();
    });
    sync();
  }

  function jsonCheck(field) {
    const status = field.form.querySelector(".json-status");
    function check() {
      if (!field.value.trim()) { status.textContent = ""; return; }
      try {
        JSON.parse(field.value);
        status.textContent = "Valid JSON (the schema is checked when you save).";
        status.className = "json-status small ok";
      } catch (error) {
        status.textContent = "Not valid JSON: " + error.message;
        status.className = "json-status small error";
      }
    }
    // After a refused save the server's error already says what is wrong with this text: the live
    // check speaks again only once the text changes (one message, not two wordings of it).
    const refused = field.form.querySelector("[data-field-error=output]");
    field.addEventListener("input", () => { if (refused) refused.remove(); check(); });
    if (!refused) check();
  }

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]");
  }

  function reviewKeys(event) {
    const card = document.querySelector("[data-review-card]");
    if (!card || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const comment = card.querySelector("textarea[name=comment]");
    if (event.key === "c" && comment && !comment.value.trim()) {
      event.preventDefault();
      comment.focus();
      comment.placeholder = "Say what should change, then press Enter";
      comment.dataset.requesting = "1";
      return;
    }
    const button = card.querySelector(`[data-key="${event.key}"]`);
    if (button) { event.preventDefault(); pressKey(button); }
  }

  // Enter in the review comment never approves: a reviewer who clicked into the box, typed
  // "wrong label" and pressed Enter wants changes, and Enter once approved it. Enter after `c` (the
  // documented flow) or Ctrl/Cmd+Enter requests changes; plain Enter otherwise starts a new line.
  function commentEnter(event) {
    const comment = event.target;
    if (comment.name !== "comment" || event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    const send = event.ctrlKey || event.metaKey;
    if (!send && !comment.dataset.requesting) return;
    event.preventDefault();
    if (!comment.value.trim()) {  // request changes needs a comment: say so rather than be refused
      comment.placeholder = "Say what should change, then press Enter";
      comment.dataset.requesting = "1";
      return;
    }
    // As a key press: `c`, a comment and Enter can all come within htmx's settle delay of the
    // card's swap, before htmx wires its form (a plain click would submit it natively, a reload).
    pressKey(comment.closest("[data-review-card]").querySelector('[data-key="c"]'));
  }

  // The label page: 1-9 pick a label, Enter (Ctrl+Enter in a text box) submits, a submits the model's
  // suggestion as the answer (its button submits a form of its own), s/j/k as on Review.
  function labelKeys(event) {
    const card = document.querySelector("[data-label-card]");
    if (!card || event.metaKey || event.altKey) return;
    const form = card.querySelector("form.label-answer");
    if (event.key === "Enter" && form && labelEnter(event, form)) return;
    if (event.ctrlKey || event.target.closest("textarea, select, input:not([type=radio]), [contenteditable]")) return;
    const choice = card.querySelector(`[data-label-key="${event.key}"]`);
    if (choice) { event.preventDefault(); choice.checked = true; choice.focus(); return; }
    const button = card.querySelector(`[data-key="${event.key}"]`);
    if (button) { event.preventDefault(); pressKey(button); }
  }

  // A key pressed right after a swap may come before htmx has wired the new card up (it does so
  // once the swap settles); wiring it here first makes the key work at once.
  function pressKey(button) {
    if (window.htmx) window.htmx.process(button.form || button);
    button.click();
  }

  function labelEnter(event, form) {
    const inText = event.target.closest("textarea");
    if (inText ? !(event.ctrlKey || event.metaKey) : event.target.closest("button, a")) return false;
    event.preventDefault();
    if (window.htmx) window.htmx.process(form);  // as pressKey: a card just swapped in may not be wired yet
    form.requestSubmit();
    return true;
  }

  // More labels than keys: typing in the filter box narrows the list and picks the first match.
  function labelFilter(box) {
    const list = box.form.querySelector(".label-select");
    box.addEventListener("input", () => {
      const wanted = box.value.trim().toLowerCase();
      let first = null;
      [...list.options].forEach((option) => {
        option.hidden = !option.value.toLowerCase().includes(wanted);
        if (!option.hidden && !first) first = option;
      });
      list.value = first ? first.value : "";
    });
  }

  // A running job's row: its bar and status follow the job's API; the page reloads when it ends.
  function jobProgress(row) {
    async function poll() {
      const response = await fetch(row.dataset.jobUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (!response.ok) return setTimeout(poll, 3000);
      const job = await response.json();
      const bar = row.querySelector(".bar");
      if (bar) bar.style.width = Math.round(job.progress * 100) + "%";
      const status = row.querySelector(".badge");
      if (status) { status.textContent = job.status; status.className = "badge " + job.status; }
      if (["succeeded", "failed", "cancelled", "frozen"].includes(job.status)) return window.location.reload();
      setTimeout(poll, 1000);
    }
    poll();
  }

  // A training run's loss curves (train solid, eval dashed) as SVG, redrawn while the run is live.
  function lossChart(figure) {
    const svg = figure.querySelector("svg");
    const [width, height, pad] = [640, 260, 40];
    const ns = "http://www.w3.org/2000/svg";
    function element(name, attributes, text) {
      const node = document.createElementNS(ns, name);
      Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, value));
      if (text !== undefined) node.textContent = text;
      svg.appendChild(node);
      return node;
    }
    function draw(metrics) {
      svg.replaceChildren();
      const train = metrics.filter((m) => m.train_loss !== null).map((m) => [m.step, m.train_loss]);
      const evals = metrics.filter((m) => m.eval_loss !== null).map((m) => [m.step, m.eval_loss]);
      const points = train.concat(evals);
      if (!points.length) { element("text", {x: pad, y: height / 2, class: "muted"}, "No metrics yet."); return; }
      const maxStep = Math.max(1, ...points.map((p) => p[0]));
      const losses = points.map((p) => p[1]);
      const [low, high] = [Math.min(...losses), Math.max(...losses)];
      const span = high - low || 1;
      const x = (step) => pad + (step / maxStep) * (width - 2 * pad);
      const y = (loss) => height - pad - ((loss - low) / span) * (height - 2 * pad);
      element("line", {x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, class: "axis"});
      element("line", {x1: pad, y1: pad, x2: pad, y2: height - pad, class: "axis"});
      element("text", {x: pad, y: height - pad + 16, class: "tick"}, "0");
      element("text", {x: width - pad, y: height - pad + 16, class: "tick", "text-anchor": "end"}, `step ${maxStep}`);
      element("text", {x: pad - 4, y: y(high) + 4, class: "tick", "text-anchor": "end"}, high.toFixed(2));
      element("text", {x: pad - 4, y: y(low) + 4, class: "tick", "text-anchor": "end"}, low.toFixed(2));
      [[train, "train"], [evals, "eval"]].forEach(([series, name]) => {
        if (series.length) element("polyline", {class: `loss ${name}`, points: series.map((p) => `${x(p[0])},${y(p[1])}`).join(" ")});
      });
    }
    async function poll() {
      const response = await fetch(figure.dataset.metricsUrl, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      if (response.ok) {
        const run = await response.json();
        draw(run.metrics);
        const live = !["succeeded", "failed", "cancelled"].includes(run.status);
        const progress = document.getElementById("run-bar");
        if (progress) progress.style.width = Math.round(run.progress * 100) + "%";
        const steps = document.getElementById("run-steps");
        if (steps && run.total_steps) steps.textContent = `step ${run.step} of ${run.total_steps}`;
        else if (steps && run.status !== "queued" && live) steps.textContent = "preparing the data";
        const status = document.getElementById("run-status");  // the page was drawn when it was queued
        if (status && live && status.textContent !== run.status) {
          status.textContent = run.status;
          status.className = `badge ${run.status}`;
        }
        const best = document.getElementById("run-best");
        if (best && run.best_step !== null && run.best_eval_loss !== null) {
          const before = run.initial_eval_loss !== null ? ` (before training ${run.initial_eval_loss.toFixed(4)})` : "";
          best.textContent = `· best eval loss ${run.best_eval_loss.toFixed(4)} at step ${run.best_step}${before}`;
        }
        if (figure.dataset.live === "1" && !live) return window.location.reload();
        if (!live) return;
      }
      setTimeout(poll, 2000);
    }
    poll();
  }

  // A form that destroys work asks first (data-confirm holds the question).
  function confirmSubmit(event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }

  // A form that takes the page's resolution note (data-note: the note box's id) carries it along:
  // the note box sits in another form (the flag page's keep buttons are forms of their own).
  function carryNote(event) {
    const form = event.target.closest("form[data-note]");
    const source = form && document.getElementById(form.dataset.note);
    if (!source) return;
    let field = form.querySelector('input[name="note"]');
    if (!field) {
      field = Object.assign(document.createElement("input"), {type: "hidden", name: "note"});
      form.append(field);
    }
    field.value = source.value;
  }

  // An in-page (htmx) request the server refused or never answered: say so, rather than leave the
  // card as it was with nothing said (a member removed mid-task, a lost connection).
  const REFUSED = {
    403: "You may not do this any more (403): your role in this project may have changed. Reload the page.",
    404: "Not found (404): it was removed, or you are no longer a member of this project. Reload the page.",
  };
  function requestFailed(event) {
    const status = event.detail.xhr ? event.detail.xhr.status : 0;
    const text = REFUSED[status] || (status
      ? `The server could not do this (${status}). Try again, or reload the page.`
      : "No answer from the server: check the connection, then try again.");
    let box = document.getElementById("request-failed");
    if (!box) {
      box = Object.assign(document.createElement("p"), {id: "request-failed", className: "message error"});
      box.setAttribute("role", "alert");
      document.querySelector("main").prepend(box);
    }
    box.textContent = text;
  }

  function init(root) {
    root.querySelectorAll(".loss-chart").forEach(lossChart);
    root.querySelectorAll(".chat-editor").forEach(chatEditor);
    root.querySelectorAll("textarea.json").forEach(jsonCheck);
    root.querySelectorAll("[data-job-url]").forEach(jobProgress);
    root.querySelectorAll(".label-filter").forEach(labelFilter);
  }

  document.addEventListener("DOMContentLoaded", () => init(document));
  document.addEventListener("htmx:afterSwap", (event) => init(event.target));
  document.addEventListener("keydown", reviewKeys);
  document.addEventListener("keydown", labelKeys);
  document.addEventListener("submit", confirmSubmit);
  document.addEventListener("submit", carryNote);
  document.addEventListener("htmx:responseError", requestFailed);
  document.addEventListener("htmx:sendError", requestFailed);
  document.addEventListener("htmx:afterRequest", (event) => {
    const box = document.getElementById("request-failed");
    if (box && event.detail.successful) box.remove();
  });
  document.addEventListener("keydown", (event) => { if (event.target.matches && event.target.matches("textarea")) commentEnter(event); });
})();
