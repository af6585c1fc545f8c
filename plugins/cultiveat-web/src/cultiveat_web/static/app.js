// Cultiveat web UI enhancements. Every page works without this file; it only makes
// filtering, tabs, dialogs, counters, previews and the dashboard arrangement feel instant.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";

  function on(root, selector, event, handler) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), function (el) {
      el.addEventListener(event, function (e) { handler(e, el); });
    });
  }

  function postForm(url, data) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch" },
      body: data
    });
  }

  // -- theme toggle: switch at once, remember on the server (cookie) ---------------------------
  on(document, "form[data-theme-toggle]", "submit", function (e, form) {
    e.preventDefault();
    var input = form.querySelector('input[name="theme"]');
    var theme = input.value;
    document.documentElement.setAttribute("data-theme", theme);
    var next = theme === "dark" ? "light" : "dark";
    postForm(form.action, new FormData(form));
    input.value = next;
    var label = form.querySelector(".theme-label");
    if (label) { label.textContent = (next === "dark" ? "Dark" : "Light") + " mode"; }
    form.querySelector("button").setAttribute("aria-label", "Switch to " + next + " theme");
  });

  // -- character counters ----------------------------------------------------------------------
  function bindCounters(root) {
    on(root, "textarea[data-counter]", "input", function (e, area) {
      var out = document.getElementById(area.getAttribute("data-counter"));
      if (out) { out.textContent = area.value.length + "/" + area.maxLength + " characters"; }
    });
  }
  bindCounters(document);

  // -- notes: Ctrl+Enter saves, empty cannot be sent, drafts kept in localStorage ---------------
  on(document, "form[data-note-form]", "keydown", function (e, form) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("form[data-note-form]"), function (form) {
    var area = form.querySelector("textarea");
    var button = form.querySelector("[data-note-submit]");
    var key = form.getAttribute("data-draft-key");
    var saved = key && window.localStorage ? localStorage.getItem(key) : null;
    if (saved && !area.value) { area.value = saved; area.dispatchEvent(new Event("input")); }
    function sync() { button.disabled = !area.value.trim(); }
    area.addEventListener("input", sync);
    sync();
    if (key) {
      setInterval(function () { if (area.value) { localStorage.setItem(key, area.value); } }, 30000);
      form.addEventListener("submit", function () { localStorage.removeItem(key); });
    }
  });

  // -- tabs: switch without reload; arrow keys move between tabs --------------------------------
  Array.prototype.forEach.call(document.querySelectorAll('[role="tablist"]'), function (list) {
    var tabs = Array.prototype.slice.call(list.querySelectorAll('[role="tab"]'));
    function select(tab, focus) {
      tabs.forEach(function (t) {
        var on = t === tab;
        t.setAttribute("aria-selected", on ? "true" : "false");
        t.tabIndex = on ? 0 : -1;
        var panel = document.getElementById(t.getAttribute("aria-controls"));
        if (panel) { panel.hidden = !on; }
      });
      if (focus) { tab.focus(); }
      var url = new URL(window.location.href);
      url.searchParams.set("tab", tab.getAttribute("data-tab"));
      history.replaceState(null, "", url.pathname + url.search + "#tabs");
    }
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function (e) { e.preventDefault(); select(tab, false); });
      tab.addEventListener("keydown", function (e) {
        var next = null;
        if (e.key === "ArrowRight") { next = tabs[(i + 1) % tabs.length]; }
        if (e.key === "ArrowLeft") { next = tabs[(i - 1 + tabs.length) % tabs.length]; }
        if (e.key === "Home") { next = tabs[0]; }
        if (e.key === "End") { next = tabs[tabs.length - 1]; }
        if (next) { e.preventDefault(); select(next, true); }
      });
    });
  });

  // -- dialogs: links with data-open-dialog open a <dialog> instead of a new page --------------
  on(document, "[data-open-dialog]", "click", function (e, link) {
    var dialog = document.getElementById(link.getAttribute("data-open-dialog"));
    if (!dialog || typeof dialog.showModal !== "function") { return; }
    e.preventDefault();
    dialog.showModal();
    var first = dialog.querySelector("select, input, textarea");
    if (first) { first.focus(); }
  });
  Array.prototype.forEach.call(document.querySelectorAll("[data-close-dialog]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { button.closest("dialog").close(); });
  });

  // -- tabs: "more" links (data-more) load the next page in place: infinite scroll --------------
  // The link is a plain page URL (it works without this script); the fetched page's panel has
  // the same id, and its [data-more-items] children are appended (a day group that continues
  // is merged into the last one rather than repeating its date header).
  function loadMore(link) {
    if (link.getAttribute("aria-busy") === "true") { return; }
    var panel = link.closest('[role="tabpanel"]');
    var list = panel && panel.querySelector("[data-more-items]");
    if (!list) { return; }
    link.setAttribute("aria-busy", "true");
    fetch(link.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById(panel.id);
      var items = fresh && fresh.querySelector("[data-more-items]");
      if (items) {
        Array.prototype.slice.call(items.children).forEach(function (child) {
          var last = list.lastElementChild;
          var day = child.getAttribute("data-day");
          if (day && last && last.getAttribute("data-day") === day) {
            var into = last.querySelector("ol, ul"), from = child.querySelector("ol, ul");
            if (into && from) {
              Array.prototype.slice.call(from.children).forEach(function (li) { into.appendChild(li); });
              return;
            }
          }
          list.appendChild(child);
        });
      }
      var next = fresh && fresh.querySelector("a[data-more]");
      var holder = link.closest(".more-link") || link;
      if (next) { link.href = next.href; link.removeAttribute("aria-busy"); watchMore(link); } else { holder.remove(); }
    });
  }
  var moreObserver = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting && !entry.target.closest("[hidden]")) {
        moreObserver.unobserve(entry.target);
        loadMore(entry.target);
      }
    });
  }, { rootMargin: "200px" }) : null;
  function watchMore(link) { if (moreObserver) { moreObserver.observe(link); } }
  on(document, '[role="tabpanel"] a[data-more]', "click", function (e, link) { e.preventDefault(); loadMore(link); });
  Array.prototype.forEach.call(document.querySelectorAll('[role="tabpanel"] a[data-more]'), watchMore);

  // -- contact form: live preview ---------------------------------------------------------------
  var contactForm = document.querySelector("form[data-contact-form]");
  var preview = document.querySelector("[data-preview-panel]");
  if (contactForm && preview) {
    var palette = 8;
    var val = function (name) { var el = contactForm.elements[name]; return el ? el.value.trim() : ""; };
    var out = function (name) { return preview.querySelector('[data-preview-out="' + name + '"]'); };
    var hash = async function (text) {
      var data = new TextEncoder().encode(text);
      var digest = await crypto.subtle.digest("SHA-256", data);
      return new Uint8Array(digest)[0];
    };
    var update = function () {
      var first = val("first_name"), last = val("last_name");
      var name = (first + " " + last).trim();
      out("name").textContent = name || "New contact";
      var position = val("position"), company = val("company");
      out("title").textContent = position && company ? position + " at " + company : (position || company || "N/A");
      out("email").textContent = val("email");
      out("phone").textContent = val("phone");
      var stage = val("stage");
      out("stage").innerHTML = "";
      if (stage) {
        var badge = document.createElement("span");
        badge.className = "badge stage-" + ({ "hot lead": "hot", "qualified": "qualified", "nurturing": "nurturing",
          "cold lead": "cold", "customer": "customer", "lost": "lost" }[stage.toLowerCase()] || "other");
        badge.textContent = stage;
        out("stage").appendChild(badge);
      }
      out("tags").innerHTML = "";
      val("tags").split(",").forEach(function (t) {
        if (!t.trim()) { return; }
        var tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = t.trim();
        out("tags").appendChild(tag);
      });
      var avatar = preview.querySelector("[data-preview-avatar]");
      avatar.textContent = ((first.charAt(0) + last.charAt(0)).toUpperCase()) || "?";
      avatar.setAttribute("aria-label", name || "Unnamed contact");
      if (name && window.crypto && crypto.subtle) {
        hash(name.toLowerCase()).then(function (b) { avatar.className = "avatar large avatar-" + (b % palette); });
      } else {
        avatar.className = "avatar large avatar-none";
      }
    };
    contactForm.addEventListener("input", update);
    update();
  }
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }

  // -- contacts list: select all, live filtering, company search --------------------------------
  function bindTable(root) {
    var all = root.querySelector("[data-select-all]");
    var count = root.querySelector("[data-selected-count]");
    var boxes = root.querySelectorAll('input[name="contact_ids"]');
    function refresh() {
      var n = root.querySelectorAll('input[name="contact_ids"]:checked').length;
      if (count) { count.textContent = n + " selected"; }
    }
    if (all) {
      all.addEventListener("change", function () {
        Array.prototype.forEach.call(boxes, function (b) { b.checked = all.checked; });
        refresh();
      });
    }
    Array.prototype.forEach.call(boxes, function (b) { b.addEventListener("change", refresh); });
    refresh();
  }
  // a filtered list renders without counting ("50+"); the capped count arrives afterwards
  function fillCounts(root) {
    var slots = root.querySelectorAll("[data-count-from]");
    if (!slots.length) { return; }
    fetch(slots[0].getAttribute("data-count-from"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        Array.prototype.forEach.call(slots, function (el) {
          el.textContent = data.label;
          el.removeAttribute("data-count-from");
        });
      });
  }
  var bulkForm = document.getElementById("bulk-form");
  if (bulkForm) { bindTable(bulkForm); fillCounts(bulkForm); }

  var filterForm = document.querySelector("form[data-live-filter]");
  if (filterForm && bulkForm) {
    var timer = null;
    var requestSeq = 0;
    var refreshList = function () {
      var params = new URLSearchParams();
      new FormData(filterForm).forEach(function (value, key) {
        if (key !== "company_q" && String(value).trim() !== "") { params.append(key, value); }
      });
      var url = filterForm.action + "?" + params.toString();
      var mine = ++requestSeq;
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
        if (mine !== requestSeq) { return; }  // a newer filter was asked for: drop this answer
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("bulk-form");
        var current = document.getElementById("bulk-form");
        if (fresh && current) {
          current.replaceWith(fresh);
          bindTable(fresh);
          fillCounts(fresh);
          history.replaceState(null, "", url);
        }
      });
    };
    var schedule = function () { clearTimeout(timer); timer = setTimeout(refreshList, 250); };
    filterForm.addEventListener("input", function (e) {
      if (e.target.name === "company_q") { return; }
      schedule();
    });
    filterForm.addEventListener("change", function (e) {
      if (e.target.type === "checkbox") { schedule(); }
    });
  }

  var companySearch = document.querySelector("[data-company-search]");
  if (companySearch) {
    var box = document.querySelector("[data-company-options]");
    var searchTimer = null;
    companySearch.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); } });
    companySearch.addEventListener("input", function () {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () {
        fetch("/contacts/companies?q=" + encodeURIComponent(companySearch.value), { credentials: "same-origin" })
          .then(function (r) { return r.json(); })
          .then(function (data) {
            var checked = Array.prototype.map.call(box.querySelectorAll("input:checked"), function (i) { return i.value; });
            box.innerHTML = "";
            checked.concat(data.companies.filter(function (c) { return checked.indexOf(c) < 0; })).forEach(function (name) {
              var label = document.createElement("label");
              label.className = "check";
              var input = document.createElement("input");
              input.type = "checkbox"; input.name = "company"; input.value = name;
              input.checked = checked.indexOf(name) >= 0;
              label.appendChild(input);
              label.appendChild(document.createTextNode(" " + name));
              box.appendChild(label);
            });
          });
      }, 200);
    });
  }

  // -- dashboard: drag and drop widgets, saved per user -----------------------------------------
  var dashboard = document.getElementById("dashboard");
  if (dashboard) {
    var dragged = null;
    Array.prototype.forEach.call(dashboard.querySelectorAll(".widget"), function (widget) {
      var handle = widget.querySelector(".drag-handle");
      handle.addEventListener("mousedown", function () { widget.draggable = true; });
      widget.addEventListener("dragstart", function (e) {
        dragged = widget; widget.classList.add("dragging");
        e.dataTransfer.effectAllowed = "move";
        e.dataTransfer.setData("text/plain", widget.getAttribute("data-widget"));
      });
      widget.addEventListener("dragend", function () {
        widget.classList.remove("dragging"); widget.draggable = false; dragged = null;
        Array.prototype.forEach.call(dashboard.querySelectorAll(".drop-target"), function (w) { w.classList.remove("drop-target"); });
      });
      widget.addEventListener("dragover", function (e) {
        if (!dragged || dragged === widget) { return; }
        e.preventDefault(); widget.classList.add("drop-target");
      });
      widget.addEventListener("dragleave", function () { widget.classList.remove("drop-target"); });
      widget.addEventListener("drop", function (e) {
        e.preventDefault();
        widget.classList.remove("drop-target");
        if (!dragged || dragged === widget) { return; }
        var items = Array.prototype.slice.call(dashboard.children);
        if (items.indexOf(dragged) < items.indexOf(widget)) { widget.after(dragged); } else { widget.before(dragged); }
        var order = Array.prototype.map.call(dashboard.querySelectorAll(".widget"), function (w) { return w.getAttribute("data-widget"); });
        var data = new FormData();
        data.append("widgets", JSON.stringify(order));
        postForm(dashboard.getAttribute("data-layout-url"), data);
      });
    });
  }
})();
