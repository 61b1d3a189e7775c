"""The chat widget (bot/gateway/static/widget.js) in a real browser: headless Debian Chromium driven
by selenium, against the gateway served by uvicorn on a free port with a scripted fake Rasa and a
tiny catalog with real image files; plus one run against the real stack (Rasa, action server,
gateway). A screenshot per test goes to var/artifacts/browser/.

    .venv/bin/python -m pytest tests/test_widget_browser.py            # ~30 s, plus the real stack
    .venv/bin/python -m pytest tests/test_widget_browser.py -k "not real_stack"
"""
from __future__ import annotations

import asyncio
import hashlib
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from bot.serve import free_port
from tests.conftest import REAL_CATALOG, ROOT
from tests.fixtures import DEFAULT_ROWS, make_catalog, write_image

CHROMIUM = Path(os.environ.get("SHOP_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("SHOP_TEST_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = ROOT / "var" / "artifacts" / "browser"
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements/ml.txt)")
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = [
    pytest.mark.e2e, pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
                       reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (Debian packages chromium, chromium-driver)"),
]

SHOES = ["1016", "1015", "1013"]  # casual shoes and sports shoes of tests/fixtures.py DEFAULT_ROWS
UNAVAILABLE = "Sorry, I can't reach the assistant right now."



# ------------------------------------------------------------------------------ fake assistant
class ScriptedRasa:
    """Stands in for Rasa: records every turn and answers by what was said."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict | None]] = []
        self.down = False

    async def send(self, sender: str, text: str, metadata: dict | None = None) -> list[dict]:
        from bot.gateway.services import RasaUnavailable

        self.calls.append((sender, text, metadata))
        if self.down:
            raise RasaUnavailable("connection refused")
        await asyncio.sleep(0.3)  # long enough for the typing indicator to show
        words = text.lower()
        if "compare" in words:
            return [{"text": " | #1 | #2\nPrice | $65 | $79.99\n#1 is the cheaper one by $14.99.", "custom": {
                "comparison": {"columns": ["#1", "#2"], "ids": ["1016", "1015"], "rows": [
                    {"label": "Price", "values": ["$65", "$79.99"]},
                    {"label": "Brand", "values": ["Converse", "Puma"]}]}}}]
        if "shoes" in words or "like this" in words or (metadata or {}).get("image") or "more like" in words:
            return [
                {"text": "Here are some shoes you might like:"},
                {"custom": {"products": [
                    {"id": pid, "title": p["title"], "brand": p["brand"], "price": p["price"], "color": p["color"],
                     "article_type": p["article_type"], "gender": p["gender"], "usage": p["usage"],
                     "reason": f"{p['color'].lower()} {p['article_type'].lower()}, {p['usage'].lower()}",
                     "has_image": True}
                    for pid in SHOES for p in DEFAULT_ROWS if p["id"] == pid]}},
                {"text": "Want to narrow it down?", "buttons": [
                    {"title": "Under $70", "payload": "under 70 dollars"},
                    {"title": "Only Puma", "payload": "/refine_brand{\"brand\": \"Puma\"}"}]},
            ]
        return [{"text": "Who is it for?", "buttons": [{"title": "Men", "payload": "for men"},
                                                       {"title": "Women", "payload": "for women"}]},
                {"custom": {"question": {"field": "gender"}}}]

    async def status(self) -> dict[str, Any]:
        return {"status": "up", "version": "fake"}


class FakeProbe:
    async def status(self) -> dict[str, Any]:
        return {"status": "up"}


class BodyRecorder:
    """ASGI wrapper keeping the raw bodies of POST /api/chat (to look at the multipart parts)."""

    def __init__(self, app) -> None:
        self.app, self.bodies = app, []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/api/chat":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording_receive():
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        try:
            await self.app(scope, recording_receive, send)
        finally:
            self.bodies.append(b"".join(chunks))


class Server:
    """uvicorn in a thread."""

    def __init__(self, app, port: int) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """The gateway on a free port, with a scripted fake Rasa, and a pretend shop on another port
    (another origin) whose page embeds the widget from the gateway."""
    from bot.gateway import GatewaySettings, create_app
    from retrieval.catalog import Product
    from retrieval.settings import Settings

    tmp = tmp_path_factory.mktemp("widget")
    catalog = make_catalog(tmp, DEFAULT_ROWS, image_size=(120, 150))
    products = {r["id"]: Product(id=r["id"], title=r["title"], brand=r["brand"], gender=r["gender"],
                                 article_type=r["article_type"], color=r["color"], usage=r["usage"],
                                 price=r["price"], image=r["image"]) for r in DEFAULT_ROWS}
    port, shop_port = free_port(), free_port()
    shop_origin = f"http://127.0.0.1:{shop_port}"
    settings = GatewaySettings(uploads_dir=tmp / "uploads", gateway_secret=None, cors_origins=[shop_origin],
                               retrieval=Settings(catalog_dir=catalog, index_dir=tmp / "index"))
    rasa = ScriptedRasa()
    app = BodyRecorder(create_app(settings, rasa=rasa, products=products, action_server=FakeProbe()))
    url = f"http://127.0.0.1:{port}"

    shop_dir = tmp / "shop"
    shop_dir.mkdir()
    (shop_dir / "index.html").write_text(
        "<!doctype html><html><head><meta name=viewport content='width=device-width, initial-scale=1'>"
        "<title>Another shop</title></head><body><h1>Another shop</h1>"
        f"<script src='{url}/static/widget.js' data-title='Ask us' data-accent='#0a7d5a' defer></script>"
        "</body></html>")
    handler = lambda *a, **kw: _QuietHandler(*a, directory=str(shop_dir), **kw)  # noqa: E731
    shop = http.server.ThreadingHTTPServer(("127.0.0.1", shop_port), handler)
    shop_thread = threading.Thread(target=shop.serve_forever, daemon=True)
    shop_thread.start()
    with Server(app, port):
        yield {"url": url, "shop_url": shop_origin + "/index.html", "rasa": rasa, "bodies": app.bodies, "tmp": tmp}
    shop.shutdown()
    shop.server_close()


# ------------------------------------------------------------------------------------ browser
def make_driver():
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--lang=en-US", "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    service = webdriver.ChromeService(executable_path=str(CHROMEDRIVER))
    try:
        return webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        pytest.skip(f"Chromium could not be started: {exc.msg}")


@pytest.fixture(scope="module")
def browser():
    driver = make_driver()
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def page(browser, gateway, request):
    """A widget page helper; a screenshot of the test's last state goes to var/artifacts/browser/."""
    p = WidgetPage(browser, gateway)
    yield p
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        browser.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
    finally:
        try:
            browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        except WebDriverException:
            pass
        if browser.current_url.startswith("http"):
            browser.execute_script("localStorage.clear(); sessionStorage.clear();")


class WidgetPage:
    def __init__(self, driver, gateway: dict) -> None:
        self.driver, self.gateway = driver, gateway

    def load(self, path: str = "/demo", *, fresh: bool = True, url: str | None = None) -> "WidgetPage":
        self.driver.get(url or self.gateway["url"] + path)
        if fresh:
            self.driver.execute_script("localStorage.clear(); sessionStorage.clear();")
            self.driver.refresh()
        self.wait(lambda d: self.driver.execute_script(
            "const h = document.getElementById('shop-assistant-widget');"
            "return !!h && h.shadowRoot && h.style.visibility === 'visible';"), "the widget did not load")
        return self

    def wait(self, condition: Callable, message: str, timeout: float = 10):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(condition, message)
        except TimeoutException:
            logs = self.driver.get_log("browser") if hasattr(self.driver, "get_log") else []
            raise AssertionError(f"{message}; browser console: {logs}") from None

    @property
    def shadow(self):
        return self.driver.find_element(By.ID, "shop-assistant-widget").shadow_root

    def q(self, css: str):
        return self.shadow.find_element(By.CSS_SELECTOR, css)

    def qa(self, css: str) -> list:
        return self.shadow.find_elements(By.CSS_SELECTOR, css)

    def js(self, code: str, *args):
        return self.driver.execute_script(
            "const root = document.getElementById('shop-assistant-widget').shadowRoot;" + code, *args)

    def open(self) -> None:
        if not self.q(".sa-panel").is_displayed():
            self.q(".sa-launcher").click()
        self.wait(lambda d: self.q(".sa-panel").is_displayed(), "the panel did not open")

    def say(self, text: str) -> None:
        box = self.q(".sa-text")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)

    def bot_messages(self) -> list:
        return self.qa(".sa-log > .sa-bot")

    def wait_for_cards(self, at_least: int = 1, timeout: float = 15) -> list:
        """Wait for the answer and its product cards; the cards of the last message that has some."""
        self.wait(lambda d: len(self.last_cards()) >= at_least and self.q(".sa-typing").get_attribute("hidden"),
                  f"no {at_least} product cards", timeout)
        return self.last_cards()

    def last_cards(self) -> list:
        items = [m for m in self.bot_messages() if m.find_elements(By.CSS_SELECTOR, ".sa-card")]
        return items[-1].find_elements(By.CSS_SELECTOR, ".sa-card") if items else []

    def idle(self) -> None:
        self.wait(lambda d: self.q(".sa-typing").get_attribute("hidden") is not None, "still waiting for an answer")

    def sender(self) -> str:
        return self.driver.execute_script("return localStorage.getItem('shop-assistant:sender');")

    def active(self) -> str:
        """What has the focus: 'page:<tag>' or 'widget:<class>'."""
        return self.driver.execute_script(
            "const h = document.getElementById('shop-assistant-widget');"
            "if (document.activeElement !== h) return 'page:' + document.activeElement.tagName.toLowerCase();"
            "const a = h.shadowRoot.activeElement; return a ? 'widget:' + a.className : 'widget:';")


