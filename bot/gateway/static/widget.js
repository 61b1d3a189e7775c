/*!
 * Shopping assistant chat widget: one script tag embeds it in any page.
 *
 *   <script src="https://shop-assistant.example/static/widget.js" defer
 *           data-title="Ask our stylist" data-accent="#0a7d5a"></script>
 *
 * The gateway's address is taken from this script's own src (data-gateway overrides it). Optional
 * attributes: data-title (panel title), data-accent (a CSS colour), data-open="true" (open at load),
 * data-currency (price prefix, default "$"), data-max-photo-mb (default 8).
 * Everything lives in a shadow root, so the shop's styles and the widget's never mix.
 * Talks to POST <gateway>/api/chat (multipart: sender, text, image, audio); a page on another origin
 * needs that origin in the gateway's SHOP_CORS_ORIGINS.
 */
(function () {
  "use strict";
  if (window.__shopAssistantWidget) return; // embedded twice: keep the first
  window.__shopAssistantWidget = true;

  // ------------------------------------------------------------------------------ configuration
  const script = document.currentScript || (function () {
    const all = document.querySelectorAll("script[src]");
    for (let i = all.length - 1; i >= 0; i--) if (/\/widget\.js(\?|#|$)/.test(all[i].src)) return all[i];
    return null;
  })();
  const data = (script && script.dataset) || {};
  // the gateway's root: the folder above /static/ (so a gateway behind a path prefix works too)
  const ROOT = new URL(data.gateway ? data.gateway.replace(/\/?$/, "/")
    : new URL("../", script && script.src ? script.src : location.href).href, location.href);
  const API_CHAT = new URL("api/chat", ROOT).href;
  const TITLE = (data.title || "Shopping assistant").slice(0, 80);
  const CURRENCY = data.currency !== undefined ? data.currency : "$";
  const MAX_PHOTO_BYTES = (parseFloat(data.maxPhotoMb) || 8) * 1024 * 1024;
  const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp"];
  const MAX_HISTORY = 50;
  const MAX_TEXT = 1000;
  const MAX_RECORDING_MS = 60000;
  const MIN_RECORDING_MS = 400;
  const KEY = "shop-assistant:";
  const TEXT = {
    greeting: "Hi! Describe what you are looking for, or send a photo of something you like.",
    network: "I can't reach the shop assistant right now. Check your connection and try again; your message is still in the box below.",
    failed: "Something went wrong. Please try again; your message is still in the box below.",
    notPhoto: "That file is not a photo I can read: please send a JPEG, PNG, WebP, GIF or BMP image.",
    tooBig: "That photo is too large: please send one under " + Math.round(MAX_PHOTO_BYTES / 1048576) + " MB.",
    micDenied: "I can't use your microphone: access was denied. Allow it in your browser's site settings, or type instead.",
    micMissing: "I couldn't find a microphone. You can type instead.",
    micFailed: "The microphone could not be started. You can type instead.",
    holdToTalk: "Hold the microphone button while you speak, then let go to send.",
  };

  // ---------------------------------------------------------------------------------- storage
  const memory = {};
  const store = {
    get(name) {
      try { return window.localStorage.getItem(KEY + name); } catch (e) { return memory[name] || null; }
    },
    set(name, value) {
      try { window.localStorage.setItem(KEY + name, value); } catch (e) { memory[name] = value; }
    },
    remove(name) {
      try { window.localStorage.removeItem(KEY + name); } catch (e) { /* ignore */ }
      delete memory[name];
    },
  };
  const session = {
    get(name) { try { return window.sessionStorage.getItem(KEY + name); } catch (e) { return null; } },
    set(name, value) { try { window.sessionStorage.setItem(KEY + name, value); } catch (e) { /* ignore */ } },
  };

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  function senderId() {
    let id = store.get("sender");
    if (!id || !/^[A-Za-z0-9_.:-]{1,128}$/.test(id)) {
      id = "web-" + randomId();
      store.set("sender", id);
    }
    return id;
  }

  function loadHistory() {
    try {
      const items = JSON.parse(store.get("history") || "[]");
      return Array.isArray(items) ? items.filter(function (e) { return e && typeof e === "object"; }) : [];
    } catch (e) { return []; }
  }

  let history = loadHistory();

  function saveHistory() {
    if (history.length > MAX_HISTORY) history = history.slice(history.length - MAX_HISTORY);
    const kept = history.map(function (entry) {
      const copy = Object.assign({}, entry);
      delete copy.localImage; // object URLs die with the page; photo bytes are never stored
      delete copy.node;
      return copy;
    });
    try { store.set("history", JSON.stringify(kept)); } catch (e) { /* quota: keep it in memory */ }
  }

  // ---------------------------------------------------------------------------------- helpers
  function el(tag, cls, text, attrs) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (attrs) for (const k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, attrs[k]);
    return node;
  }

  const ICONS = {
    chat: "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z",
    close: "M18.3 5.7a1 1 0 0 0-1.4 0L12 10.6 7.1 5.7a1 1 0 1 0-1.4 1.4l4.9 4.9-4.9 4.9a1 1 0 1 0 1.4 1.4l4.9-4.9 4.9 4.9a1 1 0 0 0 1.4-1.4L13.4 12l4.9-4.9a1 1 0 0 0 0-1.4z",
    photo: "M9 3 7.2 5H4a2 2 0 0 0-2 2v11a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V7a2 2 0 0 0-2-2h-3.2L15 3H9zm3 5a4.5 4.5 0 1 1 0 9 4.5 4.5 0 0 1 0-9zm0 2a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z",
    mic: "M12 2a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3zm-7 9a1 1 0 0 1 2 0 5 5 0 0 0 10 0 1 1 0 1 1 2 0 7 7 0 0 1-6 6.9V21h3a1 1 0 1 1 0 2H8a1 1 0 1 1 0-2h3v-3.1A7 7 0 0 1 5 11z",
    send: "M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z",
    reset: "M12 5V2L7 6l5 4V7a5 5 0 1 1-5 5H5a7 7 0 1 0 7-7z",
  };

  function icon(name) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function button(cls, label, iconName, text) {
    const b = el("button", cls, text, { type: "button", "aria-label": label, title: label });
    if (iconName) b.appendChild(icon(iconName));
    return b;
  }

  /** A gateway URL ("/api/products/1/image") made absolute against the gateway, never the shop. */
  function gatewayUrl(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      const u = url.charAt(0) === "/" && url.charAt(1) !== "/" ? new URL(url.slice(1), ROOT) : new URL(url, ROOT);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) { return null; }
  }

  function price(value) {
    if (value === null || value === undefined || value === "") return "";
    const n = Number(value);
    if (!isFinite(n)) return String(value);
    return CURRENCY + (Number.isInteger(n) ? n.toLocaleString("en-US")
      : n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
  }

  // ---------------------------------------------------------------------------------- the DOM
  // a custom element name: the shop's `div { ... }` rules cannot match the host
  const host = el("shop-assistant", null, null, { id: "shop-assistant-widget" });
  if (!host.attachShadow) { console.warn("shop assistant: this browser has no Shadow DOM"); return; }
  host.style.cssText = "all: initial; visibility: hidden;"; // shown once widget.css has loaded
  const shadow = host.attachShadow({ mode: "open" });
  const stylesheet = el("link", null, null, { rel: "stylesheet", href: new URL("static/widget.css", ROOT).href });
  const showHost = function () { host.style.visibility = "visible"; };
  stylesheet.addEventListener("load", showHost);
  stylesheet.addEventListener("error", showHost);
  shadow.appendChild(stylesheet);

  const root = el("div", "sa-root");
  if (data.accent && window.CSS && CSS.supports && CSS.supports("color", data.accent)) {
    root.style.setProperty("--accent", data.accent);
  }
  shadow.appendChild(root);

  const launcher = button("sa-launcher", "Open " + TITLE, "chat");
  launcher.setAttribute("aria-expanded", "false");
  launcher.setAttribute("aria-controls", "sa-panel");
  launcher.setAttribute("aria-haspopup", "dialog");

  const panel = el("section", "sa-panel", null, { id: "sa-panel", role: "dialog", "aria-labelledby": "sa-title" });
  panel.hidden = true;
  const header = el("header", "sa-header");
  const title = el("h2", "sa-title", TITLE, { id: "sa-title" });
  const resetButton = button("sa-icon-button sa-reset", "Start a new conversation", "reset");
  const closeButton = button("sa-icon-button sa-close", "Close " + TITLE, "close");
  header.append(title, resetButton, closeButton);

  const scroller = el("div", "sa-scroller");
  const log = el("ol", "sa-log", null, { role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "-1" });
  const empty = el("p", "sa-empty", TEXT.greeting);
  const typing = el("div", "sa-typing", null, { role: "status" });
  typing.append(el("span", null, null, { "aria-hidden": "true" }), el("span", null, null, { "aria-hidden": "true" }),
    el("span", null, null, { "aria-hidden": "true" }), el("span", "sa-sr-only", "The assistant is typing"));
  typing.hidden = true;
  scroller.append(empty, log, typing);

  const composer = el("form", "sa-composer", null, { "aria-label": "Send a message", novalidate: "" });
  const preview = el("div", "sa-preview");
  preview.hidden = true;
  const previewThumb = el("div", "sa-preview-thumb");
  const previewImg = el("img", null, null, { alt: "Photo to send" });
  previewImg.addEventListener("error", function () { if (previewImg.getAttribute("src")) previewImg.classList.add("sa-broken"); });
  previewImg.addEventListener("load", function () { previewImg.classList.remove("sa-broken"); });
  const previewRemove = el("button", "sa-preview-remove", "\u00d7", { type: "button", "aria-label": "Remove photo", title: "Remove photo" });
  previewThumb.append(previewImg, previewRemove);
  const previewName = el("span", "sa-preview-name");
  preview.append(previewThumb, previewName);

  const recordingBar = el("div", "sa-recording", null, { role: "status" });
  const recordingText = el("span", null, "Recording\u2026 release to send");
  recordingBar.append(el("span", "sa-recording-dot", null, { "aria-hidden": "true" }), recordingText);
  recordingBar.hidden = true;

  const row = el("div", "sa-row");
  const fileInput = el("input", "sa-file", null, {
    type: "file", accept: PHOTO_TYPES.join(","), tabindex: "-1", "aria-hidden": "true",
  });
  const photoButton = button("sa-icon-button sa-tool sa-photo", "Add a photo", "photo");
  const textBox = el("textarea", "sa-text", null, {
    rows: "1", maxlength: String(MAX_TEXT), "aria-label": "Message",
    placeholder: "Describe what you want", autocomplete: "off", enterkeyhint: "send",
  });
  const micButton = button("sa-icon-button sa-tool sa-mic", "Hold to talk", "mic");
  micButton.setAttribute("aria-pressed", "false");
  const sendButton = button("sa-icon-button sa-send", "Send", "send");
  sendButton.type = "submit";
  row.append(fileInput, photoButton, textBox, micButton, sendButton);
  composer.append(preview, recordingBar, row);

  const dropZone = el("div", "sa-drop", "Drop a photo here", { "aria-hidden": "true" });
  dropZone.hidden = true;
  panel.append(header, scroller, composer, dropZone);
  root.append(launcher, panel); // Tab order: the launcher, then the open panel

  const canRecord = !!(window.MediaRecorder && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  micButton.hidden = !canRecord;

  // ------------------------------------------------------------------------------- rendering
  function scrollToEnd() { scroller.scrollTop = scroller.scrollHeight; }

  function productCard(p, position, count, entry) {
    const card = el("li", "sa-card", null, { "aria-label": "Product " + position + " of " + count + ": " + (p.title || "") });
    const frame = el("div", "sa-card-image");
    const src = gatewayUrl(p.image_url);
    if (src) {
      frame.appendChild(el("img", null, null, { src: src, alt: p.title || "Product photo", loading: "lazy",
        decoding: "async", width: "152", height: "170" }));
    } else {
      frame.textContent = "No photo";
    }
    card.appendChild(frame);
    card.appendChild(el("div", "sa-card-title", p.title || "Untitled"));
    if (p.brand) card.appendChild(el("div", "sa-card-brand", p.brand));
    const cost = price(p.price);
    if (cost) card.appendChild(el("div", "sa-card-price", cost));
    if (p.why) card.appendChild(el("div", "sa-card-why", p.why));
    const more = el("button", "sa-more", "More like this", {
      type: "button", "aria-label": "More like this: " + (p.title || "product " + position),
    });
    more.addEventListener("click", function () {
      send({ text: "more like number " + position, shown: "More like " + (p.title ? "\u201c" + p.title + "\u201d" : "number " + position) });
    });
    card.appendChild(more);
    return card;
  }

  function comparisonTable(cmp) {
    const columns = Array.isArray(cmp.columns) ? cmp.columns : [];
    const rows = Array.isArray(cmp.rows) ? cmp.rows : [];
    if (!columns.length || !rows.length) return null;
    const wrap = el("div", "sa-table-wrap", null, { tabindex: "0", role: "region", "aria-label": "Comparison" });
    const table = el("table", "sa-compare");
    table.appendChild(el("caption", "sa-sr-only", "Side-by-side comparison"));
    const head = el("tr");
    head.appendChild(el("th", null, "", { scope: "col" }));
    columns.forEach(function (c) { head.appendChild(el("th", null, c, { scope: "col" })); });
    const thead = el("thead");
    thead.appendChild(head);
    const tbody = el("tbody");
    rows.forEach(function (r) {
      const tr = el("tr");
      tr.appendChild(el("th", null, r && r.label, { scope: "row" }));
      const values = r && Array.isArray(r.values) ? r.values : [];
      columns.forEach(function (_, i) { tr.appendChild(el("td", null, values[i] === undefined ? "" : values[i])); });
      tbody.appendChild(tr);
    });
    table.append(thead, tbody);
    wrap.appendChild(table);
    return wrap;
  }

  function renderBot(item, entry) {
    const m = entry.msg || {};
    let text = typeof m.text === "string" ? m.text : "";
    const hasTable = m.comparison && Array.isArray(m.comparison.rows) && m.comparison.rows.length;
    if (hasTable) { // the text repeats the table as "a | b" lines for text-only channels: keep the rest
      text = text.split("\n").filter(function (line) { return line.indexOf(" | ") < 0; }).join("\n").trim();
    }
    const table = hasTable ? comparisonTable(m.comparison) : null;
    if (table) item.appendChild(table); // the table first, then what it adds up to
    if (text) item.appendChild(el("div", "sa-bubble", text));
    const img = gatewayUrl(m.image);
    if (img) item.appendChild(el("img", "sa-sent-photo", null, { src: img, alt: "", loading: "lazy" }));
    if (Array.isArray(m.products) && m.products.length) {
      const cards = el("ul", "sa-cards", null, { "aria-label": "Products", tabindex: "0" });
      m.products.forEach(function (p, i) { if (p) cards.appendChild(productCard(p, i + 1, m.products.length, entry)); });
      item.appendChild(cards);
    }
    if (Array.isArray(m.quick_replies) && m.quick_replies.length) {
      const chips = el("div", "sa-chips", null, { role: "group", "aria-label": "Suggested replies" });
      const used = typeof entry.used === "number";
      m.quick_replies.forEach(function (r, i) {
        if (!r) return;
        const label = String(r.title || r.payload || "");
        const chip = el("button", "sa-chip" + (entry.used === i ? " sa-chosen" : ""), label, { type: "button" });
        chip.disabled = used;
        chip.addEventListener("click", function () {
          if (typeof entry.used === "number") return;
          entry.used = i;
          setChips(chips, i);
          saveHistory();
          send({ text: String(r.payload || r.title || ""), shown: label }).then(function (ok) {
            if (!ok) { delete entry.used; setChips(chips, null); saveHistory(); } // can be tried again
          });
        });
        chips.appendChild(chip);
      });
      item.appendChild(chips);
    }
  }

  function setChips(chips, chosen) {
    Array.prototype.forEach.call(chips.children, function (chip, i) {
      chip.disabled = chosen !== null;
      chip.classList.toggle("sa-chosen", chosen === i);
    });
  }

  function renderUser(item, entry) {
    const src = entry.localImage || gatewayUrl(entry.image);
    const placeholder = function () {
      const b = el("div", "sa-bubble sa-photo-placeholder");
      b.append(icon("photo"), document.createTextNode("Photo"));
      return b;
    };
    if (src) {
      const img = el("img", "sa-sent-photo", null, { src: src, alt: "Your photo" });
      img.addEventListener("error", function () { if (img.parentNode) img.parentNode.replaceChild(placeholder(), img); });
      item.appendChild(img);
    } else if (entry.photo) item.appendChild(placeholder());
    if (entry.voice) {
      const b = el("div", "sa-bubble sa-voice");
      b.append(icon("mic"), document.createTextNode(entry.transcript || "Voice message"));
      item.appendChild(b);
    } else if (entry.text) item.appendChild(el("div", "sa-bubble", entry.text));
    if (entry.failed) item.appendChild(el("div", "sa-note", "Not sent"));
  }

  function render(entry) {
    const kind = entry.role === "user" ? "sa-user" : "sa-bot" + (entry.error ? " sa-error" : "");
    const item = el("li", "sa-msg " + kind);
    if (entry.role === "user") renderUser(item, entry);
    else renderBot(item, entry);
    const label = entry.role === "user" ? "You said" : "Assistant";
    item.insertBefore(el("span", "sa-sr-only", label + ": "), item.firstChild);
    entry.node = item;
    return item;
  }

  function rerender(entry) {
    const old = entry.node;
    const fresh = render(entry);
    if (old && old.parentNode === log) log.replaceChild(fresh, old);
  }

  function add(entry) {
    history.push(entry);
    log.appendChild(render(entry));
    while (log.children.length > MAX_HISTORY) log.removeChild(log.firstChild);
    empty.hidden = true;
    saveHistory();
    scrollToEnd();
    return entry;
  }

  function botNote(text, error) { return add({ role: "bot", error: !!error, msg: { text: text } }); }

  function renderAll() {
    log.textContent = "";
    history.forEach(function (entry) { log.appendChild(render(entry)); });
    empty.hidden = history.length > 0;
  }

  // ------------------------------------------------------------------------------------ sending
  let busy = false;
  let pendingPhoto = null; // {file, url}

  function updateSend() {
    const ready = !busy && (textBox.value.trim() !== "" || pendingPhoto !== null);
    sendButton.disabled = !ready;
    composer.setAttribute("aria-busy", busy ? "true" : "false");
  }

  /**
   * One turn: {text?, file?, audio?: {blob, name}, shown?} -> POST /api/chat as multipart.
   * Resolves true when the assistant answered, false otherwise (the error is shown as a bot message).
   */
  async function send(turn) {
    if (busy) return false;
    const text = turn.text ? String(turn.text).slice(0, MAX_TEXT) : "";
    if (!text && !turn.file && !turn.audio) return false;
    busy = true;
    updateSend();
    const mine = add({
      role: "user", text: turn.shown || text, photo: !!turn.file, voice: !!turn.audio,
      localImage: turn.file ? URL.createObjectURL(turn.file) : undefined,
    });
    typing.hidden = false;
    scrollToEnd();
    const body = new FormData();
    body.append("sender", senderId());
    if (text) body.append("text", text);
    if (turn.file) body.append("image", turn.file, turn.file.name || "photo");
    if (turn.audio) body.append("audio", turn.audio.blob, turn.audio.name);
    let ok = false;
    try {
      const resp = await fetch(API_CHAT, { method: "POST", body: body, mode: "cors", credentials: "omit" });
      let reply = {};
      try { reply = await resp.json(); } catch (e) { reply = {}; }
      if (reply && reply.upload && turn.file) mine.image = reply.upload.url;
      const messages = reply && Array.isArray(reply.messages) ? reply.messages : [];
      ok = resp.ok;
      if (ok) {
        messages.forEach(function (m) {
          if (!m || typeof m !== "object") return;
          if (m.transcript && typeof m.transcript.text === "string" && mine.voice && !mine.transcript) {
            mine.transcript = m.transcript.text;
            rerender(mine);
          }
          add({ role: "bot", msg: m });
        });
        if (!messages.length) botNote("\u2026");
      } else {
        mine.failed = true;
        rerender(mine);
        if (messages.length) messages.forEach(function (m) { add({ role: "bot", error: true, msg: m }); });
        else botNote(reply && typeof reply.error === "string" && reply.error ? reply.error : TEXT.failed, true);
      }
    } catch (e) {
      mine.failed = true;
      rerender(mine);
      botNote(TEXT.network, true);
      if (new URL(API_CHAT).origin !== location.origin) {
        console.warn("shop assistant: " + API_CHAT + " could not be reached. If the gateway is up, add " +
          location.origin + " to its SHOP_CORS_ORIGINS.");
      }
    } finally {
      typing.hidden = true;
      busy = false;
      saveHistory();
      updateSend();
      scrollToEnd();
    }
    return ok;
  }

  function submitComposer() {
    if (busy) return;
    const text = textBox.value.trim();
    const photo = pendingPhoto;
    if (!text && !photo) return;
    textBox.value = "";
    autosize();
    clearPhoto(false);
    send({ text: text, file: photo && photo.file }).then(function (ok) {
      if (ok) { if (photo) URL.revokeObjectURL(photo.url); return; }
      // keep what the shopper wrote: back into the box unless they already typed something new
      if (text && !textBox.value.trim()) { textBox.value = text; autosize(); }
      if (photo && !pendingPhoto) setPhoto(photo.file);
      updateSend();
    });
  }

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    submitComposer();
  });

  textBox.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault(); // Shift+Enter: a newline
      submitComposer();
    }
  });

  function autosize() {
    textBox.style.height = "";
    if (!textBox.value) { textBox.style.overflowY = ""; return; }
    textBox.style.height = "auto";
    const wanted = textBox.scrollHeight + 2; // + the borders
    textBox.style.height = Math.min(wanted, 120) + "px";
    textBox.style.overflowY = wanted > 120 ? "auto" : "hidden";
  }
  textBox.addEventListener("input", function () { autosize(); updateSend(); });

  // -------------------------------------------------------------------------------------- photo
  function setPhoto(file) {
    if (!file) return;
    if (PHOTO_TYPES.indexOf(file.type) < 0 && !(file.type === "" && /\.(jpe?g|png|webp|gif|bmp)$/i.test(file.name || ""))) {
      botNote(TEXT.notPhoto, true);
      return;
    }
    if (file.size > MAX_PHOTO_BYTES) { botNote(TEXT.tooBig, true); return; }
    clearPhoto(true);
    pendingPhoto = { file: file, url: URL.createObjectURL(file) };
    previewImg.src = pendingPhoto.url;
    previewName.textContent = file.name || "Pasted photo";
    preview.hidden = false;
    updateSend();
  }

  function clearPhoto(revoke) {
    if (pendingPhoto && revoke) URL.revokeObjectURL(pendingPhoto.url);
    pendingPhoto = null;
    fileInput.value = "";
    previewImg.removeAttribute("src");
    previewName.textContent = "";
    preview.hidden = true;
    updateSend();
  }

  photoButton.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    if (fileInput.files && fileInput.files[0]) setPhoto(fileInput.files[0]);
    fileInput.value = "";
    textBox.focus();
  });
  previewRemove.addEventListener("click", function () { clearPhoto(true); textBox.focus(); });

  function imageFrom(list) {
    if (!list) return null;
    for (let i = 0; i < list.length; i++) {
      const item = list[i];
      if (item.kind === "file") { const f = item.getAsFile(); if (f && /^image\//.test(f.type)) return f; }
      else if (item instanceof File && /^image\//.test(item.type)) return item;
    }
    return null;
  }

  panel.addEventListener("paste", function (event) {
    const file = event.clipboardData && imageFrom(event.clipboardData.items);
    if (file) { event.preventDefault(); setPhoto(file); }
  });

  let dragDepth = 0;
  function hasFiles(event) {
    const types = event.dataTransfer && event.dataTransfer.types;
    return !!types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }
  panel.addEventListener("dragenter", function (event) {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth++;
    dropZone.hidden = false;
  });
  panel.addEventListener("dragover", function (event) {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  panel.addEventListener("dragleave", function () {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropZone.hidden = true;
  });
  panel.addEventListener("drop", function (event) {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropZone.hidden = true;
    const files = event.dataTransfer.files;
    const file = imageFrom(files) || (files && files[0]);
    if (file) setPhoto(file);
    textBox.focus();
  });

  // -------------------------------------------------------------------------- push to talk
  let recording = null; // {released, recorder, stream, started, timer, ticker, cancelled}

  function pickMime() {
    const wanted = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm", "audio/mp4"];
    if (!MediaRecorder.isTypeSupported) return "";
    for (let i = 0; i < wanted.length; i++) if (MediaRecorder.isTypeSupported(wanted[i])) return wanted[i];
    return "";
  }

  function audioName(type) {
    if (/ogg/.test(type)) return "voice.ogg";
    if (/mp4|aac|m4a/.test(type)) return "voice.m4a";
    if (/wav/.test(type)) return "voice.wav";
    return "voice.webm";
  }

  function showRecording(on) {
    recordingBar.hidden = !on;
    micButton.classList.toggle("sa-active", on);
    micButton.setAttribute("aria-pressed", on ? "true" : "false");
    micButton.setAttribute("aria-label", on ? "Recording: release to send" : "Hold to talk");
  }

  async function startRecording() {
    if (recording || busy || !canRecord) return;
    const rec = recording = { released: false, cancelled: false };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (err) {
      recording = null;
      const name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") botNote(TEXT.micDenied, true);
      else if (name === "NotFoundError" || name === "DevicesNotFoundError") botNote(TEXT.micMissing, true);
      else botNote(TEXT.micFailed, true);
      return;
    }
    rec.stream = stream;
    const stopTracks = function () { stream.getTracks().forEach(function (t) { t.stop(); }); };
    if (rec.released || rec.cancelled) { // let go while the browser was asking for permission
      stopTracks();
      recording = null;
      if (!rec.cancelled) botNote(TEXT.holdToTalk);
      return;
    }
    const mime = pickMime();
    let recorder;
    try {
      recorder = mime ? new MediaRecorder(stream, { mimeType: mime }) : new MediaRecorder(stream);
    } catch (err) {
      stopTracks();
      recording = null;
      botNote(TEXT.micFailed, true);
      return;
    }
    const chunks = [];
    rec.recorder = recorder;
    recorder.addEventListener("dataavailable", function (e) { if (e.data && e.data.size) chunks.push(e.data); });
    recorder.addEventListener("stop", function () {
      stopTracks();
      clearTimeout(rec.timer);
      clearInterval(rec.ticker);
      showRecording(false);
      recording = null;
      const took = Date.now() - rec.started;
      if (rec.cancelled) return;
      if (took < MIN_RECORDING_MS || !chunks.length) { botNote(TEXT.holdToTalk); return; }
      const type = recorder.mimeType || mime || (chunks[0] && chunks[0].type) || "audio/webm";
      const blob = new Blob(chunks, { type: type });
      send({ audio: { blob: blob, name: audioName(type) } });
    });
    rec.started = Date.now();
    recorder.start(250);
    showRecording(true);
    recordingText.textContent = "Recording 0:00 \u2013 release to send";
    rec.ticker = setInterval(function () {
      const s = Math.floor((Date.now() - rec.started) / 1000);
      recordingText.textContent = "Recording " + Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0") + " \u2013 release to send";
    }, 500);
    rec.timer = setTimeout(stopRecording, MAX_RECORDING_MS);
  }

  function stopRecording(cancel) {
    const rec = recording;
    if (!rec) return;
    rec.released = true;
    if (cancel === true) rec.cancelled = true;
    if (rec.recorder && rec.recorder.state !== "inactive") rec.recorder.stop();
  }

  micButton.addEventListener("pointerdown", function (event) {
    if (event.button !== 0) return;
    event.preventDefault();
    try { micButton.setPointerCapture(event.pointerId); } catch (e) { /* ignore */ }
    startRecording();
  });
  ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (type) {
    micButton.addEventListener(type, function () { stopRecording(); });
  });
  micButton.addEventListener("keydown", function (event) {
    if (event.key !== " " && event.key !== "Enter") return;
    event.preventDefault();
    if (!event.repeat) startRecording();
  });
  micButton.addEventListener("keyup", function (event) {
    if (event.key !== " " && event.key !== "Enter") return;
    event.preventDefault();
    stopRecording();
  });
  micButton.addEventListener("blur", function () { stopRecording(); });
  micButton.addEventListener("contextmenu", function (event) { event.preventDefault(); }); // long press on phones
  micButton.addEventListener("click", function (event) { event.preventDefault(); });

  // ------------------------------------------------------------------------------ open / close
  function open(focusText) {
    panel.hidden = false;
    root.classList.add("sa-open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Close " + TITLE);
    launcher.replaceChildren(icon("close"));
    session.set("open", "1");
    scrollToEnd();
    if (focusText !== false) textBox.focus();
  }

  function close() {
    stopRecording(true);
    panel.hidden = true;
    root.classList.remove("sa-open");
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", "Open " + TITLE);
    launcher.replaceChildren(icon("chat"));
    session.set("open", "0");
    launcher.focus();
  }

  launcher.addEventListener("click", function () { if (panel.hidden) open(); else close(); });
  closeButton.addEventListener("click", close);
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !event.defaultPrevented) { event.preventDefault(); close(); }
  });
  resetButton.addEventListener("click", function () {
    if (busy) return;
    history = [];
    store.remove("history");
    store.set("sender", "web-" + randomId()); // a fresh conversation for the assistant too
    renderAll();
    clearPhoto(true);
    textBox.focus();
  });

  // ------------------------------------------------------------------------------------- start
  function mount() {
    (document.body || document.documentElement).appendChild(host);
    renderAll();
    updateSend();
    const wantOpen = session.get("open");
    if (wantOpen === "1" || (wantOpen === null && data.open === "true")) open(false);
  }

  // another tab of the same shop went on with the conversation: show it here too
  window.addEventListener("storage", function (event) {
    if (event.key !== KEY + "history" || busy) return;
    history = loadHistory();
    renderAll();
    scrollToEnd();
  });

  senderId();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();

  // a small API for the shop's own buttons: ShopAssistant.open(), .close(), .send("red dress")
  window.ShopAssistant = {
    open: function () { open(); },
    close: close,
    send: function (text) { open(); return send({ text: text }); },
  };
})();
