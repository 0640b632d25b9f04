"""Answer: extractive answers from retrieved passages, evidence checks, conversations."""
