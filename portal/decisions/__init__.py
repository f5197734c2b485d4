"""Shared decision-making: what matters to the patient, how they want to decide, decisions."""
