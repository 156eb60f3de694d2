"""The language model: one small contract, an in-process llama.cpp backend, a server backend and a queue.

Takes in chat messages (rendered from the prompt files); gives out streamed tokens and token probabilities.
Read ``local`` (the contract and ``build_chat_model``) first, then ``model_queue`` and ``prompts``.
"""
