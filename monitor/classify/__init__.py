"""Classify stage: embed items, score relevance and risk with the active model, flag; train and evaluate models."""
