"""Documents over HTTP: list, upload (multipart), delete; each change is a background job to poll.

``POST /api/v1/documents`` takes one or more ``files`` parts. Each passes the page's checks
(``bot.serve.uploads.upload_problem``: type, ``max_upload_mb``, not empty, no zip bomb) before anything is written
to the docs folder; if one fails, the request is refused whole (nothing is ingested) with the reasons. Then
the files go through ``Library.add_files``, the page's own path (same loaders, same incremental ingest, the
index swapped atomically, an unreadable file dropped), in a job: ``202`` with the job, ``GET
/api/v1/jobs/{id}`` until ``done`` or ``failed``. ``DELETE /api/v1/documents/{id}`` is a job the same way.
Changes need a token with write rights.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from bot.answer import DocumentInfo, DocumentLibrary
from bot.errors import UserInputError
from bot.serve.api.auth import Access, Reader, Writer
from bot.serve.api.errors import ApiError
from bot.serve.api.jobs import Job, Jobs, Outcome, Progress
from bot.serve.library import safe_filename
from bot.serve.uploads import UPLOAD_SUFFIXES, upload_problem
from bot.settings import Settings

STATUS_OF_PROBLEM = {"type": 415, "size": 413, "empty": 400, "corrupt": 400}
MULTIPART_OVERHEAD = 64 * 1024


Files = Annotated[list[UploadFile], File(description="The files to add (repeat the field for several).")]


class DocumentList(BaseModel):
    documents: list[DocumentInfo]


def upload_limit(settings: Settings) -> int:
    """The largest upload request: ``max_upload_files`` files of ``max_upload_mb``, plus the multipart framing."""
    return int(settings.max_upload_files * settings.max_upload_mb * 1024 * 1024) + MULTIPART_OVERHEAD


def _spool(upload: UploadFile, target: Path) -> None:
    with target.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)


def build_documents_router(library: DocumentLibrary, settings: Settings, access: Access,
                           jobs: Jobs | None = None) -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["documents"])
    jobs = jobs or Jobs()
    most = settings.max_upload_files
    spool_root = Path(settings.data_dir) / "api-uploads"

    def accepted(job: Job | None) -> JSONResponse:
        if job is None:
            raise ApiError(503, f"{jobs.max_pending} document jobs are already waiting; retry later.",
                           code="jobs_busy", retry_after=30)
        return JSONResponse(job.model_dump(), status_code=202, headers={"Location": f"/api/v1/jobs/{job.id}"})

    @router.get("/documents", response_model=DocumentList, summary="The indexed documents")
    async def documents(caller: Reader) -> dict[str, Any]:
        found = await asyncio.to_thread(library.documents)
        return {"documents": [d.model_dump() for d in found]}

    @router.post("/documents", status_code=202, response_model=Job, max_body_size=upload_limit(settings),
                 form_limits={"max_files": most, "max_fields": 16},
                 summary=f"Add documents ({' '.join(UPLOAD_SUFFIXES)}): ingested in a background job",
                 description=f"Multipart form, field `files` (repeat it for several): at most {most} files of at "
                             f"most {settings.max_upload_mb:g} MB each (max_upload_files, max_upload_mb).")
    async def upload(files: Files, caller: Writer) -> JSONResponse:
        access.limit(caller)
        if not files or len(files) > most:
            raise ApiError(400, f"Send between 1 and {most} files (max_upload_files).", param="files")
        spool_root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="upload-", dir=spool_root))
        try:
            names = [safe_filename(f.filename or "") for f in files]
            if len(set(names)) != len(names):
                raise ApiError(400, "Two files have the same name; send each file once.", param="files")
            paths = [folder / name for name in names]
            for upload_file, path in zip(files, paths, strict=True):
                await asyncio.to_thread(_spool, upload_file, path)
            problems = [p for p in (upload_problem(path, path.name, settings.max_upload_mb) for path in paths) if p]
        except UserInputError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(400, f"{exc} Give every file a name.", param="files") from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if problems:
            shutil.rmtree(folder, ignore_errors=True)
            raise ApiError(STATUS_OF_PROBLEM[problems[0].kind], "Nothing was added: " + " ".join(
                p.message for p in problems), param="files", code=f"upload_{problems[0].kind}")

        def work(progress: Progress) -> Outcome:
            result = library.add_files(paths, progress)
            return Outcome(added=result.added, failed=result.failed)

        return accepted(jobs.submit("add", names, work, lambda: shutil.rmtree(folder, ignore_errors=True)))

    @router.delete("/documents/{doc_id:path}", status_code=202, response_model=Job,
                   summary="Remove a document from the index (a background job)")
    async def delete(doc_id: str, caller: Writer) -> JSONResponse:
        access.limit(caller)
        known = {d.doc_id for d in await asyncio.to_thread(library.documents)}
        if doc_id not in known:
            raise ApiError(404, f"No document with id '{doc_id}'; GET /api/v1/documents lists them.",
                           param="doc_id", code="document_not_found")

        def work(progress: Progress) -> Outcome:
            progress(0.1, "removing")
            if library.remove(doc_id):
                return Outcome(removed=[doc_id])
            return Outcome(failed={doc_id: "it was already removed"})

        return accepted(jobs.submit("remove", [doc_id], work))

    @router.get("/jobs/{job_id}", response_model=Job, summary="A document job's progress and outcome")
    async def job(job_id: str, caller: Reader) -> dict[str, Any]:
        found = jobs.get(job_id)
        if found is None:
            raise ApiError(404, f"No job with id '{job_id}' (jobs are kept for the last {jobs.keep} changes).",
                           param="job_id", code="job_not_found")
        return found.model_dump()

    return router
