"""Shared decision-making: what matters to the patient, and decisions on the plan."""
