"""The ChatML chat template, given to a tokenizer that has none (and to the tiny test model).

If the tokenizer lacks the ChatML tokens they are plain text, which a model trained on another
format will not follow well, but every turn still renders.
"""

from __future__ import annotations

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
# The same, for tokenizers that start every text with BOS (Gemma): a template is rendered with
# add_special_tokens=False, so BOS must be in it or the model reads a text without its start.
CHATML_TEMPLATE_BOS = "{{- bos_token -}}" + CHATML_TEMPLATE
