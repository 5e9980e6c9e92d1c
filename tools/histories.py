"""`vetflow histories record`: keep the histories of a release for the replay gate.

Lists the workflows a query matches on a running Temporal, fetches each history and
writes it to ``<out>/<release>/<WorkflowType>/<scenario>__<workflow_id>.json`` (the
layout ``tests/replay/test_replay.py`` replays). The scenario is the case's
``VetflowStatus`` search attribute, made safe for a file name, or ``case``. A workflow
already recorded for that release is skipped: files are never overwritten.

Histories are written with their payloads decrypted (the replay gate in the repository
has no key), so record only from a demo or test installation, never from real cases.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from models.contracts import SA_STATUS
from models.payload_codec import data_converter, decode_history
from models.settings import load_settings

DEFAULT_OUT = Path("tests/replay/histories")
STATUS_KEY = SearchAttributeKey.for_keyword(SA_STATUS)
# Names used as one path component: no separators, no leading dot.
_SAFE_NAME = re.compile(r"^[0-9A-Za-z_][0-9A-Za-z_.+-]*$")

histories_app = typer.Typer(
    help="Recorded workflow histories (the replay gate of a release)",
    no_args_is_help=True,
)


def default_query(task_queue: str) -> str:
    """Completed and running workflows of vetflow's task queue."""
    return (
        '(ExecutionStatus = "Completed" OR ExecutionStatus = "Running")'
        f' AND TaskQueue = "{task_queue}"'
    )


def scenario_name(status: str | None) -> str:
    """``VetflowStatus`` as a file-name part: ASCII letters, digits, ``-`` and single
    ``_`` (``__`` separates the scenario from the workflow id); ``case`` when empty."""
    text = re.sub(r"[^0-9A-Za-z-]+", "_", status or "").strip("_-")
    return text or "case"


def recorded_ids(folder: Path) -> set[str]:
    """Workflow ids already recorded in a ``<release>/<Workflow>`` folder."""
    return {p.stem.split("__", 1)[1] for p in folder.glob("*__*.json")}


async def record_histories(
    client: Client, *, release: str, out: Path, query: str
) -> list[Path]:
    """Write the history of every matching workflow not yet recorded for ``release``;
    return the files written."""
    written: list[Path] = []
    async for execution in client.list_workflows(query):
        wf_type, wf_id = execution.workflow_type, execution.id
        if not (_SAFE_NAME.match(wf_type) and _SAFE_NAME.match(wf_id)):
            typer.echo(f"skipped {wf_type} {wf_id!r}: not usable as a file name")
            continue
        folder = out / release / wf_type
        if wf_id in recorded_ids(folder):
            continue
        status = execution.typed_search_attributes.get(STATUS_KEY)
        path = folder / f"{scenario_name(status)}__{wf_id}.json"
        handle = client.get_workflow_handle(wf_id, run_id=execution.run_id)
        history = await decode_history(
            await handle.fetch_history(), client.data_converter.payload_codec
        )
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite
            f.write(history.to_json())
        written.append(path)
    return written


@histories_app.command()
def record(
    release: Annotated[
        str, typer.Option(help="Release the histories belong to, e.g. 0.2.0")
    ],
    out: Annotated[
        Path, typer.Option(help="Folder holding one folder per release")
    ] = DEFAULT_OUT,
    query: Annotated[
        str | None,
        typer.Option(
            help="Visibility query (default: completed and running workflows of the task queue)"
        ),
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Temporal host:port (default: settings)")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Temporal namespace (default: settings)")
    ] = None,
) -> None:
    """Fetch the histories of matching workflows into <out>/<release>/<Workflow>/."""
    if not _SAFE_NAME.match(release):
        raise typer.BadParameter(
            f"not a release name: {release!r}", param_hint="--release"
        )
    settings = load_settings()

    async def main() -> list[Path]:
        client = await Client.connect(
            address or settings.temporal_address,
            namespace=namespace or settings.temporal_namespace,
            data_converter=data_converter(settings),
        )
        return await record_histories(
            client,
            release=release,
            out=out,
            query=query or default_query(settings.task_queue),
        )

    written = asyncio.run(main())
    for path in written:
        typer.echo(f"  {path}")
    typer.echo(f"wrote {len(written)} histories to {out / release}")
