"""The index folder of a catalog: vectors, faiss indexes, products, vocabulary and a manifest.

Folder contract (one command writes it, ``python -m retrieval build``; the search loads it)::

    manifest.json     format, catalog (name, dir, csv sha256, checksum, columns, counts),
                      text/image model names and dims, faiss factory string and parameters
    products.jsonl    one line per internal id: {"iid", "hash", "product"} or {"iid", "removed": true}
    text.faiss/.npz   title+attribute vectors (sentence-transformers)
    image.faiss/.npz  photo features (only products with a readable photo)
    vocabulary.json   the catalog vocabulary (nlu.vocabulary.Vocabulary)
    issues.jsonl      the catalog rows that had problems

A build on an existing folder with the same models only encodes new and changed products and
removes deleted ones; loading a folder built with other models or for another catalog fails
with a message that says what to run.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from nlu.vocabulary import FIELDS, Vocabulary, load_synonyms_file
from retrieval.catalog import Catalog, ColumnMap, Product, load_catalog
from retrieval.settings import Settings
from retrieval.vector_index import VectorIndex

log = logging.getLogger(__name__)
FORMAT = 1


class IndexMismatchError(RuntimeError):
    """The index folder is missing, damaged, or does not fit the settings or the catalog."""


def product_text(p: Product) -> str:
    """What the text encoder sees for a product: title plus its attributes."""
    attrs = ", ".join(v for v in (p.article_type, p.color, p.gender, p.usage, p.brand) if v)
    return f"{p.title}. {attrs}" if attrs else p.title


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _product_hash(p: Product, catalog: Catalog) -> str:
    d = p.to_dict()
    rel = catalog.relative_image(p)
    d["image"] = rel
    if p.image:
        try:
            d["image_size"] = Path(p.image).stat().st_size
        except OSError:
            d["image_size"] = -1
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()


@dataclass
class BuildReport:
    """What a build did (for the command line and the benchmark)."""

    index_dir: Path
    n_products: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    image_errors: int = 0
    catalog_issues: int = 0
    seconds: float = 0.0
    full: bool = True
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        kind = "full build" if self.full else "update"
        return (f"{kind} of {self.index_dir}: {self.n_products} products ({self.added} added, "
                f"{self.updated} updated, {self.removed} removed, {self.unchanged} unchanged), "
                f"{self.image_errors} without a usable photo, {self.catalog_issues} catalog issues, "
                f"{self.seconds:.1f} s")


class ProductIndex:
    """A loaded index folder: products by internal id, vectors, attribute arrays for filtering."""

    def __init__(self, path: Path, manifest: dict, products: list[Product | None], hashes: list[str | None],
                 text: VectorIndex, image: VectorIndex, vocab: Vocabulary) -> None:
        self.path = path
        self.manifest = manifest
        self.products = products
        self.hashes = hashes
        self.text = text
        self.image = image
        self.vocab = vocab
        self._derive()

    # ------------------------------------------------------------------ derived arrays
    def _derive(self) -> None:
        """Dense per-iid arrays so filters are numpy operations."""
        n = len(self.products)
        self.by_id = {p.id: i for i, p in enumerate(self.products) if p is not None}
        self.alive = np.array([p is not None for p in self.products], bool)
        self.price = np.array([p.price if p is not None and p.price is not None else np.nan
                               for p in self.products], np.float32)
        self.codes: dict[str, np.ndarray] = {}
        self.code_of: dict[str, dict[str, int]] = {}
        for f in FIELDS:
            lookup = {v: i for i, v in enumerate(self.vocab.values.get(f, []))}
            self.code_of[f] = lookup
            self.codes[f] = np.array([lookup.get(getattr(p, f), -1) if p is not None else -1
                                      for p in self.products], np.int32)
        # dense text matrix by iid (exact scoring of filtered candidate sets)
        self.text_matrix = np.zeros((n, self.text.dim), np.float32)
        if len(self.text):
            self.text_matrix[self.text.ids] = self.text.vectors
        self.has_image = np.zeros(n, bool)
        self.image_matrix = np.zeros((n, self.image.dim), np.float32)
        if len(self.image):
            self.has_image[self.image.ids] = True
            self.image_matrix[self.image.ids] = self.image.vectors
        # every product with text (and a photo): the vector indexes hold these matrices, not copies
        self.text.share_rows(self.text_matrix)
        self.image.share_rows(self.image_matrix)

    def __len__(self) -> int:
        return int(self.alive.sum())

    def get(self, product_id: str) -> Product | None:
        iid = self.by_id.get(str(product_id))
        return None if iid is None else self.products[iid]

    def iid(self, product_id: str) -> int | None:
        return self.by_id.get(str(product_id))

    # ------------------------------------------------------------------ files
    def save(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.text.save(self.path / "text")
        self.image.save(self.path / "image")
        with open(self.path / "products.jsonl", "w") as f:
            for i, (p, h) in enumerate(zip(self.products, self.hashes)):
                rec = {"iid": i, "removed": True} if p is None else {"iid": i, "hash": h, "product": p.to_dict()}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.vocab.save(self.path / "vocabulary.json")
        # the manifest goes last: a folder without one is an unfinished build
        (self.path / "manifest.json").write_text(json.dumps(self.manifest, indent=2))

    @classmethod
    def load(cls, path: str | Path, settings: Settings | None = None, check_catalog: bool = True) -> "ProductIndex":
        """Load a folder; with settings, check that it was built with the same models and catalog."""
        path = Path(path)
        manifest = read_manifest(path, settings, check_catalog=check_catalog)
        factory, params = manifest["faiss"]["factory"], manifest["faiss"].get("params", "")
        if settings is not None and settings.faiss_params:
            params = settings.faiss_params
        products: list[Product | None] = []
        hashes: list[str | None] = []
        with open(path / "products.jsonl") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("removed"):
                    products.append(None)
                    hashes.append(None)
                else:
                    products.append(Product.from_dict(rec["product"]))
                    hashes.append(rec.get("hash"))
        text = VectorIndex.load(path / "text", factory, params)
        image = VectorIndex.load(path / "image", factory, params)
        # rebuilt from the products (20 ms at 10k) so parser fixes apply without a rebuild;
        # vocabulary.json stays the file other tools read
        vocab = Vocabulary.from_rows([p.to_dict() for p in products if p is not None],
                                     load_synonyms_file(settings.synonyms_file) if settings else None)
        return cls(path, manifest, products, hashes, text, image, vocab)


def read_manifest(path: Path, settings: Settings | None = None, check_catalog: bool = True) -> dict:
    """The folder's manifest; IndexMismatchError when it is missing, of another format, or (with
    settings) built with other models or for another state of the catalog."""
    mf = Path(path) / "manifest.json"
    if not mf.exists():
        raise IndexMismatchError(f"no index at {path} (manifest.json missing): run `python -m retrieval build`")
    manifest = json.loads(mf.read_text())
    if manifest.get("format") != FORMAT:
        raise IndexMismatchError(f"index at {path} has format {manifest.get('format')}, this code reads {FORMAT}: "
                                 "run `python -m retrieval build --rebuild`")
    if settings is not None:
        check_manifest(manifest, settings, Path(path), check_catalog=check_catalog)
    return manifest


def read_products(index_dir: str | Path) -> dict[str, Product]:
    """The live products of an index folder by id, read from ``products.jsonl`` alone (no
    vectors, faiss indexes or models); FileNotFoundError when the folder has no products file."""
    products: dict[str, Product] = {}
    with open(Path(index_dir) / "products.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            if not rec.get("removed"):
                p = Product.from_dict(rec["product"])
                products[p.id] = p
    return products


def check_manifest(manifest: dict, settings: Settings, path: Path, check_catalog: bool = True) -> None:
    """Raise IndexMismatchError when the folder does not fit the settings or the catalog on disk."""
    problems = []
    if manifest["text"]["model"] != settings.text_model:
        problems.append(f"text model {manifest['text']['model']!r} (settings: {settings.text_model!r})")
    if manifest["image"]["model"] != settings.image_model:
        problems.append(f"image model {manifest['image']['model']!r} (settings: {settings.image_model!r})")
    cat = manifest["catalog"]
    if Path(cat["dir"]).resolve() != Path(settings.catalog_dir).resolve():
        problems.append(f"catalog {cat['dir']} (settings: {settings.catalog_dir})")
    elif check_catalog:
        csv_path = Path(settings.catalog_dir) / settings.catalog_csv
        if csv_path.exists() and _file_sha256(csv_path) != cat["csv_sha256"]:
            problems.append(f"catalog {csv_path} has changed since the index was built")
    if problems:
        raise IndexMismatchError(
            f"the index at {path} was built with " + "; ".join(problems)
            + ". Run `python -m retrieval build` to update it (or --rebuild to start over).")


# ---------------------------------------------------------------------------------- building
def build_index(settings: Settings, *, rebuild: bool = False, progress: bool = True,
                text_encoder=None, image_encoder=None,
                on_progress: Callable[[str, int, int], None] | None = None) -> BuildReport:
    """Build or update the index folder for ``settings.catalog_dir``.

    Encoders default to the models named in the settings (loaded only if something needs
    encoding). Only new and changed products are encoded when a compatible index exists.
    """
    t0 = time.perf_counter()
    out = settings.resolved_index_dir()
    report = BuildReport(index_dir=out)
    catalog = load_catalog(settings.catalog_dir, ColumnMap.from_mapping(settings.catalog_columns),
                           csv_name=settings.catalog_csv, check_images=settings.check_images)
    report.catalog_issues = len(catalog.issues)
    report.timings["load_catalog"] = time.perf_counter() - t0

    old: ProductIndex | None = None
    if not rebuild and (out / "manifest.json").exists():
        try:
            old = ProductIndex.load(out)
            m = old.manifest
            if (m["text"]["model"], m["image"]["model"], m["faiss"]["factory"]) != \
                    (settings.text_model, settings.image_model, settings.faiss_factory) or \
                    Path(m["catalog"]["dir"]).resolve() != Path(settings.catalog_dir).resolve():
                log.info("index at %s was built with other models or another catalog: full rebuild", out)
                old = None
        except Exception as e:  # a damaged folder is rebuilt, never trusted
            log.warning("ignoring the index at %s (%s): full rebuild", out, e)
            old = None
    report.full = old is None

    if old is None:
        products: list[Product | None] = []
        hashes: list[str | None] = []
        text_vi = image_vi = None
    else:
        products, hashes = list(old.products), list(old.hashes)
        text_vi, image_vi = old.text, old.image

    # what changed
    new_hash = {p.id: _product_hash(p, catalog) for p in catalog}
    where = {p.id: i for i, p in enumerate(products) if p is not None}
    to_encode: list[tuple[int, Product]] = []
    for p in catalog:
        i = where.get(p.id)
        if i is None:
            products.append(p)
            hashes.append(new_hash[p.id])
            to_encode.append((len(products) - 1, p))
            report.added += 1
        elif hashes[i] != new_hash[p.id]:
            products[i], hashes[i] = p, new_hash[p.id]
            to_encode.append((i, p))
            report.updated += 1
        else:
            products[i] = p  # same content; refresh absolute paths
            report.unchanged += 1
    gone = [i for pid, i in where.items() if pid not in new_hash]
    for i in gone:
        products[i], hashes[i] = None, None
    report.removed = len(gone)

    # encode what is new or changed
    iids = np.array([i for i, _ in to_encode], np.int64)
    if to_encode:
        if text_encoder is None:
            from nlu.encoders import TextEncoder
            text_encoder = TextEncoder(settings.text_model)
        if image_encoder is None:
            from nlu.encoders import ImageEncoder
            image_encoder = ImageEncoder(settings.image_model)
        t = time.perf_counter()
        tvecs = text_encoder.encode([product_text(p) for _, p in to_encode], progress=progress)
        report.timings["text_encode"] = time.perf_counter() - t
        t = time.perf_counter()
        ivecs, errors = image_encoder.encode_files([p.image for _, p in to_encode],
                                                   batch_size=settings.batch_size, progress=progress)
        report.timings["image_encode"] = time.perf_counter() - t
        ok = np.array([e is None for e in errors], bool)
        report.image_errors = int((~ok).sum())
        for (_, p), err in zip(to_encode, errors):
            if err is not None and p.image is not None:
                log.warning("product %s: photo not usable (%s); it is found by text only", p.id, err)
    else:
        tvecs = np.zeros((0, text_vi.dim), np.float32)
        ivecs, ok = np.zeros((0, image_vi.dim), np.float32), np.zeros(0, bool)

    t = time.perf_counter()
    if text_vi is None:
        text_vi = VectorIndex(text_encoder.dim, settings.faiss_factory, settings.faiss_params)
        image_vi = VectorIndex(image_encoder.dim, settings.faiss_factory, settings.faiss_params)
    gone_ids = np.array(gone, np.int64)
    text_vi.remove(np.concatenate([gone_ids, iids]))
    image_vi.remove(np.concatenate([gone_ids, iids]))
    text_vi.add(iids, tvecs)
    image_vi.add(iids[ok], ivecs[ok])
    report.timings["faiss"] = time.perf_counter() - t

    vocab = Vocabulary.from_rows(catalog.rows(), load_synonyms_file(settings.synonyms_file))
    manifest = {
        "format": FORMAT,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "catalog": {
            "name": catalog.name, "dir": str(Path(settings.catalog_dir).resolve()),
            "csv": settings.catalog_csv,
            "csv_sha256": _file_sha256(Path(settings.catalog_dir) / settings.catalog_csv),
            "checksum": catalog.checksum(), "columns": ColumnMap.from_mapping(settings.catalog_columns).as_dict(),
            "n_products": len(catalog), "n_issues": len(catalog.issues), "check_images": settings.check_images,
        },
        "text": {"model": settings.text_model, "dim": int(text_vi.dim)},
        "image": {"model": settings.image_model, "dim": int(image_vi.dim), "n_with_image": len(image_vi)},
        "faiss": {"factory": settings.faiss_factory, "params": settings.faiss_params},
    }
    index = ProductIndex(out, manifest, products, hashes, text_vi, image_vi, vocab)
    index.save()
    with open(out / "issues.jsonl", "w") as f:
        for issue in catalog.issues:
            f.write(json.dumps({"row": issue.row, "product_id": issue.product_id, "field": issue.field,
                                "reason": issue.reason, "severity": issue.severity}) + "\n")
    report.n_products = len(index)
    report.seconds = time.perf_counter() - t0
    log.info(report.summary())
    return report
