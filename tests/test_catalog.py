"""Tests for retrieval.catalog: loading, validation issues, column maps, checksums."""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

_REPO_ROOT = Path(__file__).resolve().parents[1]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from retrieval.catalog import (  # noqa: E402
    ATTRIBUTE_FIELDS,
    CANONICAL_FIELDS,
    Catalog,
    CatalogError,
    CatalogIssue,
    ColumnMap,
    Product,
    load_catalog,
)
from tests.fixtures import DEFAULT_ROWS, make_catalog, write_csv, write_image  # noqa: E402

REAL_CATALOG = Path(__file__).resolve().parents[1].parent / "shared/catalog/fashion-10k"


def rows(n: int = 6) -> list[dict[str, Any]]:
    """Fresh copies of the first ``n`` default rows (row i is on CSV line i + 2)."""
    return [dict(r) for r in DEFAULT_ROWS[:n]]


def only_issue(cat: Catalog, **match: Any) -> CatalogIssue:
    """The single issue of ``cat``, checking the given attributes."""
    assert len(cat.issues) == 1, [str(i) for i in cat.issues]
    issue = cat.issues[0]
    for key, value in match.items():
        assert getattr(issue, key) == value, (key, issue)
    return issue


def ids(cat: Catalog) -> list[str]:
    return [p.id for p in cat]


# --------------------------------------------------------------------------- happy path


def test_good_catalog_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_catalog(tmp_path)
    with caplog.at_level(logging.INFO, logger="retrieval.catalog"):
        cat = load_catalog(folder)
    assert cat.name == "tiny"
    assert cat.root == folder.resolve()
    assert len(cat) == len(DEFAULT_ROWS) == 24
    assert cat.issues == []
    assert ids(cat) == [r["id"] for r in DEFAULT_ROWS]
    p = cat.get("1001")
    assert p is not None and p.title == "Nike Men Dri-Fit Red Tshirts"
    assert p.price == pytest.approx(24.99)
    assert p.image is not None and Path(p.image).is_absolute() and Path(p.image).is_file()
    assert Path(p.image) == folder.resolve() / "images/1001.jpg"
    assert p.attributes()["article_type"] == "Tshirts"
    assert "1001" in cat and "nope" not in cat and 1001 not in cat
    assert cat.get("nope") is None
    assert any("24 products" in rec.getMessage() for rec in caplog.records)


def test_images_are_coloured_after_the_row(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows(2), image_size=(32, 40))
    with Image.open(folder / "images/1001.jpg") as im:  # Red
        assert im.size == (32, 40)
        r, g, b = im.convert("RGB").getpixel((16, 20))
    assert r > 150 and g < 80 and b < 80


def test_whitespace_is_trimmed_and_attributes_may_be_empty(tmp_path: Path) -> None:
    data = rows(2)
    data[0].update(id="  1001 ", title="  Nike Men Red Tshirts  ", brand=" Nike ", usage="", image=" images/1001.jpg ")
    folder = make_catalog(tmp_path, data)
    cat = load_catalog(folder)
    p = cat.get("1001")
    assert p is not None
    assert (p.title, p.brand, p.usage) == ("Nike Men Red Tshirts", "Nike", "")
    assert p.image is not None
    assert "usage" not in p.attributes()
    assert cat.issues == []


# --------------------------------------------------------------------------- bad rows


def test_blank_id_drops_row(tmp_path: Path) -> None:
    data = rows()
    data[1]["id"] = "   "
    cat = load_catalog(make_catalog(tmp_path, data))
    only_issue(cat, row=3, field="id", severity="error", product_id=None)
    assert len(cat) == 5 and "1002" not in ids(cat)


def test_duplicate_id_keeps_first(tmp_path: Path) -> None:
    data = rows()
    data[3]["id"] = data[0]["id"]
    data[3]["title"] = "Some Other Product"
    cat = load_catalog(make_catalog(tmp_path, data))
    issue = only_issue(cat, row=5, field="id", severity="error", product_id="1001")
    assert "line 2" in issue.reason
    assert len(cat) == 5
    assert cat.get("1001").title == DEFAULT_ROWS[0]["title"]  # type: ignore[union-attr]


def test_empty_title_drops_row(tmp_path: Path) -> None:
    data = rows()
    data[2]["title"] = ""
    cat = load_catalog(make_catalog(tmp_path, data))
    only_issue(cat, row=4, field="title", severity="error", product_id="1003")
    assert len(cat) == 5 and "1003" not in cat


