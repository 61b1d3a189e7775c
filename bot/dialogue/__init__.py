"""Dialogue logic shared by the actions: state across turns, clarifying questions, cards.

Pure Python over the retrieval core; the Rasa actions (bot/actions/) stay thin around it.
"""
