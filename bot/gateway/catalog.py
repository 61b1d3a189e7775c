"""The products the gateway serves, read from the index folder's ``products.jsonl``."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping
from urllib.parse import quote

from retrieval.catalog import Product

log = logging.getLogger(__name__)


def image_url(product_id: str) -> str:
    """The gateway URL of a product's photo."""
    return f"/api/products/{quote(str(product_id), safe='')}/image"


class ProductStore:
    """Products by id: a fixed mapping, or an index folder re-read when its products file changes."""

    def __init__(self, products: Mapping[str, Product] | None = None, *, index_dir: Path | None = None) -> None:
        self.index_dir = Path(index_dir) if index_dir is not None else None
        self._products: dict[str, Product] = dict(products or {})
        self._stamp: tuple[int, int] | None = None
        self.error: str | None = None
        if products is None and self.index_dir is not None:
            self._refresh()

    @property
    def path(self) -> Path | None:
        """The products file, when the store reads one."""
        return self.index_dir / "products.jsonl" if self.index_dir is not None else None

    def _refresh(self) -> None:
        """Re-read the products file when its size or mtime changed (a rebuild); keep the old
        products when it cannot be read (e.g. half written)."""
        path = self.path
        if path is None:
            return
        try:
            st = path.stat()
        except OSError:
            if self._stamp is None:
                self.error = f"no index at {self.index_dir} (run `python -m retrieval build`)"
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        from retrieval.product_index import read_products  # imported late: pulls numpy and faiss

        try:
            self._products = read_products(self.index_dir)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("could not read %s (%s); keeping %d products", path, exc, len(self._products))
            self.error = f"could not read {path}: {exc}"
            return
        self._stamp, self.error = stamp, None
        log.info("loaded %d products from %s", len(self._products), path)

    def get(self, product_id: str) -> Product | None:
        """The product with this id, or None."""
        self._refresh()
        return self._products.get(product_id)

    def __len__(self) -> int:
        self._refresh()
        return len(self._products)


def product_json(product: Product) -> dict:
    """What ``GET /api/products/{id}`` returns."""
    return {
        "id": product.id, "title": product.title, "brand": product.brand, "gender": product.gender,
        "article_type": product.article_type, "color": product.color, "usage": product.usage,
        "price": product.price, "image_url": image_url(product.id) if product.image else None,
    }


def image_path(product: Product, catalog_dir: Path) -> Path | None:
    """The product's photo file, only when it exists inside the catalog folder."""
    if not product.image:
        return None
    root = Path(catalog_dir).resolve()
    path = Path(product.image)
    if not path.is_absolute():
        path = root / path
    try:
        path = path.resolve()
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
