"""Policy enquiry assistant: answers questions about policy texts with cited passages.

The data path reads from the folder layout: load → chunk → store (embed + keyword) →
indexing (versions) → retrieve → answer → api / cli.
"""

__version__ = "0.1.0"
