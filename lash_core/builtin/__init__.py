"""Built-in plugins of lash-core; each registers through the ``lash`` entry point group like any other plugin."""