def test_non_numeric_price_drops_row(tmp_path: Path) -> None:
    data = rows()
    data[1]["price"] = "abc"
    cat = load_catalog(make_catalog(tmp_path, data))
    issue = only_issue(cat, row=3, field="price", severity="error", product_id="1002")
    assert issue.reason == "price 'abc' is not a number"
    assert str(issue) == "line 3 (id 1002): price: price 'abc' is not a number [row dropped]"
    assert len(cat) == 5 and "1002" not in cat


def test_negative_price_drops_row(tmp_path: Path) -> None:
    data = rows()
    data[4]["price"] = "-5.00"
    cat = load_catalog(make_catalog(tmp_path, data))
    issue = only_issue(cat, row=6, field="price", severity="error")
    assert "negative" in issue.reason
    assert len(cat) == 5


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "-Infinity", "1e999", "12,34", "1_000", "$", "1.2.3", "12 EUR"])
def test_invalid_prices_drop_row(tmp_path: Path, raw: str) -> None:
    data = rows(3)
    data[2]["price"] = raw
    cat = load_catalog(make_catalog(tmp_path, data))
    only_issue(cat, row=4, field="price", severity="error")
    assert ids(cat) == ["1001", "1002"]


@pytest.mark.parametrize(
    "raw, expected",
    [("$1,234.50", 1234.5), ("€20", 20.0), ("£ 19.99", 19.99), ("1,000", 1000.0), (" 42 ", 42.0), ("0", 0.0)],
)
def test_price_formats_parse(tmp_path: Path, raw: str, expected: float) -> None:
    data = rows(2)
    data[0]["price"] = raw
    cat = load_catalog(make_catalog(tmp_path, data))
    assert cat.issues == []
    assert cat.get("1001").price == pytest.approx(expected)  # type: ignore[union-attr]


def test_empty_price_is_a_warning(tmp_path: Path) -> None:
    data = rows()
    data[2]["price"] = ""
    cat = load_catalog(make_catalog(tmp_path, data))
    issue = only_issue(cat, row=4, field="price", severity="warning", product_id="1003")
    assert str(issue).endswith("[row kept]")
    assert len(cat) == 6
    assert cat.get("1003").price is None  # type: ignore[union-attr]


def test_multiple_errors_in_one_row_are_all_reported(tmp_path: Path) -> None:
    data = rows()
    data[1].update(title="", price="abc")
    cat = load_catalog(make_catalog(tmp_path, data))
    assert {(i.row, i.field) for i in cat.issues} == {(3, "title"), (3, "price")}
    assert len(cat) == 5


def test_empty_image_is_a_warning(tmp_path: Path) -> None:
    data = rows()
    data[0]["image"] = ""
    cat = load_catalog(make_catalog(tmp_path, data))
    only_issue(cat, row=2, field="image", severity="warning")
    assert cat.get("1001").image is None  # type: ignore[union-attr]
    assert len(cat) == 6


def test_missing_image_file_is_a_warning(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows())
    (folder / "images/1004.jpg").unlink()
    cat = load_catalog(folder)
    issue = only_issue(cat, row=5, field="image", severity="warning", product_id="1004")
    assert "not found" in issue.reason
    assert len(cat) == 6
    assert cat.get("1004").image is None  # type: ignore[union-attr]
    assert cat.get("1003").image is not None  # type: ignore[union-attr]


def test_missing_image_with_check_none_keeps_path(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows())
    (folder / "images/1004.jpg").unlink()
    cat = load_catalog(folder, check_images="none")
    assert cat.issues == []
    assert cat.get("1004").image == str(folder.resolve() / "images/1004.jpg")  # type: ignore[union-attr]


def test_corrupt_image_is_a_warning(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows())
    (folder / "images/1002.jpg").write_bytes(b"\x00\x01 definitely not a jpeg " * 20)
    cat = load_catalog(folder)
    issue = only_issue(cat, row=3, field="image", severity="warning", product_id="1002")
    assert "unreadable" in issue.reason
    assert cat.get("1002").image is None and len(cat) == 6  # type: ignore[union-attr]
    # "exists" does not open the file, so the path is kept
    cat2 = load_catalog(folder, check_images="exists")
    assert cat2.issues == [] and cat2.get("1002").image is not None  # type: ignore[union-attr]


