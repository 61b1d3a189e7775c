"""The gateway (bot.gateway): chat turns to a fake Rasa, photo uploads, product routes, health."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from bot.gateway import GatewaySettings, RasaClient, create_app
from bot.gateway.catalog import ProductStore
from bot.gateway.chat import PHOTO_ONLY_MESSAGE, UNAVAILABLE_TEXT
from bot.gateway.services import ActionServerClient
from retrieval.catalog import Product
from retrieval.product_index import read_products
from retrieval.settings import Settings
from tests.gateway_fakes import FakeProbe, FakeRasa

SECRET = "test-secret"
MAX_UPLOAD = 60_000




def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30),
               quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def noisy_jpeg(min_bytes: int) -> bytes:
    """A valid JPEG of at least ``min_bytes`` (random pixels compress badly)."""
    side = 64
    while True:
        img = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)
        if buf.tell() >= min_bytes:
            return buf.getvalue()
        side *= 2


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    (root / "images").mkdir(parents=True)
    (root / "images" / "p1.jpg").write_bytes(jpeg_bytes())
    (tmp_path / "outside.jpg").write_bytes(jpeg_bytes())
    return root


@pytest.fixture
def products(catalog_dir: Path) -> dict[str, Product]:
    items = [
        Product(id="p1", title="Red Summer Dress", brand="Acme", gender="Women", article_type="Dresses",
                color="Red", usage="Casual", price=39.9, image=str(catalog_dir / "images" / "p1.jpg")),
        Product(id="p2", title="Plain Tee", brand="Basic", price=9.5, image=None),
        Product(id="p3", title="Relative Photo", image="images/p1.jpg"),
        Product(id="p4", title="Escaping Photo", image=str(catalog_dir.parent / "outside.jpg")),
        Product(id="p5", title="Sneaky Photo", image="../outside.jpg"),
    ]
    return {p.id: p for p in items}


@pytest.fixture
def settings(tmp_path: Path, catalog_dir: Path) -> GatewaySettings:
    return GatewaySettings(
        uploads_dir=tmp_path / "uploads", max_upload_bytes=MAX_UPLOAD, gateway_secret=None, cors_origins=[],
        retrieval=Settings(catalog_dir=catalog_dir, index_dir=tmp_path / "index"))


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def client(settings: GatewaySettings, rasa: FakeRasa, products: dict[str, Product]):
    app = create_app(settings, rasa=rasa, products=products, action_server=FakeProbe())
    with TestClient(app) as c:
        yield c


# ------------------------------------------------------------------------------------ settings
def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHOP_GATEWAY_PORT", "8123")
    monkeypatch.setenv("SHOP_RASA_URL", "http://rasa:5005/")
    monkeypatch.setenv("SHOP_GATEWAY_SECRET", "abc")
    monkeypatch.setenv("SHOP_CORS_ORIGINS", "https://shop.example, https://www.shop.example")
    monkeypatch.setenv("SHOP_UPLOADS_DIR", "var/test-uploads")
    monkeypatch.setenv("SHOP_INDEX_DIR", str(tmp_path / "idx"))
    s = GatewaySettings()
    assert s.gateway_port == 8123 and s.rasa_url == "http://rasa:5005"
    assert s.secret == "abc" and "abc" not in repr(s)
    assert s.cors_origins == ["https://shop.example", "https://www.shop.example"]
    assert s.uploads_dir.is_absolute() and s.uploads_dir.parts[-2:] == ("var", "test-uploads")
    assert s.index_dir == tmp_path / "idx"
    monkeypatch.setenv("SHOP_GATEWAY_SECRET", "")
    monkeypatch.setenv("SHOP_CORS_ORIGINS", '["https://a.example"]')
    s = GatewaySettings()
    assert s.secret is None and s.cors_origins == ["https://a.example"]


# ---------------------------------------------------------------------------------------- chat
def test_json_text_turn_is_forwarded_and_translated(client: TestClient, rasa: FakeRasa) -> None:
    rasa.outputs = [
        {"recipient_id": "shopper-1", "text": "Here are red dresses under 50:"},
        {"recipient_id": "shopper-1", "custom": {
            "products": [
                {"id": "p1", "title": "Red Summer Dress", "brand": "Acme", "price": 39.9, "color": "Red",
                 "article_type": "Dresses", "reason": "red dress, under 50", "why": {"matched": ["color"]}},
                {"id": "p2", "title": "Plain Tee", "brand": "Basic", "price": 9.5, "reason": "cheap"},
                {"id": "zz/9", "title": "Not in our store", "brand": "", "price": None, "reason": "close"},
                {"id": "p1", "title": "Flagged", "has_image": False, "reason": "the action says no photo"},
                {"title": "no id: dropped"},
            ],
            "question": {"slot": "size", "text": "Which size?"},
            "comparison": {"ids": ["p1", "p2"]},
        }},
        {"recipient_id": "shopper-1", "text": "Want something else?",
         "buttons": [{"title": "Cheaper", "payload": "/cheaper"}, {"title": "In blue", "payload": "in blue"}]},
        {"recipient_id": "shopper-1", "image": "https://example.com/x.png"},
        {"recipient_id": "shopper-1"},
    ]
    resp = client.post("/api/chat", json={"sender": "shopper-1", "text": "  red dress under 50 ", "image": None})
    assert resp.status_code == 200, resp.text
    assert rasa.calls == [("shopper-1", "red dress under 50", None)]
    body = resp.json()
    assert "upload" not in body
    msgs = body["messages"]
    assert len(msgs) == 2  # Rasa's text and the custom/image parts of one utterance become one message
    assert msgs[0]["text"] == "Here are red dresses under 50:"
    cards = msgs[0]["products"]
    assert len(cards) == 4
    assert cards[0] == {"id": "p1", "title": "Red Summer Dress", "brand": "Acme", "price": 39.9, "color": "Red",
                        "article_type": "Dresses", "gender": None, "usage": None,
                        "image_url": "/api/products/p1/image", "why": "red dress, under 50"}
    assert cards[1]["image_url"] is None  # the store knows p2 has no photo
    assert cards[2]["image_url"] == "/api/products/zz%2F9/image" and cards[2]["why"] == "close"
    assert cards[3]["image_url"] is None and "has_image" not in cards[3]
    assert msgs[0]["question"] == {"slot": "size", "text": "Which size?"}
    assert msgs[0]["comparison"] == {"ids": ["p1", "p2"]}
    assert msgs[1] == {"text": "Want something else?", "quick_replies": [
        {"title": "Cheaper", "payload": "/cheaper"}, {"title": "In blue", "payload": "in blue"}],
        "image": "https://example.com/x.png"}


def test_a_question_joins_its_quick_replies() -> None:
    from bot.gateway.messages import translate

    out = translate([{"text": "Who is it for?", "buttons": [{"title": "Men", "payload": "Men"}]},
                     {"custom": {"question": {"field": "gender"}}},
                     {"custom": {"products": [{"id": "1", "title": "x", "reason": "r"}]}}])
    assert out[0] == {"text": "Who is it for?", "quick_replies": [{"title": "Men", "payload": "Men"}],
                      "question": {"field": "gender"}}
    assert len(out) == 2 and out[1]["products"][0]["why"] == "r"


def test_multipart_photo_turn_stores_once_and_sends_hash(client: TestClient, rasa: FakeRasa,
                                                         settings: GatewaySettings) -> None:
    photo = jpeg_bytes()
    sha = hashlib.sha256(photo).hexdigest()
    for _ in range(2):
        resp = client.post("/api/chat", data={"sender": "s1"},
                           files={"image": ("shot.jpg", photo, "image/jpeg")})
        assert resp.status_code == 200, resp.text
        assert resp.json()["upload"] == {"sha256": sha, "url": f"/api/uploads/{sha}"}
    assert rasa.calls == [("s1", PHOTO_ONLY_MESSAGE, {"image": sha})] * 2
    stored = sorted(p.name for p in settings.uploads_dir.iterdir())
    assert stored == [f"{sha}.jpg"]  # once, no temp files left
    assert (settings.uploads_dir / f"{sha}.jpg").read_bytes() == photo

    resp = client.post("/api/chat", data={"sender": "s1", "text": "like this but in blue"},
                       files={"image": ("x.bin", photo, "application/octet-stream")})
    assert resp.status_code == 200
    assert rasa.calls[-1] == ("s1", "like this but in blue", {"image": sha})

    served = client.get(f"/api/uploads/{sha}")
    assert served.status_code == 200 and served.content == photo
    assert served.headers["content-type"] == "image/jpeg"

    # a later turn can point at the stored photo instead of sending it again
    resp = client.post("/api/chat", json={"sender": "s1", "text": "cheaper", "image": sha})
    assert resp.status_code == 200 and rasa.calls[-1] == ("s1", "cheaper", {"image": sha})
    resp = client.post("/api/chat", json={"sender": "s1", "text": None, "image": "0" * 64})
    assert resp.status_code == 422 and "send the photo again" in resp.json()["error"]


def test_png_is_stored_with_its_own_extension(client: TestClient, settings: GatewaySettings) -> None:
    buf = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 255, 128)).save(buf, "PNG")
    resp = client.post("/api/chat", data={"sender": "s"}, files={"image": ("photo.jpg", buf.getvalue(), "image/jpeg")})
    assert resp.status_code == 200
    assert (settings.uploads_dir / (resp.json()["upload"]["sha256"] + ".png")).is_file()


def test_multipart_without_a_chosen_file_is_a_text_turn(client: TestClient, rasa: FakeRasa) -> None:
    resp = client.post("/api/chat", data={"sender": "s", "text": "hi"}, files={"image": ("", b"", "application/octet-stream")})
    assert resp.status_code == 200, resp.text
    assert rasa.calls == [("s", "hi", None)]


@pytest.mark.parametrize("payload, needle", [
    ({"sender": "s"}, "text, a photo, or both"),
    ({"sender": "s", "text": "   ", "image": None}, "text, a photo, or both"),
    ({"text": "hi"}, "sender is required"),
    ({"sender": "", "text": "hi"}, "sender is required"),
    ({"sender": "bad sender!", "text": "hi"}, "sender is required"),
    ({"sender": "x" * 129, "text": "hi"}, "sender is required"),
    ({"sender": 42, "text": "hi"}, "sender is required"),
    ({"sender": "s", "text": "x" * 1001}, "at most 1000 characters"),
    ({"sender": "s", "text": "hi", "image": "data:image/jpeg;base64,AAAA"}, "multipart/form-data"),
])
def test_invalid_turns_are_422(client: TestClient, rasa: FakeRasa, payload: dict, needle: str) -> None:
    resp = client.post("/api/chat", json=payload)
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["error"]
    assert rasa.calls == []


def test_valid_sender_characters_and_long_text(client: TestClient, rasa: FakeRasa) -> None:
    sender = "web-1_a.b:c" + "x" * 117
    assert len(sender) == 128
    resp = client.post("/api/chat", json={"sender": sender, "text": "y" * 1000})
    assert resp.status_code == 200 and rasa.calls[-1][0] == sender


def test_other_bodies(client: TestClient, rasa: FakeRasa) -> None:
    assert client.post("/api/chat", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    assert client.post("/api/chat", json=["sender", "s"]).status_code == 422
    resp = client.post("/api/chat", content=b"hello", headers={"content-type": "text/plain"})
    assert resp.status_code == 415 and "application/json" in resp.json()["error"]
    resp = client.post("/api/chat", data={"sender": "bad sender", "text": "hi"})
    assert resp.status_code == 422 and "sender" in resp.json()["error"]
    resp = client.post("/api/chat", data={"sender": "s", "text": "hi"},
                       files={"sender": ("a.txt", b"s", "text/plain")})
    assert resp.status_code == 422
    resp = client.post("/api/chat", data={"sender": "s"},
                       files=[("image", ("a.jpg", jpeg_bytes(), "image/jpeg")), ("image", ("b.jpg", jpeg_bytes(), "image/jpeg"))])
    assert resp.status_code == 400 and resp.json()["error"].startswith("Malformed form data")
    assert rasa.calls == []


def test_too_large_upload_is_413(client: TestClient, rasa: FakeRasa, settings: GatewaySettings) -> None:
    # over the photo limit but within the request's form overhead: caught while reading the part
    photo = noisy_jpeg(MAX_UPLOAD + 1)
    assert len(photo) < MAX_UPLOAD + 64 * 1024
    resp = client.post("/api/chat", data={"sender": "s"}, files={"image": ("big.jpg", photo, "image/jpeg")})
    assert resp.status_code == 413 and "too large" in resp.json()["error"]
    # far over: refused from Content-Length before the body is read
    resp = client.post("/api/chat", data={"sender": "s"},
                       files={"image": ("huge.jpg", b"\xff" * (MAX_UPLOAD + 200_000), "image/jpeg")})
    assert resp.status_code == 413
    # a JSON turn carries no photo: a huge one is refused too
    resp = client.post("/api/chat", content=b'{"sender": "s", "text": "' + b"a" * 70_000 + b'"}',
                       headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert rasa.calls == []
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())


def test_streamed_body_without_length_is_capped(client: TestClient, rasa: FakeRasa) -> None:
    boundary = "XyZ"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"sender\"\r\n\r\ns\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()

    def chunks():
        yield head
        for _ in range(20):  # 20 x 16 KiB, more than the limit plus the form overhead
            yield b"\0" * 16384
        yield f"\r\n--{boundary}--\r\n".encode()

    resp = client.post("/api/chat", content=chunks(),
                       headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert resp.status_code == 413
    assert rasa.calls == []


@pytest.mark.parametrize("name, data, needle", [
    ("notes.jpg", b"this is a text file, not a photo\n" * 20, "not a supported image"),
    ("empty.jpg", b"", "not a supported image"),
    ("cut.jpg", jpeg_bytes((400, 300))[:1500], "damaged or incomplete"),
    ("header-only.jpg", jpeg_bytes()[:120], "damaged or incomplete"),
])
def test_not_an_image_is_415(client: TestClient, rasa: FakeRasa, settings: GatewaySettings,
                             name: str, data: bytes, needle: str) -> None:
    resp = client.post("/api/chat", data={"sender": "s", "text": "like this"},
                       files={"image": (name, data, "image/jpeg")})
    assert resp.status_code == 415, resp.text
    assert needle in resp.json()["error"]
    assert rasa.calls == []
    assert not settings.uploads_dir.exists() or not any(settings.uploads_dir.iterdir())


def test_unsupported_format_and_too_many_pixels_are_415(settings: GatewaySettings, rasa: FakeRasa,
                                                        products: dict[str, Product]) -> None:
    settings = settings.model_copy(update={"max_image_pixels": 100 * 100})
    with TestClient(create_app(settings, rasa=rasa, products=products, action_server=FakeProbe())) as c:
        buf = io.BytesIO()
        Image.new("RGB", (10, 10)).save(buf, "TIFF")
        resp = c.post("/api/chat", data={"sender": "s"}, files={"image": ("a.tif", buf.getvalue(), "image/tiff")})
        assert resp.status_code == 415 and "JPEG, PNG, WEBP, GIF or BMP" in resp.json()["error"]
        resp = c.post("/api/chat", data={"sender": "s"}, files={"image": ("a.jpg", jpeg_bytes((200, 100)), "image/jpeg")})
        assert resp.status_code == 415 and "too many pixels" in resp.json()["error"]
    assert rasa.calls == []


def test_rasa_down_is_503_and_keeps_the_photo(client: TestClient, rasa: FakeRasa,
                                              settings: GatewaySettings) -> None:
    rasa.down = True
    resp = client.post("/api/chat", json={"sender": "s", "text": "hi"})
    assert resp.status_code == 503
    assert resp.json()["messages"] == [{"text": UNAVAILABLE_TEXT}]
    assert resp.json()["error"]
    photo = jpeg_bytes()
    resp = client.post("/api/chat", data={"sender": "s"}, files={"image": ("a.jpg", photo, "image/jpeg")})
    assert resp.status_code == 503
    sha = resp.json()["upload"]["sha256"]
    assert (settings.uploads_dir / f"{sha}.jpg").is_file()
    rasa.down = False  # the retry points at the kept photo
    resp = client.post("/api/chat", json={"sender": "s", "image": sha})
    assert resp.status_code == 200 and rasa.calls[-1] == ("s", PHOTO_ONLY_MESSAGE, {"image": sha})


def _real_rasa_app(settings: GatewaySettings, products: dict[str, Product], handler) -> TestClient:
    """The app with the real RasaClient over a mock transport."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    rasa = RasaClient(http, "http://rasa.test", secret=settings.secret, timeout_s=2)
    return TestClient(create_app(settings, rasa=rasa, products=products, action_server=FakeProbe()))


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                     500, "not json", {"not": "a list"}])
def test_real_client_failures_are_503(settings: GatewaySettings, products: dict[str, Product], failure: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(failure, Exception):
            raise failure
        if isinstance(failure, int):
            return httpx.Response(failure, text="boom")
        if isinstance(failure, str):
            return httpx.Response(200, text=failure)
        return httpx.Response(200, json=failure)

    client = _real_rasa_app(settings, products, handler)
    with client:
        resp = client.post("/api/chat", json={"sender": "s", "text": "hi"})
    assert resp.status_code == 503
    assert resp.json()["messages"] == [{"text": UNAVAILABLE_TEXT}]


@pytest.mark.parametrize("secret", [SECRET, None])
def test_real_client_payload_and_signature(settings: GatewaySettings, products: dict[str, Product],
                                           secret: str | None) -> None:
    settings = settings.model_copy(update={"gateway_secret": SecretStr(secret) if secret else None})
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[{"recipient_id": "s", "text": "ok"}])

    client = _real_rasa_app(settings, products, handler)
    with client:
        photo = jpeg_bytes()
        resp = client.post("/api/chat", data={"sender": "s-1", "text": "like this"},
                           files={"image": ("a.jpg", photo, "image/jpeg")})
    assert resp.status_code == 200 and resp.json()["messages"] == [{"text": "ok"}]
    (req,) = seen
    assert str(req.url) == "http://rasa.test/webhooks/gateway/webhook"
    assert json.loads(req.content) == {"sender": "s-1", "message": "like this",
                                       "metadata": {"image": hashlib.sha256(photo).hexdigest()}}
    if secret is None:
        assert "x-shop-signature" not in req.headers
    else:
        expected = "sha256=" + hmac.new(secret.encode(), req.content, hashlib.sha256).hexdigest()
        assert req.headers["x-shop-signature"] == expected


