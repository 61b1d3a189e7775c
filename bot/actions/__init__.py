"""The shop's Rasa actions, one module per concept. Each takes the shop's Services (search
engine, photo store) from outside; bot/action_server.py builds them once and registers them."""
from bot.actions.compare import ActionCompare
from bot.actions.product_info import ActionProductInfo
from bot.actions.more_like import ActionMoreLike
from bot.actions.search import ActionSearch
from bot.actions.start_over import ActionStartOver

ACTIONS = (ActionSearch, ActionProductInfo, ActionMoreLike, ActionCompare, ActionStartOver)

__all__ = ["ACTIONS", "ActionCompare", "ActionMoreLike", "ActionProductInfo", "ActionSearch", "ActionStartOver"]
