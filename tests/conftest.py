"""Shared fixtures: a tiny catalog on disk, its index built with fake encoders, a search engine."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from retrieval.settings import Settings  # noqa: E402
from tests.fakes import FakeImageEncoder, FakeTextEncoder  # noqa: E402
from tests.fixtures import DEFAULT_ROWS, make_catalog  # noqa: E402

SHARED = ROOT.parent / "shared"
REAL_CATALOG = SHARED / "catalog" / "fashion-10k"


@pytest.fixture
def tiny_catalog(tmp_path: Path) -> Path:
    return make_catalog(tmp_path, DEFAULT_ROWS)


@pytest.fixture
def tiny_settings(tmp_path: Path, tiny_catalog: Path) -> Settings:
    return Settings(catalog_dir=tiny_catalog, index_dir=tmp_path / "index",
                    text_model="fake-text", image_model="fake-image")


@pytest.fixture
def encoders():
    return FakeTextEncoder(), FakeImageEncoder()


@pytest.fixture
def tiny_index(tiny_settings: Settings, encoders):
    from retrieval.product_index import ProductIndex, build_index

    build_index(tiny_settings, progress=False, text_encoder=encoders[0], image_encoder=encoders[1])
    return ProductIndex.load(tiny_settings.resolved_index_dir(), tiny_settings)


@pytest.fixture
def engine(tiny_index, encoders):
    from retrieval.search import SearchEngine

    return SearchEngine(tiny_index, encoders[0], encoders[1])
