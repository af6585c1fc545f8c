// Segment builder enhancement (no third-party code, no build step). Without it the page is a
// plain form: every button submits and the server re-renders. With it: structural buttons and
// subject changes re-render only the rows, and every edit refreshes the live preview (count,
// first members) and shows validation errors next to the failing row.
(() => {
  "use strict";
  const form = document.getElementById("builder");
  if (!form || !window.fetch) return;
  const rows = document.getElementById("rows");
  const preview = document.getElementById("preview");
  const json = document.getElementById("definition-json");
  const csrf = form.elements._csrf ? form.elements._csrf.value : "";
  let timer = 0, seq = 0;

  const body = (extra) => {
    const data = new URLSearchParams(new FormData(form));
    for (const [k, v] of Object.entries(extra || {})) data.set(k, v);
    return data;
  };
  const post = (url, data, headers) => fetch(url, {
    method: "POST", body: data, credentials: "same-origin",
    headers: Object.assign({"X-CSRF-Token": csrf}, headers || {}),
  });

  function showErrors(errors) {
    for (const el of rows.querySelectorAll(".row-error")) { el.hidden = true; el.textContent = ""; }
    for (const el of rows.querySelectorAll("[aria-invalid]")) el.setAttribute("aria-invalid", "false");
    for (const e of errors) {
      const slot = document.getElementById("err-" + e.row);
      if (!slot) continue;
      slot.textContent = slot.textContent ? slot.textContent + "; " + e.message : e.message;
      slot.hidden = false;
      const holder = slot.closest("[data-row]");
      if (holder) holder.setAttribute("aria-invalid", "true");
    }
  }

  async function refreshPreview() {
    const mine = ++seq;
    preview.classList.add("loading");
    try {
      const r = await post("/segments/builder/preview", body());
      const data = await r.json();
      if (mine !== seq) return;  // a newer edit is on its way
      showErrors(data.errors || []);
      if (data.definition && document.activeElement !== json) json.value = JSON.stringify(data.definition, null, 2);
      if (data.errors && data.errors.length) {
        preview.textContent = "Fix the marked conditions to see who matches.";
      } else if (data.html !== undefined) {
        preview.innerHTML = data.html;  // server-rendered, escaped
      }
    } catch (err) {
      preview.textContent = "Preview unavailable: " + err;
    } finally {
      if (mine === seq) preview.classList.remove("loading");
    }
  }
  const schedule = () => { clearTimeout(timer); timer = setTimeout(refreshPreview, 350); };

  async function restructure(action) {
    const r = await post("/segments/builder", body({action}), {"X-Builder-Fragment": "rows"});
    if (!r.ok) { form.requestSubmit(); return; }
    rows.innerHTML = await r.text();  // server-rendered, escaped
    schedule();
  }

  form.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.structural");
    if (!button) return;
    ev.preventDefault();
    restructure(button.value);
  });
  form.addEventListener("change", (ev) => {
    if (ev.target === json) return;
    if (ev.target.classList.contains("subject")) restructure("refresh"); else schedule();
  });
  form.addEventListener("input", (ev) => { if (ev.target.tagName === "INPUT" && rows.contains(ev.target)) schedule(); });
  document.querySelector("button[value=refresh]")?.setAttribute("hidden", "");
  schedule();
})();
