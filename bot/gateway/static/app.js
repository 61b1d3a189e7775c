// Minimal chat page for the gateway: POST /api/chat (multipart), render messages, cards, quick replies.
(function () {
  "use strict";
  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const textBox = document.getElementById("text");
  const photo = document.getElementById("photo");
  const preview = document.getElementById("preview");
  const previewImg = document.getElementById("preview-img");
  const sendButton = document.getElementById("send");

  function senderId() {
    let id = localStorage.getItem("shop-sender");
    if (!id) {
      id = "web-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
      localStorage.setItem("shop-sender", id);
    }
    return id;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function add(role, build) {
    const item = el("li", "msg " + role);
    build(item);
    list.appendChild(item);
    list.scrollTop = list.scrollHeight;
  }

  function card(p) {
    const c = el("div", "card");
    if (p.image_url) {
      const img = el("img");
      img.src = p.image_url;
      img.alt = p.title || "";
      img.loading = "lazy";
      c.appendChild(img);
    }
    c.appendChild(el("div", "title", p.title));
    if (p.price !== null && p.price !== undefined) c.appendChild(el("div", "price", Number(p.price).toFixed(2)));
    if (p.why) c.appendChild(el("div", "why", p.why));
    return c;
  }

  function render(m) {
    add("bot", function (item) {
      if (m.text) item.appendChild(el("div", "bubble", m.text));
      if (m.image) {
        const img = el("img", "sent");
        img.src = m.image;
        item.appendChild(img);
      }
      if (m.products && m.products.length) {
        const row = el("div", "cards");
        m.products.forEach(function (p) { row.appendChild(card(p)); });
        item.appendChild(row);
      }
      if (m.quick_replies && m.quick_replies.length) {
        const row = el("div", "replies");
        m.quick_replies.forEach(function (r) {
          const b = el("button", "", r.title);
          b.type = "button";
          b.addEventListener("click", function () { send(r.payload, null, r.title); });
          row.appendChild(b);
        });
        item.appendChild(row);
      }
    });
  }

  function clearPhoto() {
    photo.value = "";
    preview.hidden = true;
    if (previewImg.src) URL.revokeObjectURL(previewImg.src);
    previewImg.removeAttribute("src");
  }

  async function send(text, file, shown) {
    add("user", function (item) {
      if (file) {
        const img = el("img", "sent");
        img.src = URL.createObjectURL(file);
        item.appendChild(img);
      }
      if (shown || text) item.appendChild(el("div", "bubble", shown || text));
    });
    const body = new FormData();
    body.append("sender", senderId());
    if (text) body.append("text", text);
    if (file) body.append("image", file);
    sendButton.disabled = true;
    try {
      const resp = await fetch("/api/chat", { method: "POST", body: body });
      let data = {};
      try { data = await resp.json(); } catch (e) { data = {}; }
      if (data.messages && data.messages.length) data.messages.forEach(render);
      else if (!resp.ok) add("error", function (i) { i.appendChild(el("div", "bubble", data.error || "Something went wrong.")); });
    } catch (e) {
      add("error", function (i) { i.appendChild(el("div", "bubble", "Network error: please try again.")); });
    } finally {
      sendButton.disabled = false;
    }
  }

  photo.addEventListener("change", function () {
    const file = photo.files[0];
    if (!file) { clearPhoto(); return; }
    previewImg.src = URL.createObjectURL(file);
    preview.hidden = false;
  });
  document.getElementById("preview-clear").addEventListener("click", clearPhoto);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = textBox.value.trim();
    const file = photo.files[0] || null;
    if (!text && !file) return;
    textBox.value = "";
    clearPhoto();
    send(text, file, null);
  });
})();