# ------------------------------------------------------------------------------------ products
def test_product_json_and_image(client: TestClient) -> None:
    resp = client.get("/api/products/p1")
    assert resp.status_code == 200
    assert resp.json() == {"id": "p1", "title": "Red Summer Dress", "brand": "Acme", "gender": "Women",
                           "article_type": "Dresses", "color": "Red", "usage": "Casual", "price": 39.9,
                           "image_url": "/api/products/p1/image"}
    img = client.get("/api/products/p1/image")
    assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(img.content)).size == (64, 48)
    assert client.get("/api/products/p3/image").status_code == 200  # relative to the catalog folder
    assert client.get("/api/products/p2").json()["image_url"] is None
    assert client.get("/api/products/p2/image").status_code == 404


@pytest.mark.parametrize("path", [
    "/api/products/nope", "/api/products/nope/image",
    "/api/products/p4/image", "/api/products/p5/image",  # product photo paths outside the catalog
    "/api/products/..%2F..%2Fetc%2Fpasswd/image", "/api/products/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd/image",
    "/api/products/../../etc/passwd/image",
    "/api/uploads/..%2Fx", "/api/uploads/../x", "/api/uploads/" + "A" * 64, "/api/uploads/" + "0" * 64,
    "/api/uploads/" + "0" * 63 + "*", "/api/uploads/" + "0" * 64 + ".jpg",
])
def test_unknown_or_escaping_paths_are_404(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404, (path, resp.status_code, resp.text[:200])
    assert resp.json()["error"] and b"root:" not in resp.content


def test_wrong_method_has_the_error_shape(client: TestClient) -> None:
    resp = client.get("/api/chat")
    assert resp.status_code == 405 and resp.json() == {"error": "Method Not Allowed"}


def test_products_from_the_index_folder(tmp_path: Path, settings: GatewaySettings, products: dict[str, Product]) -> None:
    index = tmp_path / "index"
    index.mkdir()
    lines = [{"iid": 0, "hash": "h0", "product": products["p1"].to_dict()},
             {"iid": 1, "removed": True},
             {"iid": 2, "hash": "h2", "product": products["p2"].to_dict()}]
    (index / "products.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert read_products(index) == {"p1": products["p1"], "p2": products["p2"]}

    store = ProductStore(index_dir=index)
    assert len(store) == 2 and store.get("p2") == products["p2"]
    lines.append({"iid": 3, "hash": "h3", "product": products["p3"].to_dict()})
    (index / "products.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert store.get("p3") == products["p3"]  # a rebuilt index is picked up

    with TestClient(create_app(settings, rasa=FakeRasa(), action_server=FakeProbe())) as c:
        assert c.get("/api/products/p1").json()["title"] == "Red Summer Dress"
        assert c.get("/health").json()["index"] == {"products": 3, "path": str(index)}

    missing = ProductStore(index_dir=tmp_path / "no-index")
    assert len(missing) == 0 and "no index" in (missing.error or "")


# -------------------------------------------------------------------------------------- health
def test_health_all_up(client: TestClient) -> None:
    resp = client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert body["rasa"]["status"] == "up" and body["action_server"] == {"status": "up"}
    assert body["index"]["products"] == 5
    assert client.get("/health/live").json() == {"status": "ok"}


def test_health_degraded(settings: GatewaySettings, products: dict[str, Product]) -> None:
    with TestClient(create_app(settings, rasa=FakeRasa(down=True), products=products,
                               action_server=FakeProbe(up=False))) as c:
        resp = c.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "degraded"
    assert body["rasa"]["status"] == "down" and body["action_server"]["status"] == "down"
    assert "refused" in body["action_server"]["error"]


def test_health_with_real_clients(settings: GatewaySettings, products: dict[str, Product]) -> None:
    def up(request: httpx.Request) -> httpx.Response:
        if request.url.host == "rasa.test" and request.url.path == "/":
            return httpx.Response(200, text="Hello from Rasa: 3.6.21")
        if request.url.host == "actions.test" and request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        return httpx.Response(404)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out")

    for handler, expected in ((up, "ok"), (down, "degraded")):
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        app = create_app(settings, products=products, rasa=RasaClient(http, "http://rasa.test"),
                         action_server=ActionServerClient(http, "http://actions.test"))
        with TestClient(app) as c:
            body = c.get("/health").json()
        assert body["status"] == expected, body
        if expected == "ok":
            assert body["rasa"] == {"status": "up", "url": "http://rasa.test/", "version": "3.6.21"}
            assert body["action_server"] == {"status": "up", "url": "http://actions.test/health"}
        else:
            assert "no answer within 1 s" in body["rasa"]["error"]


def test_health_with_nothing_running(settings: GatewaySettings, products: dict[str, Product]) -> None:
    """The lifespan's own clients, pointed at closed local ports: degraded, quickly, never 500."""
    settings = settings.model_copy(update={"rasa_url": "http://127.0.0.1:9", "action_server_url": "http://127.0.0.1:9"})
    with TestClient(create_app(settings, products=products)) as c:
        body = c.get("/health").json()
        assert body["status"] == "degraded" and body["rasa"]["status"] == "down"
        resp = c.post("/api/chat", json={"sender": "s", "text": "hi"})
        assert resp.status_code == 503 and resp.json()["messages"] == [{"text": UNAVAILABLE_TEXT}]


# ---------------------------------------------------------------------------------- page, CORS
def test_chat_page_is_served(client: TestClient) -> None:
    for path in ("/", "/demo"):
        page = client.get(path)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'src="/static/widget.js"' in page.text
    js = client.get("/static/widget.js")
    assert js.status_code == 200 and "api/chat" in js.text and "localStorage" in js.text
    assert client.get("/static/widget.css").status_code == 200

def test_cors_off_by_default_and_on_from_settings(client: TestClient, settings: GatewaySettings,
                                                  products: dict[str, Product]) -> None:
    origin = {"Origin": "https://shop.example"}
    assert "access-control-allow-origin" not in client.get("/health/live", headers=origin).headers
    settings = settings.model_copy(update={"cors_origins": ["https://shop.example"]})
    with TestClient(create_app(settings, rasa=FakeRasa(), products=products, action_server=FakeProbe())) as c:
        resp = c.get("/health/live", headers=origin)
    assert resp.headers["access-control-allow-origin"] == "https://shop.example"


def test_logs_carry_no_photo_bytes(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    photo = jpeg_bytes()
    with caplog.at_level("DEBUG"):
        client.post("/api/chat", data={"sender": "s", "text": "secret words"},
                    files={"image": ("a.jpg", photo, "image/jpeg")})
    text = caplog.text
    assert "POST /api/chat 200" in text
    assert "secret words" not in text and repr(photo[:16]) not in text and "\\xff\\xd8" not in text
