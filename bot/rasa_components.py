"""Custom Rasa NLU component: the catalog's constraint parser as Rasa's entity extractor.

Runs inside the Rasa process (``.venv-rasa``, Python 3.10). It imports only the pure-Python
parts of ``nlu`` (vocabulary, constraints, references), so a typed search and the same words in
the chat are understood by one parser. The vocabulary is read at training time from the file
named in ``config.yml`` (written by ``python -m bot data``) and stored inside the trained
Rasa model, so a model always carries the vocabulary it was trained with.

Entities: ``article_type``, ``color``, ``gender``, ``brand``, ``usage``, ``sub_category``,
``master_category`` (role ``excluded`` when negated; value = the catalog's canonical value),
``price`` (role ``max``/``min``/``range``/``around``) and ``ordinal`` (a shown result: 1, 2, ...,
-1 for "the last one").

``CatalogIntentGuard`` (after the classifiers) makes a message that names a kind, colour or brand
a ``search`` when the classifier gave it an answer with no request of its own (deny, affirm,
thanks): see ``nlu.entities.intent_with_entities``.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.constraints import ConstraintParser
from nlu.entities import intent_with_entities, message_entities
from nlu.vocabulary import Vocabulary

log = logging.getLogger(__name__)

VOCAB_FILE = "vocabulary.json"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class CatalogEntityExtractor(GraphComponent, EntityExtractorMixin):
    """Finds the catalog's values, prices, exclusions and result positions in a message."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # env SHOP_RASA_VOCABULARY wins over the config (set by `python -m bot data`)
        return {"vocabulary": "var/rasa/vocabulary.json"}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 vocab: Optional[Vocabulary] = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._vocab = vocab
        self._parser = ConstraintParser(vocab) if vocab is not None else None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CatalogEntityExtractor":
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        path = Path(os.environ.get("SHOP_RASA_VOCABULARY") or self._config["vocabulary"])
        if not path.exists():
            raise FileNotFoundError(f"{path}: no catalog vocabulary; run `python -m bot data` first")
        self._vocab = Vocabulary.load(path)
        self._parser = ConstraintParser(self._vocab)
        with self._model_storage.write_to(self._resource) as folder:
            (Path(folder) / VOCAB_FILE).write_text(json.dumps(self._vocab.to_json(), ensure_ascii=False))
        return self._resource

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "CatalogEntityExtractor":
        try:
            with model_storage.read_from(resource) as folder:
                vocab = Vocabulary.from_json(json.loads((Path(folder) / VOCAB_FILE).read_text()))
        except (ValueError, FileNotFoundError, OSError) as e:
            log.warning("catalog vocabulary missing from the model (%s): no entities will be extracted", e)
            vocab = None
        return cls(config, model_storage, resource, vocab)

    def process(self, messages: List[Message]) -> List[Message]:
        if self._parser is None:
            return messages
        for message in messages:
            text = message.get(TEXT) or ""
            if not text or text.startswith("/"):
                continue
            found = self.add_extractor_name(message_entities(self._parser, text))
            message.set(ENTITIES, message.get(ENTITIES, []) + found, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CatalogIntentGuard(GraphComponent):
    """After DIET and the fallback: "only nike" is a search, whatever its letters resemble."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "CatalogIntentGuard":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            intent = message.get(INTENT) or {}
            name = intent.get("name")
            guarded = intent_with_entities(name, message.get(ENTITIES) or [])
            if guarded == name:
                continue
            # the classifier's confidence is kept: the words, not the classifier, chose the new label
            confidence = float(intent.get("confidence") or 0.0)
            log.debug("intent %s -> %s: the message names catalog values", name, guarded)
            message.set(INTENT, {"name": guarded, "confidence": confidence}, add_to_output=True)
            ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if r.get("name") != guarded]
            message.set(INTENT_RANKING_KEY, [{"name": guarded, "confidence": confidence}] + ranking,
                        add_to_output=True)
        return messages
