#!/usr/bin/env python
"""Minimal A2A echo agent (a2a-sdk 1.3, A2A protocol 1.0) over JSON-RPC.

Binds 127.0.0.1 on an ephemeral port, prints one JSON line
    {"url": "http://127.0.0.1:PORT/", "card_url": "http://127.0.0.1:PORT/.well-known/agent-card.json"}
to stdout, then serves until killed.

Any text message gets "Echo: <text>".
Defaults: the agent replies with a direct agent Message (simplest); v0.3
compat layer OFF (SDK default).
Optional env knobs:
    A2A_TASK_MODE=1   -> reply with a completed Task (artifact + status message)
    A2A_V03_COMPAT=1  -> enable_v0_3_compat=True on the JSON-RPC route and add
                         a second supportedInterfaces entry with
                         protocolVersion "0.3" (this makes the served card
                         also carry the legacy top-level url/preferredTransport
                         fields)
    A2A_STREAMING=1   -> capabilities.streaming=true, so SendStreamingMessage
                         (SSE) is served instead of refused with -32004
"""

import os

import port0

from starlette.applications import Starlette

from a2a.helpers.proto_helpers import new_text_message, new_text_part
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events.event_queue_v2 import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    Task,
    TaskState,
    TaskStatus,
)


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0", "false", "False")


TASK_MODE = _flag("A2A_TASK_MODE")
V03_COMPAT = _flag("A2A_V03_COMPAT")
STREAMING = _flag("A2A_STREAMING")


class EchoExecutor(AgentExecutor):
    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = context.get_user_input()
        reply = f"Echo: {text}"
        if not TASK_MODE:
            # Simplest: a single direct agent Message; SendMessage returns {"message": {...}}.
            await event_queue.enqueue_event(
                new_text_message(reply, context_id=context.context_id)
            )
            return
        # Task mode: create the task, attach an artifact, complete it.
        await event_queue.enqueue_event(
            Task(
                id=context.task_id,
                context_id=context.context_id,
                status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED),
                history=[context.message] if context.message else [],
            )
        )
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.add_artifact([new_text_part(reply)], name="echo")
        await updater.complete(
            new_text_message(reply, context_id=context.context_id, task_id=context.task_id)
        )

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        updater = TaskUpdater(event_queue, context.task_id, context.context_id)
        await updater.cancel()


def build_card(base_url: str) -> AgentCard:
    interfaces = [AgentInterface(url=base_url, protocol_binding="JSONRPC", protocol_version="1.0")]
    if V03_COMPAT:
        interfaces.append(AgentInterface(url=base_url, protocol_binding="JSONRPC", protocol_version="0.3"))
    return AgentCard(
        name="Echo Agent",
        description="Echoes back any text message it receives.",
        version="1.0.0",
        provider=AgentProvider(organization="interop-test", url="https://example.invalid"),
        supported_interfaces=interfaces,
        capabilities=AgentCapabilities(streaming=STREAMING, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="echo",
                name="Echo",
                description="Replies with 'Echo: <your text>'.",
                tags=["echo", "test"],
                examples=["hello", "ping"],
            )
        ],
    )


def build(port: int):
    base_url = f"http://127.0.0.1:{port}/"
    card = build_card(base_url)
    handler = DefaultRequestHandler(
        agent_executor=EchoExecutor(),
        task_store=InMemoryTaskStore(),
        agent_card=card,
    )
    routes = [
        *create_agent_card_routes(card),  # GET /.well-known/agent-card.json
        *create_jsonrpc_routes(handler, rpc_url="/", enable_v0_3_compat=V03_COMPAT),  # POST /
    ]
    info = {"url": base_url, "card_url": f"{base_url}.well-known/agent-card.json"}
    return Starlette(routes=routes), info


if __name__ == "__main__":
    port0.run(build)