#: makes a small PNG in the page and drops it onto the panel or pastes it into the text box
DROP_OR_PASTE = """
const [name, kind, done] = arguments;
const canvas = document.createElement('canvas');
canvas.width = canvas.height = 8;
canvas.toBlob(blob => {
  const dt = new DataTransfer();
  dt.items.add(new File([blob], name, {type: 'image/png'}));
  const root = document.getElementById('shop-assistant-widget').shadowRoot;
  const init = {bubbles: true, cancelable: true, composed: true};
  if (kind === 'drop') root.querySelector('.sa-panel').dispatchEvent(new DragEvent('drop', {...init, dataTransfer: dt}));
  else root.querySelector('.sa-text').dispatchEvent(new ClipboardEvent('paste', {...init, clipboardData: dt}));
  done();
}, 'image/png');
"""


def jpeg(path: Path, color: str = "Blue") -> Path:
    return write_image(path, color, (200, 240))


def image_loaded(page: WidgetPage, img) -> bool:
    return bool(page.driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0;", img))


# --------------------------------------------------------------------------------------- tests
def test_search_shows_product_cards(page: WidgetPage) -> None:
    rasa = page.gateway["rasa"]
    page.load("/demo")
    # the shop's heavy-handed button styles stay outside the shadow root
    launcher = page.q(".sa-launcher")
    assert launcher.value_of_css_property("text-transform") == "none"
    assert launcher.get_attribute("aria-expanded") == "false"
    page.open()
    assert page.q(".sa-panel").get_attribute("role") == "dialog"
    log = page.q(".sa-log")
    assert log.get_attribute("role") == "log" and log.get_attribute("aria-live") == "polite"
    assert page.active() == "widget:sa-text"

    before = len(rasa.calls)
    box = page.q(".sa-text")
    box.send_keys("first line")
    box.send_keys(Keys.SHIFT, Keys.ENTER)
    box.send_keys("second line")
    assert box.get_property("value") == "first line\nsecond line"  # Shift+Enter: a newline, nothing sent
    time.sleep(0.3)
    assert len(rasa.calls) == before
    box.clear()

    page.say("black casual shoes for men")
    page.wait(lambda d: page.q(".sa-typing").is_displayed(), "no typing indicator")
    cards = page.wait_for_cards(3)
    assert len(cards) == 3
    assert rasa.calls[before][1:] == ("black casual shoes for men", None)
    assert rasa.calls[before][0] == page.sender() and page.sender().startswith("web-")
    assert box.get_property("value") == ""
    titles = {r["id"]: r for r in DEFAULT_ROWS}
    for n, (card, pid) in enumerate(zip(cards, SHOES), start=1):
        img = card.find_element(By.CSS_SELECTOR, "img")
        assert img.get_attribute("src") == f"{page.gateway['url']}/api/products/{pid}/image"
        assert img.get_attribute("loading") == "lazy" and img.get_attribute("alt") == titles[pid]["title"]
        assert card.find_element(By.CSS_SELECTOR, ".sa-card-title").text == titles[pid]["title"]
        assert card.find_element(By.CSS_SELECTOR, ".sa-card-brand").text == titles[pid]["brand"]
        assert card.find_element(By.CSS_SELECTOR, ".sa-card-price").text.startswith("$")
        assert card.find_element(By.CSS_SELECTOR, ".sa-card-why").text
        assert card.get_attribute("aria-label").startswith(f"Product {n} of 3")
    page.wait(lambda d: image_loaded(page, cards[0].find_element(By.CSS_SELECTOR, "img")), "the first photo did not load")
    assert page.q(".sa-cards").value_of_css_property("scroll-snap-type").startswith("x")

    # "More like this" on the second card sends "more like number 2"
    cards[1].find_element(By.CSS_SELECTOR, ".sa-more").click()
    page.wait(lambda d: rasa.calls[-1][1] == "more like number 2", "More like this was not sent")
    page.idle()
    assert "More like" in page.qa(".sa-log > .sa-user")[-1].text


def test_photo_upload_with_words(page: WidgetPage) -> None:
    rasa = page.gateway["rasa"]
    photo = jpeg(page.gateway["tmp"] / "shopper-photo.jpg", "Blue")
    page.load("/demo")
    page.open()
    file_input = page.q("input[type=file]")
    assert not file_input.is_displayed()  # hidden; the camera button opens it
    file_input.send_keys(str(photo))
    page.wait(lambda d: page.q(".sa-preview").is_displayed(), "no preview")
    assert page.q(".sa-preview img").get_attribute("src").startswith("blob:")
    page.q(".sa-preview-remove").click()  # the (x) removes it again
    page.wait(lambda d: not page.q(".sa-preview").is_displayed(), "the preview was not removed")
    file_input.send_keys(str(photo))
    page.wait(lambda d: page.q(".sa-preview").is_displayed(), "no preview")
    page.wait(lambda d: image_loaded(page, page.q(".sa-preview img")), "the preview did not render")
    page.driver.save_screenshot(str(_artifact("test_photo_upload_with_words-preview.png")))

    before = len(rasa.calls)
    page.say("like this but in blue")
    assert len(page.wait_for_cards(3)) == 3
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert rasa.calls[before][1:] == ("like this but in blue", {"image": sha})
    assert not page.q(".sa-preview").is_displayed()
    sent = page.qa(".sa-log > .sa-user")[-1]
    assert "like this but in blue" in sent.text
    assert image_loaded(page, sent.find_element(By.CSS_SELECTOR, "img.sa-sent-photo"))
    # the history keeps the photo's gateway URL, never its bytes
    stored = page.driver.execute_script("return localStorage.getItem('shop-assistant:history');")
    assert f"/api/uploads/{sha}" in stored and "blob:" not in stored and "base64" not in stored

    # a photo dropped onto the panel, or pasted from the clipboard, lands in the preview too
    for name, kind in (("dropped.png", "drop"), ("pasted.png", "paste")):
        page.js("root.querySelector('.sa-preview-remove').click();")
        page.driver.execute_async_script(DROP_OR_PASTE, name, kind)
        page.wait(lambda d: page.q(".sa-preview").is_displayed() and page.q(".sa-preview-name").text == name,
                  f"no preview of {name}")
    page.q(".sa-preview-remove").click()


def test_quick_reply_chip_sends_its_payload(page: WidgetPage) -> None:
    rasa = page.gateway["rasa"]
    page.load("/demo")
    page.open()
    page.say("something nice")
    page.wait(lambda d: len(page.qa(".sa-chip")) == 2, "no quick replies")
    page.idle()
    chips = page.qa(".sa-chip")
    assert [c.text for c in chips] == ["Men", "Women"]
    before = len(rasa.calls)
    chips[1].click()
    page.wait(lambda d: len(rasa.calls) > before, "the chip sent nothing")
    assert rasa.calls[before][1] == "for women"  # the payload, not the title
    page.idle()
    assert all(not c.is_enabled() for c in page.qa(".sa-log > li")[1].find_elements(By.CSS_SELECTOR, ".sa-chip"))
    assert page.qa(".sa-log > .sa-user")[-1].text.endswith("Women")

    # a comparison comes as a small table (the "a | b" text lines are not repeated)
    page.say("compare 1 and 2")
    page.wait(lambda d: page.qa("table.sa-compare"), "no comparison table")
    table = page.q("table.sa-compare")
    assert [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")] == ["", "#1", "#2"]
    assert "Converse" in table.text and " | " not in page.bot_messages()[-1].text
    assert "cheaper one" in page.bot_messages()[-1].text


def test_history_and_sender_survive_a_reload(page: WidgetPage) -> None:
    rasa = page.gateway["rasa"]
    page.load("/demo")
    page.open()
    page.say("casual shoes")
    page.wait_for_cards(3)
    page.idle()
    sender = page.sender()
    count = len(page.qa(".sa-log > li"))
    assert count == 3  # the shopper, the cards, the quick replies
    page.qa(".sa-chip")[0].click()  # a used chip stays used after the reload
    page.wait(lambda d: len(page.qa(".sa-log > li")) > count, "the chip was not sent")
    page.idle()
    count = len(page.qa(".sa-log > li"))

    page.load(fresh=False, url=page.driver.current_url)  # a reload
    page.wait(lambda d: page.q(".sa-panel").is_displayed(), "the panel did not stay open")
    assert page.sender() == sender
    assert len(page.qa(".sa-log > li")) == count
    assert len(page.last_cards()) == 3
    assert page.qa(".sa-log > li .sa-chip")[0].get_attribute("disabled") is not None
    page.say("more casual shoes")
    page.wait(lambda d: rasa.calls[-1][1] == "more casual shoes", "nothing sent after the reload")
    assert rasa.calls[-1][0] == sender
    page.idle()


def test_phone_width_panel_fills_the_screen(page: WidgetPage) -> None:
    page.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True})
    page.load("/demo")
    assert page.driver.execute_script("return window.innerWidth") == 360
    launcher = page.q(".sa-launcher").rect
    assert launcher["x"] + launcher["width"] <= 360 and launcher["y"] + launcher["height"] <= 740
    page.open()
    page.say("black casual shoes for men")
    page.wait_for_cards(3)
    page.idle()
    rect = page.q(".sa-panel").rect
    assert (round(rect["x"]), round(rect["y"]), round(rect["width"]), round(rect["height"])) == (0, 0, 360, 740)
    for css in (".sa-text", ".sa-send", ".sa-close", ".sa-photo"):
        r = page.q(css).rect
        assert r["x"] >= 0 and r["x"] + r["width"] <= 360 and r["y"] >= 0 and r["y"] + r["height"] <= 740, css
    # the page itself does not scroll sideways because of the widget
    assert page.driver.execute_script("return document.documentElement.scrollWidth") <= 360


