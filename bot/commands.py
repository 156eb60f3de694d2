"""The ``policybot`` command handlers, one per sub-command: ``COMMANDS[name](args, settings) -> exit code``.

The parser and ``main`` are in ``bot.cli``. ``--json`` output goes to stdout alone; progress bars and logs go to
stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.errors import IndexMissingError, UserInputError
from bot.settings import Settings

_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _terminal_safe(text: str) -> str:
    """Text from documents or the model without control characters, so it cannot drive the terminal."""
    return _TERMINAL_CONTROL.sub("", text)


def _print_json(data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)  # escapes C0 controls; C1 (e.g. CSI \x9b) too:
    sys.stdout.write(re.sub(r"[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ingest.build import ingest

    report = ingest(settings, rebuild=args.rebuild)
    for name, reason in report.failed.items():
        print(f"warning: {name}: {reason}", file=sys.stderr)
    print(f"ingested: {report.summary()}", file=sys.stderr)
    if args.json:
        _print_json({"documents": report.documents, "chunks": report.chunks, "added": report.added,
                     "skipped": report.skipped, "removed": report.removed, "failed": report.failed,
                     "seconds": round(report.seconds, 3), "generation": report.generation})
    return 1 if report.failed else 0


def _scope(doc_ids: list[str]) -> Any:
    from bot.answer import Scope

    return Scope(doc_ids=tuple(doc_ids)) if doc_ids else None


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ingest.embeddings import build_embeddings
    from bot.ingest.index import Index
    from bot.retrieve.glossary import Glossary
    from bot.retrieve.hybrid import Retriever

    if not args.question.strip():
        raise UserInputError("The question is empty.")
    emb = build_embeddings(settings.embedding_batch, settings.embedding_backend)
    retriever = Retriever(Index.open(settings, emb), emb, settings,
                          Glossary.load(settings.glossary_path))
    results = retriever.search(args.question, k=args.k, scope=_scope(args.doc))
    rows = [{"doc_id": p.doc_id, "title": p.chunk.title, "text": p.text, "start": p.chunk.start, "end": p.chunk.end,
             "score": round(p.score, 6), "paragraph": p.chunk.paragraph, "vector_rank": p.vector_rank,
             "keyword_rank": p.keyword_rank} for p in results]
    if args.json:
        _print_json({"results": rows})
        return 0
    for i, p in enumerate(results, 1):
        print(f"{i}. {p.doc_id} [{p.chunk.start}:{p.chunk.end}] score={p.score:.4f}")
        print(f"   {p.text[:300]}")
    if not rows:
        print("No passages found.")
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.answer import Final, Token
    from bot.reader.pipeline import build_pipeline

    pipeline = build_pipeline(settings)
    answer = None
    streaming = not args.json and sys.stdout.isatty()
    for event in pipeline.stream(args.question, None, _scope(args.doc)):
        if isinstance(event, Token) and streaming:
            print(_terminal_safe(event.text), end="", flush=True, file=sys.stderr)
        elif isinstance(event, Final):
            answer = event.answer
    assert answer is not None
    if args.json:
        _print_json(answer.to_json_dict())
        return 0
    if streaming:
        print("\n---", file=sys.stderr)
    note = f"{answer.note} " if answer.note else ""
    print(_terminal_safe(f"[{answer.status}] {note}{answer.text}"))
    for c in answer.citations:
        print(_terminal_safe(f"  [{c.n}] {c.title} ({c.doc_id}, chars {c.start}-{c.end}): {c.text}"))
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ingest.build import ingest
    from bot.serve.app import serve

    report = ingest(settings)  # incremental: indexes docs/ the first time, a no-op when nothing changed
    for name, reason in report.failed.items():
        print(f"warning: {name}: {reason}", file=sys.stderr)
    print(f"index: {report.summary()}", file=sys.stderr)
    serve(settings)
    return 0


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    _print_json(settings.redacted())
    return 0


def cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ingest.index import Manifest, current_generation

    root = Path(settings.index_dir)
    gen = current_generation(root)
    if gen is None:
        raise IndexMissingError(f"No index in {root}/. Fix: run `policybot ingest`.")
    manifest = Manifest.from_json((root / gen / "manifest.json").read_text(encoding="utf-8"))
    rows = [{"doc_id": r.doc_id, "title": r.title, "path": r.path, "chunks": len(r.chunk_ids),
             "indexed_at": r.indexed_at} for r in manifest.documents.values()]
    if args.json:
        _print_json({"documents": rows})
    else:
        for r in rows:
            print(f"{r['doc_id']}\t{r['chunks']} chunks\t{r['indexed_at']}\t{r['title']}")
    return 0


def cmd_feedback(args: argparse.Namespace, settings: Settings) -> int:
    from bot.serve.feedback import FeedbackStore

    cases = FeedbackStore(settings.data_dir).export_cases(args.cases)
    print(f"wrote {len(cases)} cases to {args.cases}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluate.cli import eval_command

    return int(eval_command(args, settings))


def cmd_faithfulness(args: argparse.Namespace, settings: Settings) -> int:
    from bot.evaluate.cli import faithfulness_command

    return int(faithfulness_command(args, settings))


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    from bot.reader.calibrate import calibrate_command

    return int(calibrate_command(args, settings))


def cmd_model(args: argparse.Namespace, settings: Settings) -> int:
    from bot.llm import catalog as model_catalog

    if args.action == "list":
        for name, entry in model_catalog.CATALOG.items():
            path = model_catalog.installed_path(name)
            print(f"{name:<22} {entry.description}; {'installed: ' + str(path) if path else 'not installed'}")
        return 0
    bar = tqdm(total=model_catalog.lookup(args.name).size, unit="B", unit_scale=True, desc=args.name, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.update(done - bar.n)

    path = model_catalog.install(args.name, progress)
    bar.close()
    print(f"{args.name}: {path} (sha256 verified)")
    print(f"Use it: policybot ask \"...\" --model {args.name}   or   POLICYBOT_MODEL_PATH={path} policybot serve")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.api_streams:
        from bot.bench.api import api_streams_command

        return int(api_streams_command(args, settings))
    if args.embeddings:
        from bot.bench.embeddings import embeddings_command

        return embeddings_command(args, settings)
    if args.reliability:
        from bot.bench.reliability import reliability_command

        return int(reliability_command(args, settings))
    from bot.bench.run import bench_command

    return int(bench_command(args, settings))


Handler = Callable[[argparse.Namespace, Settings], int]
"""A sub-command: the parsed flags and the effective settings in, the exit code out."""

COMMANDS: dict[str, Handler] = {
    "ingest": cmd_ingest, "search": cmd_search, "ask": cmd_ask, "serve": cmd_serve, "config": cmd_config,
    "docs": cmd_docs, "feedback": cmd_feedback, "eval": cmd_eval, "bench": cmd_bench,
    "faithfulness": cmd_faithfulness, "model": cmd_model, "calibrate": cmd_calibrate,
}
