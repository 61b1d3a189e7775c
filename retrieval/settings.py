"""Settings for the retrieval core, from the environment (prefix ``SHOP_``) or arguments."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CATALOG = REPO_ROOT.parent / "shared" / "catalog" / "fashion-10k"


def check_photo_zoom(zoom: float | None) -> float | None:
    """None (no zoomed view) or the share of a photo its zoomed view keeps, in [0.5, 1)."""
    if zoom is not None and not 0.5 <= zoom < 1.0:
        raise ValueError(f"photo_zoom: the share of the photo a zoomed view keeps, in [0.5, 1), or 0 (off); not {zoom}")
    return zoom


class Settings(BaseSettings):
    """Where the catalog and the index are, and which models and faiss index to use."""

    model_config = SettingsConfigDict(env_prefix="SHOP_", extra="ignore")

    catalog_dir: Path = Field(DEFAULT_CATALOG, description="catalog folder: products.csv + images")
    catalog_columns: dict[str, str] = Field(default_factory=dict,
                                            description="canonical field -> CSV column, JSON in the env")
    catalog_csv: str = "products.csv"
    index_dir: Path | None = Field(None, description="default: var/index/<catalog folder name>")
    synonyms_file: Path | None = None
    text_model: str = "all-MiniLM-L6-v2"
    image_model: str = "efficientnet-lite0"
    faiss_factory: str = "Flat"
    faiss_params: str = ""  # e.g. "efSearch=64" or "nprobe=16"
    check_images: str = "open"
    fusion: str = Field("decision", description="feature | model | decision | attention (decision measured best, bench/results/fusion.md)")
    photo_zoom: float = Field(0.88, ge=0.0, lt=1.0, description="a shopper's photo is also read zoomed to its middle "
                              "this share (with the mirror images); 0: only the photo and its mirror (about half "
                              "the encoding time, photo nDCG@10 0.621 instead of 0.632 on held-out thumbnails)")
    batch_size: int = 32
    # Threads torch uses for one query in the search process. One is faster on a 2-core machine
    # shared with other services (a second thread waits on the scheduler); builds use torch's default.
    torch_threads: int = 1

    @field_validator("photo_zoom")
    @classmethod
    def _zoom(cls, value: float) -> float:
        return check_photo_zoom(value or None) or 0.0

    def resolved_index_dir(self) -> Path:
        if self.index_dir is not None:
            return Path(self.index_dir)
        return REPO_ROOT / "var" / "index" / Path(self.catalog_dir).resolve().name
