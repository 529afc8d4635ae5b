"""lesson_batch: turn a Markdown curriculum into generated lessons through the OpenAI Batch API.

Data flows one way: curriculum -> requests -> batches -> results -> lesson files.
The three top-level scripts are thin entry points over the modules of this package.
"""
