"""Evaluation of trained controllers (`launch.py eval`)."""
