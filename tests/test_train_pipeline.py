"""The training pipeline end to end on the tiny catalog with fake encoders (quick mode)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.search import MultimodalModels, SearchEngine
from retrieval.train import held_out, train_all
from tests.fakes import FakeImageEncoder
from tests.fixtures import write_image


def test_train_all_writes_models_and_search_uses_them(tiny_settings, tiny_index, encoders, tmp_path):
    metrics = train_all(tiny_settings, progress=False, image_encoder=encoders[1], text_encoder=encoders[0], quick=True)
    folder = tiny_settings.resolved_index_dir() / "models"
    for name in ("metrics.json", "joint_head.json", "joint_head.safetensors", "attributes.json",
                 "attributes.safetensors", "fusion.json", "fusion.safetensors", "colour_namer.json", "joint_curve.png"):
        assert (folder / name).exists(), name
    assert (tiny_settings.resolved_index_dir() / "lowres.npz").exists()
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved["index_checksum"] == tiny_index.manifest["catalog"]["checksum"]
    assert set(metrics["seconds"]) >= {"lowres_features", "joint", "attributes", "colour", "fusion", "total"}

    models = MultimodalModels.load(folder)
    engine = SearchEngine(tiny_index, encoders[0], encoders[1], models=models, fusion="attention")
    photo = write_image(tmp_path / "q.jpg", "Pink", size=(60, 80))
    for strategy in ("feature", "model", "decision", "attention"):
        res = engine.search("handbags", image=str(photo), k=3, fusion=strategy)
        assert res.hits and all(h.product.article_type == "Handbags" for h in res.hits)
        assert res.photo is not None and "article_type" in res.photo["top"]
        w = res.hits[0].why["weights"]
        assert set(w) == {"text", "photo"} and abs(sum(w.values()) - 1) < 1e-5
    res = engine.search(image=str(photo), k=3)
    assert "photo_attributes" in res.hits[0].why
    reason = res.hits[0].reason  # "pink handbags like your photo (..% similar)": no "a" before plural types
    assert "like your photo" in reason and " a " not in f" {reason.split('like your photo')[0]}", reason


def test_split_is_stable():
    ids = [str(i) for i in range(2000)]
    share = np.mean([held_out(i) for i in ids])
    assert 0.07 < share < 0.13
    assert [held_out(i) for i in ids[:50]] == [held_out(i) for i in ids[:50]]


def test_photo_gallery_votes_like_a_brute_force_count(tiny_settings, tiny_index, encoders):
    from retrieval.search import GALLERY_FIELDS, PhotoGallery

    train_all(tiny_settings, progress=False, image_encoder=encoders[1], text_encoder=encoders[0], quick=True)
    gallery = PhotoGallery.from_index(tiny_index)
    low = np.load(tiny_index.path / "lowres.npz")
    assert gallery is not None and len(gallery.vectors) == len(low["ids"])
    for f in GALLERY_FIELDS:
        assert list(gallery.labels[f]) == [getattr(tiny_index.products[i], f) for i in low["ids"]]
    classes = sorted(set(gallery.labels["article_type"]))
    q = low["vectors"][0]
    k, temperature = 5, 0.05
    got = gallery.votes(q, "article_type", classes, k=k, temperature=temperature)
    sims = low["vectors"] @ q
    near = np.argsort(-sims)[:k]
    want = np.zeros(len(classes))
    for j in near:  # brute force: every neighbour adds exp(similarity / temperature) to its type
        want[classes.index(tiny_index.products[low["ids"][j]].article_type)] += np.exp(sims[j] / temperature)
    assert np.allclose(got, want / want.sum(), atol=1e-5) and abs(got.sum() - 1) < 1e-6
    assert classes[int(got.argmax())] == tiny_index.products[low["ids"][0]].article_type
    # a class nobody near has gets nothing; a removed product's copy no longer votes
    assert gallery.votes(q, "article_type", ["No Such Type"]).tolist() == [0.0]
    tiny_index.alive[low["ids"][0]] = False
    assert len(PhotoGallery.from_index(tiny_index).vectors) == len(low["ids"]) - 1
    alive = tiny_index.alive.copy()
    tiny_index.alive[:] = False  # nothing left to vote: no gallery rather than an empty one
    assert PhotoGallery.from_index(tiny_index) is None
    tiny_index.alive[:] = alive

    # the search engine loads it with the models, and the photo's attributes hear its vote
    models = MultimodalModels.load(tiny_settings.resolved_index_dir() / "models", tiny_index)
    assert models.gallery is not None
    voted = models.photo_attributes(q)["proba"]
    with_vote = voted["article_type"]
    models.gallery = None
    plain = models.photo_attributes(q)["proba"]
    without = plain["article_type"]
    assert np.allclose(voted["color"][1], plain["color"][1])  # colour is the heads' (held-out: votes hurt it)
    assert with_vote[0] == without[0] and not np.allclose(with_vote[1], without[1])
    assert abs(float(with_vote[1].sum()) - 1) < 1e-5


def test_a_photo_is_encoded_with_its_middle_and_their_mirror_images(tiny_index, encoders):
    from PIL import Image, ImageOps

    img = Image.new("RGB", (60, 80), (255, 255, 255))
    img.paste((200, 30, 30), (0, 0, 20, 80))  # a red stripe on the left: the mirror differs
    img.paste((30, 30, 200), (0, 0, 60, 4))  # a blue band along the top edge: the zoomed view cuts it
    engine = SearchEngine(tiny_index, encoders[0], encoders[1], photo_zoom=0.9)
    views = engine.views(img)
    assert [v.size for v in views] == [(60, 80)] * 4
    middle = views[1]
    assert img.getpixel((30, 0)) == (30, 30, 200) and middle.getpixel((30, 0))[0] > 200  # the band is cut off...
    assert middle.getpixel((0, 40))[1] < 100  # ...the red stripe stays (54x72 from (3, 4), scaled back up)
    assert np.array_equal(np.asarray(views[2]), np.asarray(ImageOps.mirror(img)))
    assert np.array_equal(np.asarray(views[3]), np.asarray(ImageOps.mirror(middle)))
    vecs = encoders[1].encode(views)
    mean = vecs.mean(axis=0)
    assert np.allclose(engine.encode_photo(img), mean / np.linalg.norm(mean), atol=1e-6)
    flip_only = SearchEngine(tiny_index, encoders[0], encoders[1], photo_zoom=None)
    both = encoders[1].encode([img, ImageOps.mirror(img)])
    assert np.allclose(flip_only.encode_photo(img), both.mean(0) / np.linalg.norm(both.mean(0)), atol=1e-6)
    plain = SearchEngine(tiny_index, encoders[0], encoders[1], photo_flip=False, photo_zoom=None)
    assert np.allclose(plain.encode_photo(img), both[0], atol=1e-6)
    large = Image.new("RGB", (1000, 800), (255, 255, 255))
    assert [v.size for v in engine.views(large)] == [(1000, 800), (900, 720)] * 2  # the encoder scales it
    with pytest.raises(ValueError, match="photo_zoom"):
        SearchEngine(tiny_index, encoders[0], encoders[1], photo_zoom=1.0)


def test_the_zoomed_view_is_a_setting(monkeypatch):
    from retrieval.settings import Settings

    monkeypatch.delenv("SHOP_PHOTO_ZOOM", raising=False)
    assert Settings().photo_zoom == 0.88
    monkeypatch.setenv("SHOP_PHOTO_ZOOM", "0")
    assert Settings().photo_zoom == 0  # off: the engine gets None
    for bad in ("0.3", "1", "-0.1"):
        monkeypatch.setenv("SHOP_PHOTO_ZOOM", bad)
        with pytest.raises(ValueError, match="photo_zoom"):
            Settings()


def test_the_same_photo_again_is_not_encoded_again(tiny_index, encoders, tmp_path):
    photo = write_image(tmp_path / "q.jpg", "Pink", size=(60, 80)).read_bytes()
    other = write_image(tmp_path / "r.jpg", "Blue", size=(60, 80)).read_bytes()
    calls = []
    engine = SearchEngine(tiny_index, encoders[0], encoders[1])
    real = engine._encode_views
    engine._encode_views = lambda pil: calls.append(1) or real(pil)
    first = engine.search(image=photo, k=3)
    again = engine.search("in blue", image=photo, k=3)  # a refinement: same bytes
    assert len(calls) == 1 and first.ids() and again.ids()
    assert [h.product.color for h in again.hits] == ["Blue"] * len(again.hits)
    engine.search(image=other, k=3)
    assert len(calls) == 2
    engine.forget_photos()
    engine.search(image=photo, k=3)
    assert len(calls) == 3


class TappedFakeImageEncoder(FakeImageEncoder):
    """The fake encoder, also handing over block maps (n, 192, 7, 7) made from each photo's colour
    histogram, and an untrained EfficientNet-Lite0 for the tail to copy: enough for train_all to
    train a photo tail without the real weights."""

    def __init__(self) -> None:
        from nlu.photo_tail import _network

        super().__init__()
        self.network = _network("efficientnet-lite0")
        self.tapped_calls: list[int] = []  # rows encoded by each call with maps

    def encode_tapped(self, items, tap):  # the query-time path (not used by training)
        vecs = self.encode(items)
        return vecs, self._maps(vecs)

    @staticmethod
    def _maps(vecs: np.ndarray) -> np.ndarray:
        maps = np.zeros((len(vecs), 192, 7, 7), np.float16)
        maps[:, :16] = vecs[:, :, None, None]
        return maps

    def encode_files(self, paths, batch_size: int = 32, progress: bool = False, on_batch=None, transform=None,
                     tap=None):
        vecs, errors = super().encode_files(paths, batch_size, progress, on_batch, transform)
        if tap is None:
            return vecs, errors
        self.tapped_calls.append(len(paths))
        return vecs, errors, self._maps(vecs)


def test_the_photo_tail_trains_on_a_second_copy_of_the_training_photos(tiny_settings, tiny_index, encoders):
    from retrieval.train import LOWRES_FILE, TAIL_COPIES, TAIL_COPY_FILE, TAIL_TAP

    assert TAIL_COPIES == 2
    image_encoder = TappedFakeImageEncoder()
    metrics = train_all(tiny_settings, progress=False, image_encoder=image_encoder, text_encoder=encoders[0],
                        quick=True, tail=True)
    folder = tiny_settings.resolved_index_dir()
    low_ids = np.load(folder / LOWRES_FILE)["ids"]
    train_ids = np.array([i for i in low_ids if not held_out(tiny_index.products[i].id)])
    assert 0 < len(train_ids) < len(low_ids)  # the tiny catalog has held-out products
    copy = np.load(folder / TAIL_COPY_FILE.format(tap=TAIL_TAP, copy=1))
    assert np.array_equal(copy["ids"], train_ids)  # held-out products get no second copy
    assert copy["maps"].shape == (len(train_ids), 192, 7, 7)
    # another crop and size of the same photos: not the first copy's maps
    first = np.load(folder / "lowres_maps_tap13.npy")
    rows = np.searchsorted(low_ids, train_ids)
    assert not np.array_equal(first[rows], copy["maps"])
    tail = metrics["photo_tail"]
    assert tail["copies"] == 2
    assert tail["n_train_rows"] == 2 * len(train_ids) and tail["n_val_rows"] == len(low_ids) - len(train_ids)
    assert (folder / "models" / "photo_tail.json").exists()
    assert image_encoder.tapped_calls == [len(low_ids), len(train_ids)]

    again = TappedFakeImageEncoder()  # the copies are cached: a retrain encodes nothing
    train_all(tiny_settings, progress=False, image_encoder=again, text_encoder=encoders[0], quick=True, tail=True)
    assert again.tapped_calls == []


def test_copy_zero_is_not_a_tail_copy(tiny_index):
    from retrieval.train import tail_copy_maps

    with pytest.raises(ValueError, match="copy 0"):
        tail_copy_maps(tiny_index, np.array([0]), 0, 13, TappedFakeImageEncoder())
