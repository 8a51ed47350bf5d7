"""The built-in nlpsuite plugins, one package per component kind.

Each package registers its components and benchmarks through the same hooks
(`register_components`, `register_benchmarks`) a third-party plugin uses; nothing in `suite/`
imports them except the `DEFAULT_PLUGINS` list in `suite/plugins.py`.
"""