def test_keyboard_only(page: WidgetPage) -> None:
    page.load("/demo")
    body = page.driver.find_element(By.TAG_NAME, "body")
    body.click()
    actions = ActionChains(page.driver)
    for _ in range(20):  # past the shop's own links and buttons to the launcher
        actions.send_keys(Keys.TAB).perform()
        if page.active() == "widget:sa-launcher":
            break
    else:
        pytest.fail("Tab never reached the launcher")
    outline = page.q(".sa-launcher").value_of_css_property("outline-style")
    assert outline != "none"  # visible focus
    actions.send_keys(Keys.ENTER).perform()
    page.wait(lambda d: page.q(".sa-panel").is_displayed(), "Enter did not open the panel")
    assert page.q(".sa-launcher").get_attribute("aria-expanded") == "true"
    assert page.active() == "widget:sa-text"

    page.q(".sa-text").send_keys("a")  # so that Send is enabled
    seen = []
    for _ in range(2):  # every control of the panel is reachable with Tab (and Shift+Tab)
        actions.send_keys(Keys.TAB).perform()
        seen.append(page.active())
    page.q(".sa-text").click()
    for _ in range(5):
        ActionChains(page.driver).key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        seen.append(page.active())
    for control in ("sa-mic", "sa-send", "sa-reset", "sa-close", "sa-photo", "sa-launcher"):
        assert any(control in s for s in seen), (control, seen)
    for css in (".sa-photo", ".sa-mic", ".sa-send", ".sa-reset", ".sa-close", ".sa-launcher"):
        assert page.q(css).get_attribute("aria-label"), css

    page.q(".sa-text").click()
    actions.send_keys(Keys.ESCAPE).perform()
    page.wait(lambda d: not page.q(".sa-panel").is_displayed(), "Escape did not close the panel")
    assert page.active() == "widget:sa-launcher"
    assert page.q(".sa-launcher").get_attribute("aria-expanded") == "false"


