// Trasealla CRM: a little progressive enhancement. Every page works without
// it; with it, deal cards drag between stages, the registration form checks
// availability as you type, and destructive forms ask first.
"use strict";
document.documentElement.classList.add("js");

// The sign-in hand-off page posts its form to the company's address at once.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-autopost]").forEach((f) => f.submit());
});

document.addEventListener("submit", (e) => {
  // A button may ask its own question (e.g. "Sign out everywhere").
  const msg = (e.submitter && e.submitter.getAttribute("data-confirm")) || e.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) { e.preventDefault(); return; }
  // A card's Move menu moves it in place, like a drag.
  if (e.target.matches("form.move")) {
    e.preventDefault();
    moveCard(e.target.closest("li.deal"), e.target.elements.stage_id.value);
  }
});

document.addEventListener("change", (e) => {
  if (e.target.matches("[data-autosubmit]")) e.target.form.submit();
});

function csrf() {
  const el = document.getElementById("board-data");
  return el ? JSON.parse(el.textContent).csrf : "";
}

function column(stage) {
  return document.querySelector(`.column[data-stage="${stage}"]`);
}

// Money in minor units as the server writes it: 1,234.50 USD.
function money(minor, currency) {
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  const major = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${major}.${String(abs % 100).padStart(2, "0")} ${currency}`;
}

// A card leaves or joins a column: its count and value follow.
function bump(col, by, card) {
  const c = col && col.querySelector("[data-count]");
  if (c) c.textContent = String(Math.max(0, parseInt(c.textContent, 10) + by));
  const totals = col && col.querySelector("[data-totals]");
  if (!totals || !card) return;
  const cur = card.dataset.currency;
  let span = totals.querySelector(`[data-currency="${cur}"]`);
  if (!span) {
    span = document.createElement("span");
    span.dataset.currency = cur;
    span.dataset.minor = "0";
    totals.append(span, " ");
  }
  const minor = parseInt(span.dataset.minor, 10) + by * parseInt(card.dataset.amount, 10);
  span.dataset.minor = String(minor);
  span.textContent = money(minor, cur);
}

async function moveCard(card, stage) {
  const from = card.closest(".column");
  const to = column(stage);
  if (!to || from === to) { if (to) card.querySelector("select[name=stage_id]").value = from.dataset.stage; return; }
  to.querySelector("ol.cards").prepend(card);
  bump(from, -1, card); bump(to, 1, card);
  const select = card.querySelector("select[name=stage_id]");
  if (select) select.value = stage;
  const body = new URLSearchParams({ stage_id: stage, _csrf: csrf() });
  let ok = false, message = "The deal could not be moved.";
  try {
    const r = await fetch(`/deals/${card.dataset.deal}/move`, {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf() },
    });
    ok = r.ok;
    if (!ok) { try { message = (await r.json()).error.message || message; } catch (_) {} }
  } catch (_) { /* network error */ }
  if (ok) {
    card.dataset.moved = stage;
  } else {
    from.querySelector("ol.cards").prepend(card);
    bump(to, -1, card); bump(from, 1, card);
    if (select) select.value = from.dataset.stage;
    window.alert(message);
  }
}

function board() {
  const root = document.querySelector("[data-board]");
  if (!root) return;
  let dragged = null;
  root.addEventListener("dragstart", (e) => {
    dragged = e.target.closest("li.deal");
    if (!dragged) return;
    dragged.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.dataset.deal);
  });
  root.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    root.querySelectorAll(".over").forEach((c) => c.classList.remove("over"));
    dragged = null;
  });
  root.addEventListener("dragover", (e) => {
    const col = e.target.closest(".column");
    if (!col || !dragged) return;
    e.preventDefault();
    root.querySelectorAll(".over").forEach((c) => c !== col && c.classList.remove("over"));
    col.classList.add("over");
  });
  root.addEventListener("drop", (e) => {
    const col = e.target.closest(".column");
    if (!col || !dragged) return;
    e.preventDefault();
    col.classList.remove("over");
    moveCard(dragged, col.dataset.stage);
  });
}

function availability() {
  const form = document.querySelector("form[data-availability]");
  if (!form) return;
  const out = form.querySelector(".availability");
  let timer = null;
  const check = async () => {
    const params = new URLSearchParams();
    const slug = form.elements.slug.value.trim();
    const email = form.elements.email.value.trim();
    if (slug) params.set("slug", slug);
    if (email.includes("@")) params.set("email", email);
    if (![...params.keys()].length) { out.textContent = ""; return; }
    try {
      const r = await fetch(`/api/tenants/check-availability?${params}`);
      const d = (await r.json()).data || {};
      const parts = [];
      if (d.slug_available === true) parts.push(["ok", `The address ${slug} is free.`]);
      if (d.slug_available === false) parts.push(["bad", d.slug_message || `The address ${slug} is taken.`]);
      if (d.email_available === false) parts.push(["bad", "That e-mail already has an account: log in instead."]);
      out.replaceChildren(...parts.map(([cls, text]) => {
        const s = document.createElement("span"); s.className = cls; s.textContent = text + " "; return s;
      }));
    } catch (_) { out.textContent = ""; }
  };
  form.addEventListener("input", (e) => {
    if (e.target.name !== "slug" && e.target.name !== "email") return;
    clearTimeout(timer); timer = setTimeout(check, 300);
  });
}

// A field's error goes away as soon as it is edited.
document.addEventListener("input", (e) => {
  const field = e.target.closest(".field.invalid");
  if (!field) return;
  field.classList.remove("invalid");
  e.target.removeAttribute("aria-invalid");
  const error = field.querySelector(".error");
  if (error) error.remove();
});

// The pipeline editor: a stage dragged by its handle to another place;
// the new order is saved at once (Move up / Move down do the same
// without a script).
function stages() {
  const list = document.querySelector("ol[data-stages]");
  if (!list) return;
  const status = document.querySelector("[data-stage-status]");
  const token = () => { const f = document.querySelector("input[name=_csrf]"); return f ? f.value : ""; };
  let dragged = null;
  list.addEventListener("dragstart", (e) => {
    const handle = e.target.closest && e.target.closest(".handle");
    if (!handle) return;
    dragged = handle.closest("li.stage");
    dragged.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragged.dataset.stage);
  });
  list.addEventListener("dragover", (e) => {
    const over = e.target.closest("li.stage");
    if (!dragged || !over || over === dragged) { if (dragged) e.preventDefault(); return; }
    e.preventDefault();
    const box = over.getBoundingClientRect();
    const after = e.clientY > box.top + box.height / 2;
    over.parentNode.insertBefore(dragged, after ? over.nextSibling : over);
  });
  list.addEventListener("drop", async (e) => {
    if (!dragged) return;
    e.preventDefault();
    const moved = dragged;
    dragged = null;
    moved.classList.remove("dragging");
    const order = [...list.querySelectorAll("li.stage")].map((li) => li.dataset.stage).join(",");
    const body = new URLSearchParams({ order, _csrf: token() });
    let ok = false;
    try {
      const r = await fetch(`/pipelines/${list.dataset.stages}/stages/reorder`, {
        method: "POST", body, credentials: "same-origin",
        headers: { "X-Requested-With": "fetch", "X-CSRF-Token": token() },
      });
      ok = r.ok;
    } catch (_) { /* network error */ }
    if (status) status.textContent = ok ? "Order saved." : "The order could not be saved.";
    window.location.reload();
  });
  list.addEventListener("dragend", () => { if (dragged) dragged.classList.remove("dragging"); dragged = null; });
}

board();
availability();
stages();
