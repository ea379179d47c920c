"""lash: a runtime for durable LLM agents."""