def test_errors_keep_the_text(page: WidgetPage) -> None:
    rasa = page.gateway["rasa"]
    page.load("/demo")
    page.open()
    rasa.down = True
    try:
        page.say("red dress under 50")
        page.wait(lambda d: page.qa(".sa-log > .sa-error"), "no error message")
    finally:
        rasa.down = False
    assert UNAVAILABLE in page.qa(".sa-log > .sa-error")[-1].text
    assert page.q(".sa-text").get_property("value") == "red dress under 50"  # nothing is lost
    assert "Not sent" in page.qa(".sa-log > .sa-user")[-1].text

    # a file that is not a photo: the gateway's 415 message is shown
    fake = page.gateway["tmp"] / "not-a-photo.jpg"
    fake.write_bytes(b"this is not a jpeg")
    page.q(".sa-text").clear()
    page.q("input[type=file]").send_keys(str(fake))
    page.wait(lambda d: page.q(".sa-preview").is_displayed(), "no preview")
    page.q(".sa-send").click()
    page.wait(lambda d: len(page.qa(".sa-log > .sa-error")) == 2, "no 415 message")
    assert "not a supported image" in page.qa(".sa-log > .sa-error")[-1].text
    assert page.q(".sa-preview").is_displayed()  # the photo is back in the composer


