"""Product catalog ingestion with row-level validation.

A catalog is a folder holding a CSV file (``products.csv`` by default) and the
product images it refers to by relative path. :func:`load_catalog` reads it,
validates every row and returns a :class:`Catalog` of good products plus a list
of :class:`CatalogIssue` describing everything that was wrong. Bad rows never
stop good rows from loading; only problems with the catalog as a whole (folder
or CSV missing, required column missing, zero good rows) raise
:class:`CatalogError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterator, Mapping

from PIL import Image

logger = logging.getLogger(__name__)

CANONICAL_FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "brand",
    "gender",
    "master_category",
    "sub_category",
    "article_type",
    "color",
    "usage",
    "price",
    "image",
)
ATTRIBUTE_FIELDS: tuple[str, ...] = tuple(f for f in CANONICAL_FIELDS if f not in ("id", "title", "price", "image"))
REQUIRED_FIELDS: tuple[str, ...] = ("id", "title")
CHECK_IMAGE_MODES: tuple[str, ...] = ("open", "exists", "none")

#: Images with more pixels than this are treated as unreadable.
MAX_IMAGE_PIXELS = 50_000_000

ERROR = "error"
WARNING = "warning"

_CURRENCY_SYMBOLS = "$€£"
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")
_NON_FINITE = {"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


class CatalogError(Exception):
    """A problem with the catalog as a whole (not with a single row)."""

    def __init__(self, message: str, issues: list["CatalogIssue"] | None = None) -> None:
        super().__init__(message)
        self.issues: list[CatalogIssue] = list(issues or [])


@dataclass(frozen=True)
class ColumnMap:
    """Mapping from canonical field name to the CSV column that holds it."""

    id: str = "id"
    title: str = "title"
    brand: str = "brand"
    gender: str = "gender"
    master_category: str = "master_category"
    sub_category: str = "sub_category"
    article_type: str = "article_type"
    color: str = "color"
    usage: str = "usage"
    price: str = "price"
    image: str = "image"

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str] | None) -> "ColumnMap":
        """Build a map overriding only the given fields; unknown keys raise ValueError."""
        if not mapping:
            return cls()
        unknown = sorted(set(mapping) - set(CANONICAL_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown catalog field(s) {unknown}; known fields: {list(CANONICAL_FIELDS)}"
            )
        overrides: dict[str, str] = {}
        for key, value in mapping.items():
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"column name for field {key!r} must be a non-empty string")
            overrides[key] = value.strip()
        return cls(**overrides)

    def as_dict(self) -> dict[str, str]:
        """Canonical field -> CSV column name, in canonical order."""
        return {name: getattr(self, name) for name in CANONICAL_FIELDS}


@dataclass(frozen=True)
class Product:
    """One validated catalog product."""

    id: str
    title: str
    brand: str = ""
    gender: str = ""
    master_category: str = ""
    sub_category: str = ""
    article_type: str = ""
    color: str = ""
    usage: str = ""
    price: float | None = None
    image: str | None = None

    def attributes(self) -> dict[str, str]:
        """The non-empty attribute fields (brand, gender, ..., usage)."""
        return {name: getattr(self, name) for name in ATTRIBUTE_FIELDS if getattr(self, name)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with all fields in canonical order."""
        return {name: getattr(self, name) for name in CANONICAL_FIELDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Product":
        """Inverse of :meth:`to_dict`; missing optional fields get defaults, unknown keys are ignored."""
        kwargs: dict[str, Any] = {}
        for name in CANONICAL_FIELDS:
            if name not in d:
                continue
            value = d[name]
            if name == "price":
                kwargs[name] = None if value is None or value == "" else float(value)
            elif name == "image":
                kwargs[name] = None if value is None or value == "" else str(value)
            else:
                kwargs[name] = "" if value is None else str(value)
        for name in REQUIRED_FIELDS:
            if name not in kwargs:
                raise ValueError(f"product dict is missing required field {name!r}")
        return cls(**kwargs)


@dataclass(frozen=True)
class CatalogIssue:
    """One problem found while loading a catalog."""

    row: int
    product_id: str | None
    field: str
    reason: str
    severity: str

    def __str__(self) -> str:
        where = "file" if self.row <= 0 else f"line {self.row}"
        if self.product_id:
            where += f" (id {self.product_id})"
        outcome = "row dropped" if self.severity == ERROR else "row kept"
        return f"{where}: {self.field}: {self.reason} [{outcome}]"


@dataclass
class Catalog:
    """A loaded catalog: good products in CSV order plus the issues found."""

    name: str
    root: Path
    products: list[Product]
    issues: list[CatalogIssue] = field(default_factory=list)
    _by_id: dict[str, Product] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._reindex()

    def _reindex(self) -> None:
        self._by_id = {}
        for product in self.products:
            self._by_id.setdefault(product.id, product)

    def _index(self) -> dict[str, Product]:
        if len(self._by_id) != len(self.products):
            self._reindex()
        return self._by_id

    def __len__(self) -> int:
        return len(self.products)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def __contains__(self, product_id: object) -> bool:
        return isinstance(product_id, str) and product_id in self._index()

    def get(self, product_id: str) -> Product | None:
        """The product with this id, or None."""
        return self._index().get(product_id)

    @property
    def errors(self) -> list[CatalogIssue]:
        """Issues that caused a row to be dropped."""
        return [issue for issue in self.issues if issue.severity == ERROR]

    @property
    def warnings(self) -> list[CatalogIssue]:
        """Issues for rows that were kept."""
        return [issue for issue in self.issues if issue.severity == WARNING]

    def relative_image(self, product: Product) -> str | None:
        """The product's image path relative to the catalog folder (POSIX style), or None."""
        if product.image is None:
            return None
        try:
            return Path(product.image).relative_to(self.root).as_posix()
        except ValueError:
            return Path(product.image).as_posix()

    def checksum(self) -> str:
        """sha256 hex over the canonical content of all products, in catalog order.

        Every field is included; the image is represented by its path relative
        to the catalog folder plus its file size, so the value is stable across
        machines and checkouts (no absolute paths, no mtimes).
        """
        digest = hashlib.sha256()
        digest.update(json.dumps(list(CANONICAL_FIELDS)).encode("utf-8") + b"\n")
        for product in self.products:
            record: list[Any] = [getattr(product, name) for name in CANONICAL_FIELDS[:-1]]
            rel = self.relative_image(product)
            size: int | None = None
            if product.image is not None:
                try:
                    size = os.stat(product.image).st_size
                except OSError:
                    size = None
            record.append([rel, size])
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            digest.update(line.encode("utf-8") + b"\n")
        return digest.hexdigest()

    def values(self, field: str) -> list[str]:
        """Sorted distinct non-empty values of an attribute field."""
        if field not in ATTRIBUTE_FIELDS:
            raise ValueError(f"{field!r} is not an attribute field; choose from {list(ATTRIBUTE_FIELDS)}")
        return sorted({getattr(p, field) for p in self.products if getattr(p, field)})

    def rows(self) -> list[dict[str, Any]]:
        """All products as plain dicts (see :meth:`Product.to_dict`)."""
        return [p.to_dict() for p in self.products]


# --------------------------------------------------------------------------- helpers


def _parse_price(raw: str) -> tuple[float | None, str | None]:
    """Parse a price string; return (value, error reason). Empty -> (None, None)."""
    text = raw.strip()
    if not text:
        return None, None
    if text[0] in _CURRENCY_SYMBOLS:
        text = text[1:].strip()
    if not text:
        return None, f"price {raw!r} is not a number"
    if text.lower() in _NON_FINITE:
        return None, f"price {raw!r} is not a finite number"
    if _GROUPED_NUMBER.fullmatch(text):
        text = text.replace(",", "")
    if not _PLAIN_NUMBER.fullmatch(text):
        return None, f"price {raw!r} is not a number"
    value = float(text)
    if not math.isfinite(value):
        return None, f"price {raw!r} is not a finite number"
    if value < 0:
        return None, f"price {raw!r} is negative"
    return value + 0.0, None  # + 0.0 turns -0.0 into 0.0


def _safe_relative_image(raw: str) -> str | None:
    """Normalised POSIX relative path if ``raw`` stays inside the folder, else None."""
    text = raw.replace("\\", "/")
    if PurePosixPath(text).is_absolute() or PureWindowsPath(raw).drive or PureWindowsPath(raw).root:
        return None
    norm = os.path.normpath(text).replace("\\", "/")
    if norm in (".", "") or norm == ".." or norm.startswith("../"):
        return None
    return norm


def _check_image(path: Path, rel: str, mode: str) -> str | None:
    """Return why the image at ``path`` (``rel`` inside the folder) is unusable, or None."""
    if mode == "none":
        return None
    if not path.is_file():
        return f"image file '{rel}' not found"
    if mode == "exists":
        return None
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_IMAGE_PIXELS:
                return f"image is too large ({width}x{height} pixels) and is treated as unreadable"
            im.verify()
        # verify() does not decode pixel data for every format (e.g. JPEG), so
        # also decode it; draft mode makes JPEG decoding cheap while still
        # reading the whole entropy-coded stream (catches truncated files).
        with Image.open(path) as im:
            if im.format == "JPEG":
                im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as exc:  # noqa: BLE001 - any failure (incl. DecompressionBombError) means unreadable
        return f"image is unreadable ({type(exc).__name__}: {exc})"
    return None


def _read_text(csv_path: Path, issues: list[CatalogIssue]) -> str:
    """Read the CSV as text: utf-8 (with optional BOM), falling back to latin-1."""
    try:
        data = csv_path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog CSV {csv_path}: {exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        issues.append(
            CatalogIssue(
                row=0,
                product_id=None,
                field="row",
                reason=f"file is not valid UTF-8 ({exc.reason} at byte {exc.start}); read as latin-1",
                severity=WARNING,
            )
        )
        return data.decode("latin-1")


def _resolve_columns(
    header: list[str], columns: ColumnMap
) -> tuple[dict[str, int], list[str]]:
    """Map canonical fields to header indexes; return (found, missing fields)."""
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for idx, name in enumerate(header):
        exact.setdefault(name, idx)
        folded.setdefault(name.casefold(), idx)
    found: dict[str, int] = {}
    missing: list[str] = []
    for name, column in columns.as_dict().items():
        if column in exact:
            found[name] = exact[column]
        elif column.casefold() in folded:
            found[name] = folded[column.casefold()]
        else:
            missing.append(name)
    return found, missing


# --------------------------------------------------------------------------- loader


def load_catalog(
    folder: str | Path,
    columns: ColumnMap | Mapping[str, str] | None = None,
    csv_name: str = "products.csv",
    check_images: str = "open",
    max_rows: int | None = None,
) -> Catalog:
    """Load and validate the catalog in ``folder``.

    Args:
        folder: catalog folder holding ``csv_name`` and the images.
        columns: canonical field -> CSV column name (partial mappings allowed).
        csv_name: CSV file name inside the folder.
        check_images: "open" (decode with PIL), "exists" (file must exist) or
            "none" (only check that the path stays inside the folder).
        max_rows: read at most this many data rows (None: all).

    Raises:
        CatalogError: folder/CSV missing or unreadable, required column
            missing, or no good rows at all.
        ValueError: invalid ``columns`` or ``check_images`` argument.
    """
    started = time.perf_counter()
    if check_images not in CHECK_IMAGE_MODES:
        raise ValueError(f"check_images must be one of {CHECK_IMAGE_MODES}, got {check_images!r}")
    if max_rows is not None and max_rows < 0:
        raise ValueError("max_rows must be >= 0")
    colmap = columns if isinstance(columns, ColumnMap) else ColumnMap.from_mapping(columns)

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise CatalogError(f"catalog folder not found: {root}")
    root = root.resolve()
    csv_path = root / csv_name
    if not csv_path.is_file():
        raise CatalogError(f"catalog CSV not found: {csv_path}")

    issues: list[CatalogIssue] = []
    text = _read_text(csv_path, issues)
    reader = csv.reader(io.StringIO(text, newline=""))

    try:
        header_row = next(reader, None)
    except csv.Error as exc:
        raise CatalogError(f"cannot parse header of {csv_path}: {exc}") from exc
    if header_row is None or not any(cell.strip() for cell in header_row):
        raise CatalogError(f"catalog CSV {csv_path} is empty (no header line)")
    header = [cell.strip() for cell in header_row]

    index, missing = _resolve_columns(header, colmap)
    missing_required = [name for name in missing if name in REQUIRED_FIELDS]
    if missing_required:
        wanted = ", ".join(f"{name!r} (column {getattr(colmap, name)!r})" for name in missing_required)
        raise CatalogError(
            f"catalog CSV {csv_path} is missing required column(s) {wanted}; "
            f"columns present: {header}"
        )
    for name in missing:
        issues.append(
            CatalogIssue(
                row=1,
                product_id=None,
                field=name,
                reason=f"optional column {getattr(colmap, name)!r} is missing; field left empty",
                severity=WARNING,
            )
        )

    products: list[Product] = []
    first_line: dict[str, int] = {}
    n_rows = 0
    n_dropped = 0
    prev_line = reader.line_num

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        while max_rows is None or n_rows < max_rows:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                line = prev_line + 1
                issues.append(CatalogIssue(line, None, "row", f"unparseable CSV row: {exc}", ERROR))
                n_rows += 1
                n_dropped += 1
                if reader.line_num == prev_line:  # no progress: give up on the rest
                    break
                prev_line = reader.line_num
                continue
            line = prev_line + 1
            prev_line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank line
            n_rows += 1
            product = _validate_row(record, line, header, index, colmap, root, check_images, first_line, issues)
            if product is None:
                n_dropped += 1
                continue
            first_line[product.id] = line
            products.append(product)

    n_warnings = sum(1 for issue in issues if issue.severity == WARNING)
    elapsed = time.perf_counter() - started
    if not products:
        shown = "; ".join(str(issue) for issue in issues[:5])
        more = f" (+{len(issues) - 5} more)" if len(issues) > 5 else ""
        raise CatalogError(
            f"catalog {csv_path} has no usable rows ({n_rows} data rows read): {shown}{more}",
            issues,
        )
    for issue in issues:
        logger.debug("catalog %s: %s", root.name, issue)
    logger.info(
        "Loaded catalog %r from %s: %d products, %d rows read, %d dropped, %d warnings "
        "(images checked: %s) in %.2fs",
        root.name,
        csv_path,
        len(products),
        n_rows,
        n_dropped,
        n_warnings,
        check_images,
        elapsed,
    )
    return Catalog(name=root.name, root=root, products=products, issues=issues)


def _validate_row(
    record: list[str],
    line: int,
    header: list[str],
    index: dict[str, int],
    colmap: ColumnMap,
    root: Path,
    check_images: str,
    first_line: dict[str, int],
    issues: list[CatalogIssue],
) -> Product | None:
    """Validate one CSV record; append issues and return the Product or None if dropped."""

    def cell(name: str) -> str:
        idx = index.get(name)
        if idx is None or idx >= len(record):
            return ""
        return record[idx].strip()

    pid = cell("id") or None
    row_issues: list[CatalogIssue] = []

    def add(field_name: str, reason: str, severity: str) -> None:
        row_issues.append(CatalogIssue(line, pid, field_name, reason, severity))

    if len(record) != len(header):
        add("row", f"row has {len(record)} fields but the header has {len(header)}", WARNING)

    if pid is None:
        add("id", "id is empty", ERROR)
    elif pid in first_line:
        add("id", f"duplicate id {pid!r} (first seen on line {first_line[pid]})", ERROR)

    title = cell("title")
    if not title:
        add("title", "title is empty", ERROR)

    price: float | None = None
    if "price" in index:
        raw_price = cell("price")
        price, reason = _parse_price(raw_price)
        if reason is not None:
            add("price", reason, ERROR)
        elif price is None:
            add("price", "price is empty", WARNING)

    if any(issue.severity == ERROR for issue in row_issues):
        issues.extend(row_issues)
        return None

    image: str | None = None
    if "image" in index:
        raw_image = cell("image")
        if not raw_image:
            add("image", "image is empty", WARNING)
        else:
            rel = _safe_relative_image(raw_image)
            if rel is None:
                add("image", f"image path escapes the catalog folder ({raw_image!r})", WARNING)
            else:
                path = root / rel
                reason = _check_image(path, rel, check_images)
                if reason is None:
                    image = str(path)
                else:
                    add("image", reason, WARNING)

    issues.extend(row_issues)
    attrs = {name: cell(name) for name in ATTRIBUTE_FIELDS}
    return Product(id=pid or "", title=title, price=price, image=image, **attrs)


__all__ = [
    "ATTRIBUTE_FIELDS",
    "CANONICAL_FIELDS",
    "Catalog",
    "CatalogError",
    "CatalogIssue",
    "ColumnMap",
    "Product",
    "load_catalog",
]
