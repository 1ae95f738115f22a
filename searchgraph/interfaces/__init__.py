"""Stage 8, the interfaces: where people meet the pipeline.

``cli`` (the ``searchgraph`` command: parsing, output, exit codes), ``console`` and ``console_trace``
(rich renderables: tables and trees of an analysis, plans, findings, a recorded search), ``docsite``
(``searchgraph docs``: a static HTML site), ``sphinx`` (the Sphinx extension), ``notebook`` (Jupyter's
``_repr_svg_``). They call the stages and print or write what those return; no analysis of their own.
Nothing imports this package, except the display hooks of an Analysis and a SearchTrace, lazily.
"""
