"""Product details and photos, and the shoppers' uploaded photos."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

from bot.gateway.catalog import image_path, product_json
from bot.gateway.deps import State, error
from bot.gateway.uploads import MEDIA_TYPES

router = APIRouter(prefix="/api", tags=["products"])
_CACHE = {"Cache-Control": "public, max-age=86400"}


@router.get("/products/{product_id}", response_model=None)
async def get_product(product_id: str, state: State) -> JSONResponse:
    """A product's fields: id, title, brand, gender, article_type, color, usage, price, image_url."""
    product = state.products.get(product_id)
    if product is None:
        return error(404, f"no product with id {product_id!r}")
    return JSONResponse(product_json(product))


@router.get("/products/{product_id}/image", response_model=None)
async def get_product_image(product_id: str, state: State) -> FileResponse | JSONResponse:
    """The catalog photo of a product (path from the product record only, kept inside the catalog)."""
    product = state.products.get(product_id)
    path = image_path(product, state.settings.catalog_dir) if product is not None else None
    if path is None:
        return error(404, "no photo for this product")
    return FileResponse(path, headers=_CACHE)


@router.get("/uploads/{sha}", response_model=None)
async def get_upload(sha: str, state: State) -> FileResponse | JSONResponse:
    """A photo a shopper uploaded, by the sha256 of its bytes."""
    path = state.uploads.find(sha)
    if path is None:
        return error(404, "no such photo")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]], headers=_CACHE)