def test_push_to_talk_sends_audio(page: WidgetPage) -> None:
    bodies = page.gateway["bodies"]
    page.load("/demo")
    page.open()
    mic = page.q(".sa-mic")
    assert mic.is_displayed() and mic.get_attribute("aria-label") == "Hold to talk"
    # the first press asks for the microphone (granted by --use-fake-ui-for-media-stream); hold it
    before = len(bodies)
    page.js("root.querySelector('.sa-mic').focus();")
    actions = ActionChains(page.driver)
    actions.key_down(Keys.SPACE).perform()
    page.wait(lambda d: page.q(".sa-recording").is_displayed(), "no recording indicator")
    assert mic.get_attribute("aria-pressed") == "true"
    time.sleep(1.2)
    page.driver.save_screenshot(str(_artifact("test_push_to_talk_sends_audio-recording.png")))
    ActionChains(page.driver).key_up(Keys.SPACE).perform()
    page.wait(lambda d: len(bodies) > before, "no audio was sent", timeout=10)
    body = bodies[-1]
    assert b'name="audio"; filename="voice.webm"' in body and b"Content-Type: audio/webm" in body
    assert len(body) > 1000
    page.idle()
    assert "Voice message" in page.qa(".sa-log > .sa-user")[-1].text
    assert page.bot_messages()  # whatever the gateway answered is shown
    page.driver.save_screenshot(str(_artifact("test_push_to_talk_sends_audio-sent.png")))

    # permission denied: a polite message, no recording
    page.driver.execute_script("navigator.mediaDevices.getUserMedia = () => "
                               "Promise.reject(new DOMException('denied', 'NotAllowedError'));")
    page.js("root.querySelector('.sa-mic').focus();")
    ActionChains(page.driver).key_down(Keys.SPACE).key_up(Keys.SPACE).perform()
    page.wait(lambda d: "access was denied" in page.bot_messages()[-1].text, "no message about the microphone")
    assert not page.q(".sa-recording").is_displayed()

    # no MediaRecorder: no microphone button
    added = page.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                        {"source": "window.MediaRecorder = undefined;"})
    try:
        page.load("/demo")
        page.open()
        assert not page.q(".sa-mic").is_displayed()
    finally:
        page.driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": added["identifier"]})


