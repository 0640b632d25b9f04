"""Training the project's own reading models (issue 20: the cross-encoder reranker).

    python -m training all --out assistant/models/reranker     # prepare, fit, export: one command

One module a step, each usable alone: `data` builds listwise groups (a question, its positive
passage first, hard negatives after) from public reading-comprehension data, the development sets
with negatives from the retrieval, and a deployment's review log; `fit` trains a cross-encoder on
them with nothing but torch and transformers (so it also runs on a bare accelerator machine);
`export` writes the int8 ONNX file the server loads (assistant/rerank/cross_encoder.py) and its
model card. Evaluation is bench's (bench/rerank.py), shared, not copied.
"""
