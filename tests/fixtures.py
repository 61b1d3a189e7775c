"""Helpers for building tiny on-disk catalogs in tests.

``make_catalog(tmp_path)`` writes a folder with ``products.csv`` (canonical
columns) and solid-colour JPEG images, ready for
``retrieval.catalog.load_catalog``. ``DEFAULT_ROWS`` is a small, realistic set
of fashion products other test modules can reuse.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Mapping, Sequence

from PIL import Image

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:  # allow `import retrieval` without an installed package
    sys.path.insert(0, str(_REPO_ROOT))

from retrieval.catalog import CANONICAL_FIELDS  # noqa: E402

#: RGB values used to paint product images, keyed by the row's ``color``.
COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "Black": (20, 20, 20),
    "White": (245, 245, 245),
    "Red": (200, 30, 30),
    "Blue": (40, 80, 200),
    "Navy Blue": (20, 30, 90),
    "Green": (40, 150, 60),
    "Grey": (128, 128, 128),
    "Brown": (120, 75, 40),
    "Pink": (240, 150, 180),
    "Yellow": (240, 210, 40),
    "Beige": (225, 205, 165),
    "Olive": (110, 115, 40),
    "Maroon": (120, 20, 40),
    "Purple": (110, 50, 150),
    "Orange": (240, 130, 30),
    "Silver": (192, 192, 200),
}
DEFAULT_RGB: tuple[int, int, int] = COLOR_RGB["Grey"]


def _row(
    id: str,
    title: str,
    brand: str,
    gender: str,
    master_category: str,
    sub_category: str,
    article_type: str,
    color: str,
    usage: str,
    price: float,
) -> dict[str, Any]:
    return {
        "id": id,
        "title": title,
        "brand": brand,
        "gender": gender,
        "master_category": master_category,
        "sub_category": sub_category,
        "article_type": article_type,
        "color": color,
        "usage": usage,
        "price": price,
        "image": f"images/{id}.jpg",
    }


#: 24 realistic products (all canonical fields; image "images/<id>.jpg").
DEFAULT_ROWS: list[dict[str, Any]] = [
    _row("1001", "Nike Men Dri-Fit Red Tshirts", "Nike", "Men", "Apparel", "Topwear", "Tshirts", "Red", "Sports", 24.99),
    _row("1002", "Puma Men Ferrari Black Polo Tshirts", "Puma", "Men", "Apparel", "Topwear", "Tshirts", "Black", "Casual", 34.50),
    _row("1003", "Adidas Women Climalite Blue Tshirts", "Adidas", "Women", "Apparel", "Topwear", "Tshirts", "Blue", "Sports", 29.00),
    _row("1004", "Gini and Jony Boys Yellow Printed Tshirts", "Gini and Jony", "Boys", "Apparel", "Topwear", "Tshirts", "Yellow", "Casual", 12.50),
    _row("1005", "Doodle Girls Orange Graphic Tshirts", "Doodle", "Girls", "Apparel", "Topwear", "Tshirts", "Orange", "Casual", 10.99),
    _row("1006", "Van Heusen Men White Slim Fit Formal Shirts", "Van Heusen", "Men", "Apparel", "Topwear", "Shirts", "White", "Formal", 45.00),
    _row("1007", "Arrow Men Blue Striped Formal Shirts", "Arrow", "Men", "Apparel", "Topwear", "Shirts", "Blue", "Formal", 42.00),
    _row("1008", "Roadster Men Olive Casual Shirts", "Roadster", "Men", "Apparel", "Topwear", "Shirts", "Olive", "Casual", 27.99),
    _row("1009", "Levis Men 511 Blue Slim Fit Jeans", "Levis", "Men", "Apparel", "Bottomwear", "Jeans", "Blue", "Casual", 59.99),
    _row("1010", "Wrangler Women Navy Blue Skinny Jeans", "Wrangler", "Women", "Apparel", "Bottomwear", "Jeans", "Navy Blue", "Casual", 54.00),
    _row("1011", "Fabindia Women Maroon Printed Kurtas", "Fabindia", "Women", "Apparel", "Topwear", "Kurtas", "Maroon", "Ethnic", 38.00),
    _row("1012", "Fabindia Men Beige Cotton Kurtas", "Fabindia", "Men", "Apparel", "Topwear", "Kurtas", "Beige", "Ethnic", 35.00),
    _row("1013", "Nike Men Air Max Black Sports Shoes", "Nike", "Men", "Footwear", "Shoes", "Sports Shoes", "Black", "Sports", 149.99),
    _row("1014", "Adidas Women Grey Running Sports Shoes", "Adidas", "Women", "Footwear", "Shoes", "Sports Shoes", "Grey", "Sports", 119.00),
    _row("1015", "Puma Unisex White Casual Shoes", "Puma", "Unisex", "Footwear", "Shoes", "Casual Shoes", "White", "Casual", 79.99),
    _row("1016", "Converse Men Brown Leather Casual Shoes", "Converse", "Men", "Footwear", "Shoes", "Casual Shoes", "Brown", "Casual", 65.00),
    _row("1017", "Crocs Unisex Green Flip Flops", "Crocs", "Unisex", "Footwear", "Flip Flops", "Flip Flops", "Green", "Casual", 19.99),
    _row("1018", "Puma Men Navy Blue Flip Flops", "Puma", "Men", "Footwear", "Flip Flops", "Flip Flops", "Navy Blue", "Casual", 14.99),
    _row("1019", "Baggit Women Pink Handbags", "Baggit", "Women", "Accessories", "Bags", "Handbags", "Pink", "Casual", 48.00),
    _row("1020", "Lino Perros Women Brown Handbags", "Lino Perros", "Women", "Accessories", "Bags", "Handbags", "Brown", "Formal", 55.00),
    _row("1021", "Titan Men Silver Dial Analog Watches", "Titan", "Men", "Accessories", "Watches", "Watches", "Silver", "Formal", 189.00),
    _row("1022", "Fastrack Unisex Black Digital Watches", "Fastrack", "Unisex", "Accessories", "Watches", "Watches", "Black", "Casual", 39.00),
    _row("1023", "Ray-Ban Unisex Black Aviator Sunglasses", "Ray-Ban", "Unisex", "Accessories", "Eyewear", "Sunglasses", "Black", "Casual", 199.00),
    _row("1024", "Fastrack Women Purple Sunglasses", "Fastrack", "Women", "Accessories", "Eyewear", "Sunglasses", "Purple", "Casual", 25.00),
]


def color_rgb(color: str | None) -> tuple[int, int, int]:
    """RGB for a catalog colour name (case-insensitive); unknown colours are grey."""
    if not color:
        return DEFAULT_RGB
    wanted = color.strip().casefold()
    for name, rgb in COLOR_RGB.items():
        if name.casefold() == wanted:
            return rgb
    return DEFAULT_RGB


def write_image(path: Path, color: str | None = None, size: tuple[int, int] = (64, 80)) -> Path:
    """Write a solid-colour JPEG (``size`` is width, height) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color_rgb(color)).save(path, format="JPEG", quality=90)
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(
    path: Path,
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    encoding: str = "utf-8",
) -> Path:
    """Write ``rows`` as CSV with the given header (default: canonical fields plus extra keys)."""
    rows = [dict(r) for r in rows]
    if columns is None:
        cols = list(CANONICAL_FIELDS)
        for r in rows:
            cols.extend(k for k in r if k not in cols)
    else:
        cols = list(columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for r in rows:
            writer.writerow([_cell(r.get(c)) for c in cols])
    return path


def _inside(rel: str) -> bool:
    """True when ``rel`` is a relative path that stays inside its folder."""
    p = PurePosixPath(rel.replace("\\", "/"))
    if p.is_absolute() or os.path.isabs(rel):
        return False
    norm = os.path.normpath(str(p))
    return norm not in (".", "..") and not norm.startswith("../")


def make_catalog(
    root: Path,
    rows: list[dict] | None = None,
    *,
    name: str = "tiny",
    with_images: bool = True,
    image_size: tuple[int, int] = (64, 80),
) -> Path:
    """Create catalog folder ``root/name`` with products.csv and images; return the folder.

    Rows default to :data:`DEFAULT_ROWS`. For each row whose ``image`` is a
    relative path inside the folder, a solid JPEG coloured after the row's
    ``color`` is written (unless ``with_images`` is False). Paths that are
    empty, absolute or escape the folder are written to the CSV unchanged but
    no file is created.
    """
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = [dict(r) for r in (DEFAULT_ROWS if rows is None else rows)]
    write_csv(folder / "products.csv", rows)
    if with_images:
        for r in rows:
            rel = _cell(r.get("image")).strip()
            if rel and _inside(rel):
                write_image(folder / rel, _cell(r.get("color")), image_size)
    return folder


__all__ = [
    "COLOR_RGB",
    "DEFAULT_ROWS",
    "color_rgb",
    "make_catalog",
    "write_csv",
    "write_image",
]