def test_truncated_jpeg_is_a_warning(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows(), image_size=(160, 200))
    path = folder / "images/1005.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    cat = load_catalog(folder)
    only_issue(cat, row=6, field="image", severity="warning", product_id="1005")
    assert cat.get("1005").image is None  # type: ignore[union-attr]


def test_huge_image_is_unreadable(tmp_path: Path) -> None:
    data = rows(2)
    data[1]["image"] = "images/huge.png"
    folder = make_catalog(tmp_path, data)
    Image.new("1", (8000, 7000)).save(folder / "images/huge.png")  # 56 megapixels, tiny file
    cat = load_catalog(folder)
    issue = only_issue(cat, row=3, field="image", severity="warning")
    assert "too large" in issue.reason
    assert cat.get("1002").image is None  # type: ignore[union-attr]


def test_image_path_escaping_folder(tmp_path: Path) -> None:
    data = rows()
    data[2]["image"] = "../outside.jpg"
    data[3]["image"] = "images/../../outside.jpg"
    folder = make_catalog(tmp_path, data)
    write_image(tmp_path / "outside.jpg", "Red")  # exists, but must still be rejected
    cat = load_catalog(folder)
    assert [(i.row, i.field, i.severity) for i in cat.issues] == [(4, "image", "warning"), (5, "image", "warning")]
    assert all("image path escapes the catalog folder" in i.reason for i in cat.issues)
    assert cat.get("1003").image is None and cat.get("1004").image is None  # type: ignore[union-attr]
    assert len(cat) == 6


def test_harmless_dotdot_inside_folder_is_fine(tmp_path: Path) -> None:
    data = rows(2)
    data[0]["image"] = "images/../images/1001.jpg"
    folder = make_catalog(tmp_path, data)
    write_image(folder / "images/1001.jpg", "Red")
    cat = load_catalog(folder)
    assert cat.issues == []
    assert cat.get("1001").image == str(folder.resolve() / "images/1001.jpg")  # type: ignore[union-attr]


def test_absolute_image_path_is_rejected(tmp_path: Path) -> None:
    outside = write_image(tmp_path / "elsewhere/abs.jpg", "Blue")
    data = rows()
    data[5]["image"] = str(outside.resolve())
    folder = make_catalog(tmp_path, data)
    cat = load_catalog(folder, check_images="none")
    issue = only_issue(cat, row=7, field="image", severity="warning", product_id="1006")
    assert "image path escapes the catalog folder" in issue.reason
    assert cat.get("1006").image is None and len(cat) == 6  # type: ignore[union-attr]


def test_multiline_quoted_field_keeps_line_numbers(tmp_path: Path) -> None:
    data = rows(3)
    data[0]["title"] = "Nike Men Dri-Fit\nRed Tshirts"  # record spans lines 2-3
    data[1]["price"] = "abc"  # record on line 4
    cat = load_catalog(make_catalog(tmp_path, data))
    only_issue(cat, row=4, field="price", severity="error")
    assert cat.get("1001").title == "Nike Men Dri-Fit\nRed Tshirts"  # type: ignore[union-attr]


def test_short_row_is_a_warning(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows(2))
    with open(folder / "products.csv", "a", encoding="utf-8") as fh:
        fh.write("1099,Puma Men Grey Tshirts,Puma\n")
    cat = load_catalog(folder)
    assert [(i.row, i.field, i.severity) for i in cat.issues] == [
        (4, "row", "warning"),
        (4, "price", "warning"),
        (4, "image", "warning"),
    ]
    p = cat.get("1099")
    assert p is not None and p.brand == "Puma" and p.price is None and p.image is None


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows(2))
    text = (folder / "products.csv").read_text(encoding="utf-8")
    header, first, second = text.splitlines()
    (folder / "products.csv").write_text(f"{header}\n{first}\n\n{second}\n", encoding="utf-8")
    cat = load_catalog(folder)
    assert len(cat) == 2 and cat.issues == []
    second_bad = second.split(",")
    second_bad[9] = "oops"
    (folder / "products.csv").write_text(f"{header}\n{first}\n\n{','.join(second_bad)}\n", encoding="utf-8")
    cat = load_catalog(folder)
    only_issue(cat, row=4, field="price", severity="error")


# --------------------------------------------------------------------------- columns