def test_chat_page_is_the_widget_open(page: WidgetPage) -> None:
    """``/``: a plain page with the widget, opened at load (data-open) without taking the focus."""
    page.load("/")
    page.wait(lambda d: page.q(".sa-panel").is_displayed(), "the widget is not open on the chat page")
    assert page.active() == "page:body"
    assert page.q(".sa-empty").is_displayed()


def test_embedded_on_another_origin(page: WidgetPage) -> None:
    """The one script tag on a page of another origin: the gateway URL comes from the script's src,
    the chat goes cross-origin (allowed by SHOP_CORS_ORIGINS), data-title and data-accent apply."""
    rasa = page.gateway["rasa"]
    page.load(url=page.gateway["shop_url"])
    assert page.q(".sa-title").get_attribute("textContent") == "Ask us"
    assert page.q(".sa-launcher").value_of_css_property("background-color") == "rgba(10, 125, 90, 1)"
    page.open()
    before = len(rasa.calls)
    page.say("casual shoes")
    cards = page.wait_for_cards(3)
    assert rasa.calls[before][1] == "casual shoes"
    img = cards[0].find_element(By.CSS_SELECTOR, "img")
    assert img.get_attribute("src").startswith(page.gateway["url"] + "/api/products/")
    page.wait(lambda d: image_loaded(page, img), "the photo did not load cross-origin")


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


# --------------------------------------------------------------------------------- real stack
@pytest.mark.skipif(not RASA_PY.exists(), reason=".venv-rasa missing: run `make setup`")
@pytest.mark.skipif(not REAL_CATALOG.exists(), reason="shared catalog not present")
def test_real_stack_search(browser, tmp_path, request) -> None:
    from bot.serve import Stack

    r = subprocess.run([sys.executable, "-m", "bot", "prepare"], cwd=ROOT, capture_output=True, text=True,
                       timeout=3600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    stack = Stack.isolated(tmp_path)
    stack.start(timeout=600)
    try:
        page = WidgetPage(browser, {"url": stack.url.rstrip("/")})
        page.load("/demo")
        page.open()
        page.say("black casual shoes for men")
        page.wait(lambda d: len(page.last_cards()) >= 3 and page.q(".sa-typing").get_attribute("hidden") is not None,
                  "fewer than 3 product cards from the real assistant", timeout=120)
        cards = page.last_cards()
        for card in cards[:3]:
            img = card.find_element(By.CSS_SELECTOR, "img")
            assert "/api/products/" in img.get_attribute("src")
            assert card.find_element(By.CSS_SELECTOR, ".sa-card-title").text
        page.wait(lambda d: image_loaded(page, cards[0].find_element(By.CSS_SELECTOR, "img")),
                  "the first product photo did not load")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
        browser.execute_script("localStorage.clear(); sessionStorage.clear();")
    finally:
        stack.stop()