def test_missing_optional_column_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "nousage"
    cols = [c for c in CANONICAL_FIELDS if c != "usage"]
    write_csv(folder / "products.csv", rows(3), cols)
    cat = load_catalog(folder, check_images="none")
    issue = only_issue(cat, row=1, field="usage", severity="warning", product_id=None)
    assert "usage" in issue.reason
    assert len(cat) == 3 and all(p.usage == "" for p in cat)


def test_missing_price_and_image_columns_do_not_warn_per_row(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    write_csv(folder / "products.csv", rows(3), ["id", "title"])
    cat = load_catalog(folder)
    assert len(cat) == 3
    assert {i.field for i in cat.issues} == set(CANONICAL_FIELDS) - {"id", "title"}
    assert all(i.row == 1 and i.severity == "warning" for i in cat.issues)
    assert all(p.price is None and p.image is None for p in cat)


def test_missing_required_column_raises(tmp_path: Path) -> None:
    folder = tmp_path / "notitle"
    cols = [c for c in CANONICAL_FIELDS if c != "title"]
    write_csv(folder / "products.csv", rows(3), cols)
    with pytest.raises(CatalogError) as info:
        load_catalog(folder)
    msg = str(info.value)
    assert "'title'" in msg and "brand" in msg and "'id'" in msg  # names missing one and lists present ones


def test_column_mapping(tmp_path: Path) -> None:
    folder = tmp_path / "shop"
    shop_rows = [
        {"sku": "A-1", "name": "Nike Men Red Tshirts", "colour": "Red", "cost": "$1,024.00", "picture": "pics/a1.jpg"},
        {"sku": "A-2", "name": "Puma Women Blue Jeans", "colour": "Blue", "cost": "15", "picture": "pics/a2.jpg"},
    ]
    write_csv(folder / "products.csv", shop_rows, ["sku", "name", "colour", "cost", "picture"])
    write_image(folder / "pics/a1.jpg", "Red")
    write_image(folder / "pics/a2.jpg", "Blue")
    cmap = ColumnMap.from_mapping({"id": "sku", "title": "name", "color": "colour", "price": "cost", "image": "picture"})
    cat = load_catalog(folder, cmap)
    assert ids(cat) == ["A-1", "A-2"]
    a1 = cat.get("A-1")
    assert a1 is not None and a1.color == "Red" and a1.price == 1024.0
    assert a1.image == str(folder.resolve() / "pics/a1.jpg")
    missing = {"brand", "gender", "master_category", "sub_category", "article_type", "usage"}
    assert {i.field for i in cat.issues} == missing and all(i.row == 1 for i in cat.issues)
    # a plain mapping works too and gives the same result
    cat2 = load_catalog(folder, {"id": "sku", "title": "name", "color": "colour", "price": "cost", "image": "picture"})
    assert cat2.rows() == cat.rows()


def test_column_map_defaults_and_validation() -> None:
    assert ColumnMap().as_dict() == {f: f for f in CANONICAL_FIELDS}
    assert list(ColumnMap().as_dict()) == list(CANONICAL_FIELDS)
    cmap = ColumnMap.from_mapping({"title": "name"})
    assert cmap.title == "name" and cmap.id == "id"
    assert ColumnMap.from_mapping(None) == ColumnMap()
    with pytest.raises(ValueError):
        ColumnMap.from_mapping({"colour": "color"})


# --------------------------------------------------------------------------- whole-catalog errors


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "does-not-exist")


def test_missing_csv_raises(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="products.csv"):
        load_catalog(tmp_path / "empty")


def test_empty_csv_raises(tmp_path: Path) -> None:
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank/products.csv").write_text("", encoding="utf-8")
    with pytest.raises(CatalogError):
        load_catalog(tmp_path / "blank")


def test_all_rows_bad_raises(tmp_path: Path) -> None:
    data = rows(3)
    data[0]["id"] = ""
    data[1]["title"] = ""
    data[2]["price"] = "free"
    with pytest.raises(CatalogError) as info:
        load_catalog(make_catalog(tmp_path, data))
    assert [(i.row, i.field) for i in info.value.issues] == [(2, "id"), (3, "title"), (4, "price")]


def test_header_only_raises(tmp_path: Path) -> None:
    folder = tmp_path / "hdr"
    write_csv(folder / "products.csv", [])
    with pytest.raises(CatalogError, match="no usable rows"):
        load_catalog(folder)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        load_catalog(".", check_images="maybe")


# --------------------------------------------------------------------------- encodings


def test_latin1_file_falls_back_with_warning(tmp_path: Path) -> None:
    data = rows(3)
    data[1]["title"] = "Café Crème Men Beige Kurtas"
    data[1]["brand"] = "Crème"
    folder = tmp_path / "latin"
    write_csv(folder / "products.csv", data, encoding="latin-1")
    cat = load_catalog(folder, check_images="none")
    issue = only_issue(cat, row=0, field="row", severity="warning", product_id=None)
    assert "latin-1" in issue.reason
    assert len(cat) == 3
    assert cat.get("1002").title == "Café Crème Men Beige Kurtas"  # type: ignore[union-attr]


def test_utf8_bom_header(tmp_path: Path) -> None:
    folder = tmp_path / "bom"
    write_csv(folder / "products.csv", rows(2), encoding="utf-8-sig")
    cat = load_catalog(folder, check_images="none")
    assert cat.issues == [] and ids(cat) == ["1001", "1002"]


# --------------------------------------------------------------------------- catalog API


def test_checksum_stable_and_sensitive(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path / "a", rows(8))
    first = load_catalog(folder).checksum()
    assert first == load_catalog(folder).checksum()
    assert len(first) == 64 and int(first, 16) >= 0
    # same content elsewhere (different absolute path and folder name) -> same checksum
    other = make_catalog(tmp_path / "b", rows(8), name="copy")
    assert load_catalog(other).checksum() == first
    # a price change changes it
    data = rows(8)
    data[3]["price"] = 99.0
    changed = make_catalog(tmp_path / "c", data)
    assert load_catalog(changed).checksum() != first
    # an image file change (size) changes it
    write_image(folder / "images/1001.jpg", "Red", (200, 200))
    assert load_catalog(folder).checksum() != first


def test_values(tmp_path: Path) -> None:
    cat = load_catalog(make_catalog(tmp_path))
    assert cat.values("gender") == ["Boys", "Girls", "Men", "Unisex", "Women"]
    types = cat.values("article_type")
    assert types == sorted(set(r["article_type"] for r in DEFAULT_ROWS))
    assert {"Tshirts", "Jeans", "Watches", "Sunglasses", "Flip Flops"} <= set(types)
    assert cat.values("usage") == ["Casual", "Ethnic", "Formal", "Sports"]
    with pytest.raises(ValueError):
        cat.values("title")


def test_product_dict_round_trip(tmp_path: Path) -> None:
    cat = load_catalog(make_catalog(tmp_path, rows(4)))
    for p in cat:
        d = p.to_dict()
        assert list(d) == list(CANONICAL_FIELDS)
        assert Product.from_dict(json.loads(json.dumps(d))) == p
    assert cat.rows() == [p.to_dict() for p in cat]
    bare = Product(id="x", title="Thing")
    assert Product.from_dict(bare.to_dict()) == bare
    assert Product.from_dict({"id": "x", "title": "Thing"}) == bare
    assert bare.attributes() == {}
    full = cat.products[0]
    assert set(full.attributes()) == set(ATTRIBUTE_FIELDS)


def test_max_rows(tmp_path: Path) -> None:
    cat = load_catalog(make_catalog(tmp_path), max_rows=5)
    assert ids(cat) == [r["id"] for r in DEFAULT_ROWS[:5]]


def test_issue_str_without_id() -> None:
    issue = CatalogIssue(row=4, product_id=None, field="id", reason="id is empty", severity="error")
    assert str(issue) == "line 4: id: id is empty [row dropped]"


# --------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_real_fashion_catalog_loads() -> None:
    if not (REAL_CATALOG / "products.csv").is_file():
        pytest.skip(f"real catalog not present at {REAL_CATALOG}")
    cat = load_catalog(REAL_CATALOG)
    assert cat.name == "fashion-10k"
    assert len(cat) == 9572
    assert [str(i) for i in cat.issues if i.severity == "error"] == []
    assert all(p.image is not None for p in cat)
    assert len(cat.checksum()) == 64


def test_make_catalog_without_images(tmp_path: Path) -> None:
    folder = make_catalog(tmp_path, rows(3), with_images=False)
    assert not (folder / "images").exists()
    cat = load_catalog(folder)
    assert len(cat) == 3 and all(i.field == "image" for i in cat.issues)
    shutil.rmtree(folder)
